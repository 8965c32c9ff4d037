import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { before, it } from 'node:test'
import { createLogger } from '../../src/logger.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attacks on the consent recipients' public and secret-bearing edges (P7.7), and on webhook
 * secret rotation (P7.5): an anonymous client that forges its address to escape the
 * acknowledgement's per-address limit, or puts a token in the URL; a reader of another org
 * or one without consent:read asking for a subject's reference; and the log and the audit
 * trail, read whole at trace level, for a subject id, its reference or a rotated secret.
 */
forEachEngine('attack: consent recipients’ public and secret edges (P7.7, P7.5)', (engine) => {
  const lines: string[] = []
  const capture = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  const t = useTestApp(
    engine,
    { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_CONSENT_ACK_RATE_LIMIT: '5' },
    createLogger({ logLevel: 'trace' }, capture),
  )
  let acme: Org
  let other: Org
  let recipientId = ''
  const as = (method: string, tail: string, body?: unknown, org: Org = acme, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}${tail}`, token, body })
  const everyAuditRow = async () => JSON.stringify(await t().db.kysely.selectFrom('audit_events').selectAll().execute())

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.recipient-edges.test`)
    other = await createCustomerOrg(t(), provider, 'Other', `owner@${engine}.other-edges.test`)
    const made = await as('POST', '/consent/recipients', {
      name: 'Mailer Ltd',
      url: 'https://127.0.0.1:9/mailer',
      deadlineHours: 48,
    })
    assert.equal(made.status, 201, made.text)
    recipientId = made.body.id
  })

  it('attack: a forged X-Forwarded-For does not buy a fresh acknowledgement budget (P7.7)', async () => {
    const remoteAddress = '127.0.0.9'
    const ack = (forwarded?: string) =>
      t().request({
        method: 'POST',
        url: '/v1/consent/acknowledgements',
        body: { token: `cst_cpa_${'0'.repeat(32)}_${'D'.repeat(43)}` },
        remoteAddress,
        headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded },
      })
    const answers = []
    for (let i = 0; i < 5; i++) answers.push((await ack(`203.0.113.${i + 1}`)).status)
    assert.deepEqual(answers, [404, 404, 404, 404, 404])
    const forged = await ack('198.51.100.77')
    assert.equal(forged.status, 429, `a forged client address escaped the limit: ${forged.text}`)
    assert.equal((await ack()).status, 429)
  })

  it('attack: an acknowledgement token in the URL is refused and never logged (P7.7)', async () => {
    const token = `cst_cpa_${'1'.repeat(32)}_${'E'.repeat(43)}`
    const inQuery = await t().request({
      method: 'POST',
      url: `/v1/consent/acknowledgements?token=${token}`,
      body: {},
      remoteAddress: '127.0.0.10',
    })
    assert.equal(inQuery.status, 400, inQuery.text)
    assert.ok(!lines.join('').includes(token.slice(-43)), 'the token is not in the log')
    assert.ok(!(await everyAuditRow()).includes(token.slice(-43)), 'nor in the audit trail')
  })

  it('attack: a subject’s reference for another org’s recipient, or without consent:read (P7.7)', async () => {
    const subject = `subject-secret-${engine}-4242`
    const foreign = await as(
      'POST',
      `/consent/recipients/${recipientId}/subject-references`,
      { subjectId: subject },
      other,
    )
    assert.equal(foreign.status, 404, foreign.text)
    assert.equal(foreign.body.code, 'NOT_FOUND')
    const role = await as('POST', '/roles', { name: 'org-reader', permissions: ['org:read'] })
    assert.equal(role.status, 201, role.text)
    const reader = await principalWithRole(t(), acme, 'org-reader')
    const forbidden = await as(
      'POST',
      `/consent/recipients/${recipientId}/subject-references`,
      { subjectId: subject },
      acme,
      reader.token,
    )
    assert.equal(forbidden.status, 403, forbidden.text)
    // In the query string rather than the body: refused, not answered.
    const inQuery = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/consent/recipients/${recipientId}/subject-references?subjectId=${subject}`,
      token: acme.ownerToken,
      body: {},
    })
    assert.equal(inQuery.status, 400, inQuery.text)
    const answered = await as('POST', `/consent/recipients/${recipientId}/subject-references`, { subjectId: subject })
    assert.equal(answered.status, 200, answered.text)
    const reference = answered.body.reference as string
    assert.ok(reference.length > 0 && !reference.includes(subject))
    const audit = await everyAuditRow()
    assert.ok(!audit.includes(subject), 'no audit row (refusals included) carries the subject')
    assert.ok(!audit.includes(reference), 'nor its reference')
    const log = lines.join('')
    assert.ok(!log.includes('subject-secret-'), 'the log holds no subject id')
    assert.ok(!log.includes(reference), 'nor its reference')
  })

  it('attack: a rotated signing secret reaches neither the log nor the audit trail; permission and org hold (P7.5, P7.7)', async () => {
    const hook = await as('POST', '/webhooks', {
      name: 'pager',
      url: 'https://127.0.0.1:9/pager',
      events: ['notifications'],
    })
    assert.equal(hook.status, 201, hook.text)
    const role = await as('POST', '/roles', { name: 'consent-reader', permissions: ['consent:read', 'webhooks:read'] })
    assert.equal(role.status, 201, role.text)
    const reader = await principalWithRole(t(), acme, 'consent-reader')
    for (const tail of [
      `/webhooks/${hook.body.id}/secret/rotate`,
      `/consent/recipients/${recipientId}/secret/rotate`,
    ]) {
      const foreign = await as('POST', tail, undefined, other)
      assert.equal(foreign.status, 404, `${tail}: ${foreign.text}`)
      const forbidden = await as('POST', tail, undefined, acme, reader.token)
      assert.equal(forbidden.status, 403, `${tail}: ${forbidden.text}`)
    }
    const secrets: string[] = [hook.body.secret]
    for (const tail of [
      `/webhooks/${hook.body.id}/secret/rotate`,
      `/consent/recipients/${recipientId}/secret/rotate`,
    ]) {
      const rotated = await as('POST', tail)
      assert.equal(rotated.status, 200, rotated.text)
      assert.match(String(rotated.headers['cache-control']), /no-store/)
      secrets.push(rotated.body.secret)
    }
    const log = lines.join('')
    const audit = await everyAuditRow()
    for (const secret of secrets) {
      const core = secret.replace(/^whsec_/, '')
      assert.ok(!log.includes(core), 'no signing secret in the log')
      assert.ok(!audit.includes(core), 'no signing secret in the audit trail')
    }
    // Shown once: neither the webhook nor the recipient answers it again.
    const hookAgain = await as('GET', '/webhooks')
    const recipientAgain = await as('GET', `/consent/recipients/${recipientId}`)
    for (const secret of secrets.slice(1)) {
      assert.ok(!hookAgain.text.includes(secret) && !recipientAgain.text.includes(secret))
    }
  })
})
