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

function signed(signer: Signer, event: StoredChainEvent, time = '2026-01-01T00:00:00.000Z'): SignedCheckpoint {
  const checkpoint = { v: 1 as const, org, seq: event.event.seq, hash: event.hash, time }
  return {
    checkpoint,
    keyId: signer.keyId,
    signature: signer.sign(checkpointMessage(checkpoint)).toString('base64url'),
  }
}

// A key replaced after a loss (`custodian keys replace-audit-key`) goes on verifying the
// checkpoints it signed before its retirement — up to the highest seq it had signed, the
// bound its successor signed — and none above, whatever their date says (a retired key may
// be in other hands, and whoever holds it chooses the date).
describe('retired audit keys', () => {
  const old = ed25519FromSeed(randomBytes(32))
  const current = ed25519FromSeed(randomBytes(32))
  const events = chainOf(4)
  const at = (seq: number) => events[seq - 1] as StoredChainEvent
  const keys = new Map([
    [current.keyId, current.publicKey],
    [old.keyId, old.publicKey],
  ])

  it('verify the checkpoints the retired key signed up to its bound, beside the new key’s', async () => {
    const result = await verifyChain(
      org,
      events,
      [signed(old, at(2)), signed(old, at(3)), signed(current, at(4))],
      keys,
      {
        requireCheckpoint: 'always',
        retiredUpTo: new Map([[old.keyId, 3]]),
      },
    )
    assert.deepEqual(result.problems, [])
    assert.equal(result.ok, true)
  })

  it('refuse a checkpoint the retired key signed above its bound, even dated before its retirement', async () => {
    const result = await verifyChain(
      org,
      events,
      [signed(old, at(2)), signed(old, at(4), '2020-01-01T00:00:00.000Z')],
      keys,
      {
        requireCheckpoint: 'always',
        retiredUpTo: new Map([[old.keyId, 3]]),
      },
    )
    assert.equal(result.ok, false)
    assert.deepEqual(
      result.problems.map((p) => [p.kind, p.seq]),
      [['checkpoint_signature', 4]],
    )
    assert.match(
      result.problems[0]?.message ?? '',
      new RegExp(`signed by key ${old.keyId}, retired after signing this org's checkpoints up to seq 3`),
    )
  })

  it('refuse every checkpoint of a retired key that signed none of this org’s (bound 0)', async () => {
    const result = await verifyChain(org, events, [signed(old, at(1))], keys, {
      retiredUpTo: new Map([[old.keyId, 0]]),
    })
    assert.deepEqual(
      result.problems.map((p) => p.kind),
      ['checkpoint_signature'],
    )
  })
})
