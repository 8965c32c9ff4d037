import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { suggest } from './least-privilege.ts'

const roles = [
  { name: 'owner', permissions: ['a', 'b', 'c', 'd', 'e'] },
  { name: 'admin', permissions: ['a', 'b', 'c', 'd'] },
  { name: 'auditor', permissions: ['a', 'b'] },
  { name: 'viewer', permissions: ['a'] },
  { name: 'reader-x', permissions: ['a', 'x'] },
]

describe('least-privilege suggestion (P2.3)', () => {
  it('suggests the smallest role that still covers what was used', () => {
    assert.deepEqual(suggest(new Set(['a', 'b', 'c', 'd']), new Set(['a', 'b']), roles), {
      suggestedRole: 'auditor',
      suggestRemoval: false,
      unused: ['c', 'd'],
    })
    assert.equal(suggest(new Set(['a', 'b', 'c', 'd']), new Set(['a']), roles).suggestedRole, 'viewer')
  })

  it('suggests nothing narrower when everything granted is used, and never owner', () => {
    assert.equal(suggest(new Set(['a', 'b']), new Set(['a', 'b']), roles).suggestedRole, null)
    assert.equal(suggest(new Set(['a', 'b', 'c', 'd', 'e', 'f']), new Set(['e']), roles).suggestedRole, null)
  })

  it('suggests removal when nothing was used', () => {
    assert.deepEqual(suggest(new Set(['a', 'b']), new Set(), roles), {
      suggestedRole: null,
      suggestRemoval: true,
      unused: ['a', 'b'],
    })
  })
})
