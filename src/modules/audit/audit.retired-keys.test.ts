import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { ed25519FromSeed, type Signer } from '../../crypto/keys.ts'
import {
  type ChainedEvent,
  chainHash,
  checkpointMessage,
  GENESIS_HASH,
  type SignedCheckpoint,
  type StoredChainEvent,
  verifyChain,
} from './audit.format.ts'

const org = randomUUID()

/** A chain of `n` events of one org, hashed as the sequencer chains them. */
function chainOf(n: number): StoredChainEvent[] {
  const out: StoredChainEvent[] = []
  let prev: Buffer = GENESIS_HASH
  for (let seq = 1; seq <= n; seq++) {
    const event: ChainedEvent = {
      v: 1,
      org,
      seq,
      id: randomUUID(),
      time: new Date(Date.UTC(2026, 0, 1, 0, seq)).toISOString(),
      actor: { type: 'system', id: null },
      action: 'audit_key.test',
      target: null,
      outcome: 'success',
      ip: null,
      userAgent: null,
      requestId: null,
      details: { seq },
    }
    const hash = chainHash(prev, event)
    out.push({ event, prevHash: prev.toString('hex'), hash: hash.toString('hex') })
    prev = hash
  }
  return out
}

function signed(signer: Signer, event: StoredChainEvent, time: string): SignedCheckpoint {
  const checkpoint = { v: 1 as const, org, seq: event.event.seq, hash: event.hash, time }
  return {
    checkpoint,
    keyId: signer.keyId,
    signature: signer.sign(checkpointMessage(checkpoint)).toString('base64url'),
  }
}

// A key replaced after a loss (`custodian keys replace-audit-key`) goes on verifying what it
// signed before its retirement, never what it signs after (it may be in other hands).
describe('retired audit keys', () => {
  const old = ed25519FromSeed(randomBytes(32))
  const current = ed25519FromSeed(randomBytes(32))
  const events = chainOf(4)
  const retiredAt = '2026-06-01T00:00:00.000Z'
  const keys = new Map([
    [current.keyId, current.publicKey],
    [old.keyId, old.publicKey],
  ])

  it('verify a checkpoint the retired key signed before its retirement, beside the new key’s', async () => {
    const result = await verifyChain(
      org,
      events,
      [
        signed(old, events[1] as StoredChainEvent, '2026-05-31T23:59:59.000Z'),
        signed(old, events[2] as StoredChainEvent, retiredAt),
        signed(current, events[3] as StoredChainEvent, '2026-06-02T00:00:00.000Z'),
      ],
      keys,
      { requireCheckpoint: 'always', retiredAt: new Map([[old.keyId, retiredAt]]) },
    )
    assert.deepEqual(result.problems, [])
    assert.equal(result.ok, true)
  })

  it('refuse a checkpoint the retired key signed dated after its retirement, naming both times', async () => {
    const result = await verifyChain(
      org,
      events,
      [
        signed(old, events[1] as StoredChainEvent, '2026-05-01T00:00:00.000Z'),
        signed(old, events[3] as StoredChainEvent, '2026-06-01T00:00:00.001Z'),
      ],
      keys,
      { requireCheckpoint: 'always', retiredAt: new Map([[old.keyId, retiredAt]]) },
    )
    assert.equal(result.ok, false)
    assert.deepEqual(
      result.problems.map((p) => [p.kind, p.seq]),
      [['checkpoint_signature', 4]],
    )
    assert.match(
      result.problems[0]?.message ?? '',
      new RegExp(`signed by key ${old.keyId}, retired at ${retiredAt}, and dated 2026-06-01T00:00:00.001Z`),
    )
  })

  it('refuse a retired key’s checkpoint whose time does not parse', async () => {
    const result = await verifyChain(org, events, [signed(old, events[3] as StoredChainEvent, 'not a time')], keys, {
      retiredAt: new Map([[old.keyId, retiredAt]]),
    })
    assert.deepEqual(
      result.problems.map((p) => p.kind),
      ['checkpoint_signature'],
    )
  })
})
