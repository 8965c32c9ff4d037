import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../../errors.ts'
import {
  assertPathsWithin,
  derivedPaths,
  effectivePatterns,
  layersOf,
  MAX_PATTERNS,
  parsePatterns,
  pathAllowed,
  patternMatches,
  patternsBeyond,
} from './secret-paths.ts'

const code = (expected: string) => (e: unknown) => isAppError(e) && e.code === expected

describe('secret path patterns', () => {
  it('matches `*` everything, a prefix at any depth but not the prefix itself, an exact path only itself', () => {
    assert.ok(patternMatches('*', 'anything/at/all'))
    assert.ok(patternMatches('payments/*', 'payments/stripe'))
    assert.ok(patternMatches('payments/*', 'payments/stripe/api-key'))
    assert.ok(!patternMatches('payments/*', 'payments'))
    assert.ok(!patternMatches('payments/*', 'payments-eu/stripe'))
    assert.ok(!patternMatches('payments/*', 'Payments/stripe'), 'case-sensitive')
    assert.ok(patternMatches('payments/stripe/api-key', 'payments/stripe/api-key'))
    assert.ok(!patternMatches('payments/stripe/api-key', 'payments/stripe/api-key2'))
    // `_` and `%` are literal, not LIKE wildcards.
    assert.ok(!patternMatches('a_b/*', 'axb/c'))
  })

  it('allows a name only when every layer matches it; no layer is unrestricted', () => {
    assert.ok(pathAllowed([], 'x'))
    assert.ok(pathAllowed([['payments/*'], ['payments/stripe/*']], 'payments/stripe/key'))
    assert.ok(!pathAllowed([['payments/*'], ['payments/stripe/*']], 'payments/adyen/key'))
    assert.ok(!pathAllowed([['payments/*'], ['ops/*']], 'payments/x'))
  })

  it('refuses `..`, empty segments, inner `*`, too many and too long patterns, naming each (400)', () => {
    for (const bad of ['a/../b', 'a//b', '/a', 'a/', 'a/*/b', 'a*', '*/a', '.', 'a/./b', '', 'x'.repeat(131)]) {
      assert.throws(() => parsePatterns([bad], '/body/secretPaths'), code('VALIDATION_FAILED'), bad)
    }
    assert.throws(() => parsePatterns([], '/body/secretPaths'), code('VALIDATION_FAILED'))
    const many = Array.from({ length: MAX_PATTERNS + 1 }, (_, i) => `p${i}`)
    assert.throws(() => parsePatterns(many, '/body/secretPaths'), code('VALIDATION_FAILED'))
    try {
      parsePatterns(['ok/*', 'a//b'], '/body/secretPaths')
    } catch (error) {
      assert.ok(isAppError(error))
      assert.deepEqual(
        error.extras.errors?.map((e) => e.path),
        ['/body/secretPaths/1'],
      )
    }
    assert.deepEqual(parsePatterns(['b/*', 'a', 'b/*', '*'], '/x'), ['*', 'a', 'b/*'])
  })

  it('intersects layers into one list: nested prefixes keep the narrower, disjoint ones nothing', () => {
    assert.equal(effectivePatterns([]), null)
    assert.deepEqual(effectivePatterns([['payments/*'], ['payments/stripe/*', 'ops/*']]), ['payments/stripe/*'])
    assert.deepEqual(effectivePatterns([['*'], ['a/b']]), ['a/b'])
    assert.deepEqual(effectivePatterns([['a/*'], ['b/*']]), [])
    assert.deepEqual(effectivePatterns([['a/*', 'a/b/*', 'a/b/c']]), ['a/*'])
  })

  it('refuses to make a binding that reaches beyond its maker (403 EXCEEDS_OWN_PERMISSIONS naming the patterns)', () => {
    const caller = [['payments/*']]
    assert.deepEqual(patternsBeyond(caller, ['payments/stripe/*', 'payments/x']), [])
    assert.deepEqual(patternsBeyond(caller, ['payments/*', 'ops/*', '*']), ['*', 'ops/*'])
    assert.deepEqual(patternsBeyond(caller, null), ['*'])
    assert.deepEqual(patternsBeyond([], null), [])
    assert.throws(() => assertPathsWithin(caller, ['ops/*'], 'this token'), code('EXCEEDS_OWN_PERMISSIONS'))
    try {
      assertPathsWithin(caller, ['ops/*'], 'this token')
    } catch (error) {
      assert.ok(isAppError(error))
      assert.deepEqual(error.extras.secretPaths, ['ops/*'])
    }
    // Omitted: the fallback (the caller's own on creation), checked as well.
    assert.deepEqual(derivedPaths(caller, undefined, ['payments/*'], 'x', '/b'), ['payments/*'])
    assert.equal(derivedPaths([], undefined, null, 'x', '/b'), null)
    assert.throws(() => derivedPaths(caller, null, null, 'x', '/b'), code('EXCEEDS_OWN_PERMISSIONS'))
    assert.throws(() => derivedPaths(caller, undefined, null, 'x', '/b'), code('EXCEEDS_OWN_PERMISSIONS'))
  })

  it('takes layers from bindings, skipping the unrestricted (null) ones', () => {
    assert.deepEqual(layersOf(null, ['a/*'], undefined), [['a/*']])
    assert.deepEqual(layersOf(null, null), [])
  })
})
