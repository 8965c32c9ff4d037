import assert from 'node:assert/strict'
import type { ServerResponse } from 'node:http'
import { describe, it } from 'node:test'
import { Custodian, type UndeliverableEvent, type WireEvent } from '@custodian/client'
import { json, problem, startStandIn, type StandInRequest } from '../helpers/stand-in.ts'

/**
 * `audit.record` against a stand-in of the batch route of issue 14 §1, which another branch
 * is building (packages/client/src/audit-recorder.ts says what the SDK assumes of it): the
 * stand-in records each event once by its id, as the real route promises. When the route
 * lands, the same promises are to be checked against the running service.
 */
const ORG = '00000000-0000-4000-8000-000000000002'
const TOKEN = 'cst_tok_recorder_test'
const BATCH = `/v1/orgs/${ORG}/audit/events/batch`

type Answer = (events: WireEvent[], res: ServerResponse, index: number) => boolean

/** A stand-in that stores events by id; `answer` may answer instead (returns true when it did). */
async function batchRoute(answer: Answer = () => false) {
  const stored = new Map<string, WireEvent>()
  const stand = await startStandIn((req: StandInRequest, res, index) => {
    if (req.method !== 'POST' || req.path !== BATCH) {
      problem(res, 404, 'ROUTE_NOT_FOUND')
      return
    }
    const { events } = JSON.parse(req.body) as { events: WireEvent[] }
    if (answer(events, res, index)) return
    for (const event of events) stored.set(event.id, event)
    json(res, 201, { recorded: events.length })
  })
  return { ...stand, stored }
}

const event = (i: number) => ({
  action: 'invoice.export',
  actor: { id: `user-${i}`, type: 'user', name: `User ${i}` },
  targets: [{ type: 'invoice', id: `inv-${i}` }],
  metadata: { i },
})

describe('audit.record: batched, bounded, never a silent drop (against a stand-in of the §1 route)', () => {
  it('sends events in batches of batchSize; flush waits until they are acknowledged', async () => {
    const route = await batchRoute()
    const client = new Custodian({
      url: route.url,
      token: TOKEN,
      ca: route.ca,
      orgId: ORG,
      audit: { batchSize: 100, flushIntervalMs: 60_000 },
    })
    try {
      for (let i = 0; i < 250; i++) await client.audit.record(event(i))
      const result = await client.audit.flush()
      assert.deepEqual(result, { pending: 0, undeliverable: [] })
      assert.equal(route.stored.size, 250)
      assert.deepEqual(
        route.requests.map((r) => (JSON.parse(r.body) as { events: unknown[] }).events.length),
        [100, 100, 50],
      )
      const first = [...route.stored.values()][0]
      assert.ok(first !== undefined)
      assert.match(first.id, /^[0-9a-f-]{36}$/, 'an idempotency id is given to each event')
      assert.ok(!Number.isNaN(Date.parse(first.occurredAt)))
      assert.equal(client.audit.stats().sent, 250)
    } finally {
      await client.close()
      await route.close()
    }
  })

  it('sends a short batch after flushIntervalMs, without a flush', async () => {
    const route = await batchRoute()
    const client = new Custodian({
      url: route.url,
      token: TOKEN,
      ca: route.ca,
      orgId: ORG,
      audit: { flushIntervalMs: 50 },
    })
    try {
      await client.audit.record(event(1))
      for (let i = 0; i < 200 && route.stored.size === 0; i++) await new Promise((r) => setTimeout(r, 25))
      assert.equal(route.stored.size, 1)
    } finally {
      await client.close()
      await route.close()
    }
  })

  it('resends with the same ids after a 503 and after an answer that never came: each event is stored once', async () => {
    const route = await batchRoute((_events, res, index) => {
      if (index === 0) return (problem(res, 503, 'AUDIT_UNAVAILABLE'), true)
      if (index === 1) return (res.socket?.destroy(), true)
      return false
    })
    const client = new Custodian({
      url: route.url,
      token: TOKEN,
      ca: route.ca,
      orgId: ORG,
      retry: false,
      audit: { batchSize: 10, retryBaseMs: 10 },
    })
    try {
      for (let i = 0; i < 10; i++) await client.audit.record({ ...event(i), id: `evt-${i}` })
      const result = await client.audit.flush()
      assert.equal(result.pending, 0)
      assert.equal(route.requests.length, 3)
      const bodies = route.requests.map((r) => r.body)
      assert.equal(bodies[1], bodies[0], 'the same events, the same ids')
      assert.equal(bodies[2], bodies[0])
      assert.deepEqual([...route.stored.keys()].sort(), Array.from({ length: 10 }, (_, i) => `evt-${i}`).sort())
    } finally {
      await client.close()
      await route.close()
    }
  })

  it('hands refused events to onUndeliverable and sends the rest (named by pointer, or found by halving)', async () => {
    const route = await batchRoute((events, res) => {
      const bad = events.findIndex((e) => e.action === 'bad.action')
      if (bad < 0) return false
      // The first refusal names the event; later ones (after the split) name none.
      if (events.length === 6)
        problem(res, 400, 'VALIDATION_FAILED', { errors: [{ path: `/body/events/${bad}/action`, message: 'unknown' }] })
      else problem(res, 400, 'VALIDATION_FAILED')
      return true
    })
    const refused: UndeliverableEvent[] = []
    const client = new Custodian({
      url: route.url,
      token: TOKEN,
      ca: route.ca,
      orgId: ORG,
      audit: { batchSize: 6, onUndeliverable: (events) => refused.push(...events) },
    })
    try {
      for (let i = 0; i < 6; i++) await client.audit.record(i === 2 ? { ...event(i), action: 'bad.action' } : event(i))
      await client.audit.flush()
      assert.deepEqual(
        refused.map((r) => [r.event.actor.id, r.error.code]),
        [['user-2', 'VALIDATION_FAILED']],
      )
      assert.equal(route.stored.size, 5)
      // Two bad events in one batch: the first named, the other found by halving what is left.
      for (let i = 10; i < 16; i++)
        await client.audit.record(i % 3 === 0 ? { ...event(i), action: 'bad.action' } : event(i))
      await client.audit.flush()
      assert.deepEqual(refused.map((r) => r.event.actor.id).slice(1), ['user-12', 'user-15'])
      assert.equal(route.stored.size, 9)
    } finally {
      await client.close()
      await route.close()
    }
  })

  it('keeps refused events for flush() to return when no handler is given', async () => {
    const route = await batchRoute((events, res) =>
      events.some((e) => e.action === 'bad.action') ? (problem(res, 409, 'CONFLICT'), true) : false,
    )
    const client = new Custodian({ url: route.url, token: TOKEN, ca: route.ca, orgId: ORG })
    try {
      await client.audit.record({ ...event(1), action: 'bad.action' })
      await client.audit.record(event(2))
      const { undeliverable } = await client.audit.flush()
      assert.deepEqual(
        undeliverable.map((u) => [u.event.action, u.error.code]),
        [['bad.action', 'CONFLICT']],
      )
      assert.equal(route.stored.size, 1)
      assert.equal(client.audit.stats().undeliverable, 0, 'taken by the flush')
    } finally {
      await client.close()
      await route.close()
    }
  })

  it('holds at most maxBuffered events: record waits for room (backpressure), or throws with whenFull: throw', async () => {
    let open = false
    const route = await batchRoute((_events, res) => (open ? false : (problem(res, 503, 'SERVICE_UNAVAILABLE'), true)))
    const options = { url: route.url, token: TOKEN, ca: route.ca, orgId: ORG, retry: false as const }
    const waiting = new Custodian({
      ...options,
      audit: { batchSize: 5, maxBuffered: 5, retryBaseMs: 20, retryMaxMs: 50 },
    })
    const throwing = new Custodian({
      ...options,
      audit: { batchSize: 5, maxBuffered: 5, whenFull: 'throw', retryBaseMs: 20, retryMaxMs: 50 },
    })
    try {
      for (let i = 0; i < 5; i++) await waiting.audit.record(event(i))
      let sixth = false
      const recorded = waiting.audit.record(event(5)).then(() => (sixth = true))
      await new Promise((r) => setTimeout(r, 300))
      assert.equal(sixth, false, 'the sixth event waits while five are unsent')
      assert.equal(waiting.audit.stats().pending, 5)
      assert.equal(waiting.audit.stats().lastError?.code, 'SERVICE_UNAVAILABLE')

      for (let i = 0; i < 5; i++) await throwing.audit.record(event(i))
      await assert.rejects(throwing.audit.record(event(5)), { code: 'AUDIT_BUFFER_FULL' })

      open = true
      await recorded
      assert.equal(sixth, true)
      await waiting.audit.flush()
      await throwing.audit.flush()
      assert.equal(route.stored.size, 11)
    } finally {
      await waiting.close()
      await throwing.close()
      await route.close()
    }
  })

  it('close() answers every event it could not send, with why', async () => {
    const route = await batchRoute((_events, res) => (problem(res, 401, 'UNAUTHENTICATED'), true))
    const client = new Custodian({
      url: route.url,
      token: TOKEN,
      ca: route.ca,
      orgId: ORG,
      audit: { retryBaseMs: 20, retryMaxMs: 50 },
    })
    try {
      for (let i = 0; i < 3; i++) await client.audit.record(event(i))
      const { unsent } = await client.close({ timeoutMs: 300 })
      assert.deepEqual(
        unsent.map((u) => [u.event.actor.id, u.error.code]),
        [
          ['user-0', 'UNAUTHENTICATED'],
          ['user-1', 'UNAUTHENTICATED'],
          ['user-2', 'UNAUTHENTICATED'],
        ],
      )
      await assert.rejects(client.audit.record(event(4)), { code: 'CLIENT_CLOSED' })
    } finally {
      await route.close()
    }
  })

  it('keeps events waiting when a 400 is about the request, not its events (a service without the route)', async () => {
    // What the service answers today to a POST with a body on a route it does not have.
    const route = await batchRoute((_events, res) => {
      problem(res, 400, 'VALIDATION_FAILED', { errors: [{ path: '/body', message: 'must be empty' }] })
      return true
    })
    const refused: UndeliverableEvent[] = []
    const client = new Custodian({
      url: route.url,
      token: TOKEN,
      ca: route.ca,
      orgId: ORG,
      audit: { retryBaseMs: 20, retryMaxMs: 50, onUndeliverable: (events) => refused.push(...events) },
    })
    try {
      await client.audit.record(event(1))
      const flushed = await client.audit.flush({ timeoutMs: 300 })
      assert.equal(flushed.pending, 1)
      assert.deepEqual(refused, [])
      assert.equal(client.audit.stats().lastError?.code, 'VALIDATION_FAILED')
    } finally {
      const { unsent } = await client.close({ timeoutMs: 0 })
      assert.equal(unsent.length, 1)
      await route.close()
    }
  })
})
