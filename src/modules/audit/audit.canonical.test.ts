import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { canonicalJson, canonicalJsonOfParsed, chainedEventJson, type ChainedEvent } from './audit.format.ts'

/**
 * The verifier writes a stored event's JCS directly (`chainedEventJson`) instead of through
 * the generic canonicalizer: it must give exactly the bytes the sequencer hashed
 * (`canonicalJson`), and fail where it fails — or a verification would pass a modified
 * event or fail an intact one.
 */

/** A deterministic generator (mulberry32): the same cases on every run. */
function random(seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Characters where JSON escaping and JCS key order are easy to get wrong: controls, quote and
// backslash, U+2028, non-ASCII, and astral characters (whose UTF-16 units sort below U+E000–U+FFFF).
const ALPHABET = [
  'a',
  'Z',
  '0',
  ' ',
  '"',
  '\\',
  '\n',
  '\u0000',
  '\u001f',
  '\u007f',
  'é',
  '\u2028',
  '\uffff',
  '\ue000',
  '😀',
  '\u{10000}',
  '中',
]
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  0.1,
  1e21,
  1e-7,
  123456789012345680000,
  5e-324,
  Number.MAX_SAFE_INTEGER,
  2 ** 53 + 2,
  -3.75,
]

function text(next: () => number): string {
  let out = ''
  const length = Math.floor(next() * 6)
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(next() * ALPHABET.length)] ?? ''
  return out
}

function json(next: () => number, depth: number): unknown {
  const pick = Math.floor(next() * (depth > 3 ? 5 : 7))
  if (pick === 0) return null
  if (pick === 1) return next() < 0.5
  if (pick === 2) return NUMBERS[Math.floor(next() * NUMBERS.length)]
  if (pick === 3 || pick === 4) return text(next)
  if (pick === 5) return Array.from({ length: Math.floor(next() * 4) }, () => json(next, depth + 1))
  const object: Record<string, unknown> = {}
  for (let i = Math.floor(next() * 5); i > 0; i--) object[text(next)] = json(next, depth + 1)
  return object
}

function event(next: () => number): ChainedEvent {
  const maybe = () => (next() < 0.3 ? null : text(next))
  const details = json(next, 1)
  return {
    v: 1,
    org: randomUUID(),
    seq: Math.floor(next() * 2 ** 40) + 1,
    id: randomUUID(),
    time: new Date(Math.floor(next() * 4e12)).toISOString(),
    actor: { type: text(next), id: maybe() },
    action: text(next),
    target: next() < 0.3 ? null : { type: text(next), id: maybe() },
    outcome: 'success',
    ip: maybe(),
    userAgent: maybe(),
    requestId: maybe(),
    // A stored jsonb is read back through JSON.parse.
    details: JSON.parse(JSON.stringify({ note: details, [text(next)]: json(next, 1) })) as Record<string, unknown>,
    ...(next() < 0.5 ? { origin: 'application' as const } : {}),
  }
}

describe('the JCS of a stored event, written directly', () => {
  it('is byte for byte what the generic canonicalizer gives, over 20,000 generated events', () => {
    const next = random(21)
    for (let i = 0; i < 20_000; i++) {
      const e = event(next)
      assert.equal(chainedEventJson(e), canonicalJson(e), JSON.stringify(e))
    }
  })

  it('hands any other shape to the generic canonicalizer whole (an extra key is hashed, a missing one is not invented)', () => {
    const e = event(random(7))
    const extra = { ...e, injected: 'x' } as ChainedEvent
    assert.equal(chainedEventJson(extra), canonicalJson(extra))
    assert.match(chainedEventJson(extra), /"injected":"x"/)
    const { ip: _ip, ...missing } = e
    assert.equal(chainedEventJson(missing as ChainedEvent), canonicalJson(missing))
    const actorExtra = { ...e, actor: { ...e.actor, role: 'admin' } }
    assert.equal(chainedEventJson(actorExtra), canonicalJson(actorExtra))
    const numberAction = { ...e, action: 7 } as unknown as ChainedEvent
    assert.equal(chainedEventJson(numberAction), canonicalJson(numberAction))
    const withDate = { ...e, details: { at: new Date(0), list: [1, undefined] } } as unknown as ChainedEvent
    assert.equal(chainedEventJson(withDate), canonicalJson(withDate))
  })

  it('refuses what the generic canonicalizer refuses: a lone surrogate (value or key), NaN, an infinity', () => {
    const e = event(random(9))
    for (const details of [{ a: '\ud800' }, { '\udc00': 1 }, { a: [Number.NaN] }, { a: Number.POSITIVE_INFINITY }]) {
      const bad = { ...e, details }
      assert.throws(() => canonicalJson(bad))
      assert.throws(() => chainedEventJson(bad))
      assert.throws(() => canonicalJsonOfParsed(details))
    }
    assert.throws(() => chainedEventJson({ ...e, action: 'x\udfff' }))
  })
})
