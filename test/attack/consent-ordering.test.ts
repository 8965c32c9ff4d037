import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, testClock, useTestApp, type Org } from '../helpers/app.ts'

const HOUR = 3_600_000
const MINUTE = 60_000

/**
 * Attack on the consent check (P7.7): the state is the last event *received*, not the last
 * *collected*. A grant collected before a withdrawal but delivered after it (a retried queue,
 * an import) makes the check answer allowed for a subject who withdrew: fail-open.
 */
forEachEngine('attack: consent events delivered out of order (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let acme: Org
  let n = 0
  const as = (method: string, path: string, body?: unknown) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}/consent${path}`, token: acme.ownerToken, body })
  const at = (msAgo: number) => new Date(Date.now() - msAgo).toISOString()
  const event = async (subject: string, action: string, collectedAt: string, extra: Record<string, unknown> = {}) => {
    const body = { id: `att-${engine}-${++n}`, subject, purpose: 'newsletter', action, method: 'form', collectedAt }
    const recorded = await as('POST', '/events', { ...body, ...extra })
    assert.equal(recorded.status, 201, recorded.text)
  }
  const allowed = async (subject: string) => {
    const answered = await as('POST', '/check', { subject, purpose: 'newsletter' })
    assert.equal(answered.status, 200, answered.text)
    // One check answers its decision; a batch (`checks`) answers `decisions`.
    return answered.body.allowed
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const created = await as('POST', '/purposes', { key: 'newsletter', name: 'News', lawfulBasis: 'consent' })
    assert.equal(created.status, 201, created.text)
    const notice = await as('POST', '/notices', {
      language: 'en',
      text: 'We email you news.',
      purposes: ['newsletter'],
      materialChange: false,
    })
    assert.equal(notice.status, 201, notice.text)
  })

  it('a grant collected before a withdrawal, received after it, does not make the check allowed (P7.7)', async () => {
    // Minutes, not hours: the notice was published when the suite began, and a grant may not
    // predate its notice by more than the allowed clock skew (five minutes).
    await event('late-grant', 'grant', at(4 * MINUTE), { noticeVersion: 1 })
    await event('late-grant', 'withdraw', at(2 * MINUTE))
    assert.equal(await allowed('late-grant'), false)
    // The older grant arrives late (a retried delivery of an event collected 3 min ago).
    await event('late-grant', 'grant', at(3 * MINUTE), { noticeVersion: 1 })
    assert.equal(await allowed('late-grant'), false, 'the subject withdrew after this grant was collected')
  })

  it('a grant collected before its notice version was published is refused (P7.7)', async () => {
    const refused = await as('POST', '/events', {
      id: `att-${engine}-${++n}`,
      subject: 'before-notice',
      purpose: 'newsletter',
      action: 'grant',
      method: 'form',
      noticeVersion: 1,
      collectedAt: at(400 * 24 * HOUR),
    })
    assert.equal(refused.status, 400, 'the subject cannot have been shown a notice published a year later')
    assert.equal(await allowed('before-notice'), false)
  })
})
