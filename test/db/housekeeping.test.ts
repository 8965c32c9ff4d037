import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { HOUSEKEEPING_BATCH, KEEP_ENDED_MS } from '../../src/jobs/housekeeping.ts'
import { bootstrapProvider, createCustomerOrg, testClock, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

const ORIGIN = 'https://app.example'

/**
 * Ended short-lived links are deleted (src/jobs/housekeeping.ts): preference-page links
 * never opened once expired, opened ones when their page session ends, embedded-viewer
 * tokens 30 days after they expire. Live ones stay; their issuance stays in the audit log.
 */
forEachEngine('housekeeping: ended links are deleted, live ones kept', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let acme: Org
  const api = (method: string, path: string, body?: unknown) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}${path}`, token: acme.ownerToken, body })
  const countOf = async (
    table:
      | 'consent_page_links'
      | 'audit_viewer_tokens'
      | 'compliance_runs'
      | 'compliance_history'
      | 'compliance_status',
  ) =>
    Number(
      (
        await t()
          .db.kysely.selectFrom(table)
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  const mintLink = async (subject: string) => {
    const minted = await api('POST', '/consent/page-links', { subject, ttlSeconds: 60 })
    assert.equal(minted.status, 201, minted.text)
    return new URL(minted.body.url as string)
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  it('deletes preference-page links once unopened past expiry or once their session ends (P7.7)', async () => {
    await mintLink('never-opened')
    const opened = await mintLink('opened')
    const first = await t().request({ method: 'GET', url: `${opened.pathname}${opened.search}` })
    assert.equal(first.status, 303, first.text)
    assert.equal(await countOf('consent_page_links'), 2)

    // Both within their time: nothing goes.
    assert.deepEqual(await t().app.services.housekeeping.run(), {
      consent_page_links: 0,
      audit_viewer_tokens: 0,
      compliance_runs: 0,
      compliance_history: 0,
    })
    // Past the link's expiry: the unopened one goes, the opened one's session still runs.
    time.advance(61_000)
    assert.equal((await t().app.services.housekeeping.run()).consent_page_links, 1)
    assert.equal(await countOf('consent_page_links'), 1)
    // Past the page session (30 minutes): the opened one goes too, and its cookie opens nothing.
    time.advance(30 * 60_000)
    assert.equal((await t().app.services.housekeeping.run()).consent_page_links, 1)
    assert.equal(await countOf('consent_page_links'), 0)
    const gone = await t().request({ method: 'GET', url: `${opened.pathname}${opened.search}` })
    assert.equal(gone.status, 401, 'a deleted link opens nothing')
  })

  it('keeps an expired viewer token listed for 30 days, then deletes it; the audit log keeps its issuance', async () => {
    const issued = await api('POST', '/audit/viewer-tokens', { origin: ORIGIN, ttlSeconds: 60 })
    assert.equal(issued.status, 201, issued.text)
    time.advance(120_000)
    assert.equal((await t().app.services.housekeeping.run()).audit_viewer_tokens, 0, 'still listed after expiry')
    const listed = await api('GET', '/audit/viewer-tokens')
    assert.ok(
      (listed.body.tokens as { id: string }[]).some((tk) => tk.id === issued.body.id),
      listed.text,
    )
    time.advance(KEEP_ENDED_MS.audit_viewer_tokens)
    assert.equal((await t().app.services.housekeeping.run()).audit_viewer_tokens, 1)
    assert.equal(await countOf('audit_viewer_tokens'), 0)
    const events = await api('GET', '/audit/events?limit=500')
    assert.ok(
      (events.body.events as { action: string }[]).some((e) => e.action === 'audit.viewer_token.issue'),
      'the issuance stays in the audit log',
    )
  })

  it('P5.4: keeps compliance runs and verdict changes for the evidence window (400 days), then deletes them', async () => {
    const run = await api('POST', '/compliance/runs')
    assert.equal(run.status, 200, run.text)
    const rows = async () => ({
      runs: await countOf('compliance_runs'),
      history: await countOf('compliance_history'),
    })
    const kept = await rows()
    assert.ok(kept.runs >= 1 && kept.history >= 1, JSON.stringify(kept))
    time.advance(KEEP_ENDED_MS.compliance_runs - 60_000)
    const early = await t().app.services.housekeeping.run()
    assert.equal(early.compliance_runs + early.compliance_history, 0, 'within the window: nothing goes')
    assert.deepEqual(await rows(), kept)
    // The current verdicts are not history: they stay whatever their age.
    const status = await countOf('compliance_status')
    time.advance(120_000)
    const due = await t().app.services.housekeeping.run()
    assert.deepEqual([due.compliance_runs, due.compliance_history], [kept.runs, kept.history])
    assert.deepEqual(await rows(), { runs: 0, history: 0 })
    assert.equal(await countOf('compliance_status'), status)
  })

  it('deletes at most one batch per kind and pass; the next pass takes the rest', async () => {
    const stale = new Date(time.clock().getTime() - 60_000)
    const rows = Array.from({ length: HOUSEKEEPING_BATCH + 5 }, (_, i) => ({
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      org_id: acme.orgId,
      subject_ref: Buffer.alloc(32, 1),
      subject_sealed: Buffer.alloc(40, 2),
      link_hash: Buffer.alloc(32, i % 256),
      created_by_type: 'user',
      created_by_id: null,
      created_at: new Date(stale.getTime() - 60_000),
      expires_at: stale,
    }))
    await t().db.kysely.insertInto('consent_page_links').values(rows).execute()
    assert.equal((await t().app.services.housekeeping.run()).consent_page_links, HOUSEKEEPING_BATCH)
    assert.equal((await t().app.services.housekeeping.run()).consent_page_links, 5)
    assert.equal(await countOf('consent_page_links'), 0)
  })
})
