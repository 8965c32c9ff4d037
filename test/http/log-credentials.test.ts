import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { before, it } from 'node:test'
import { createLogger, redactUrl, scrubCredentials } from '../../src/logger.ts'
import { forEachEngine } from '../helpers/db.ts'
import { createCustomerOrg, PASSWORD, useTestApp, type Org } from '../helpers/app.ts'
import { enrolTotp } from '../helpers/totp.ts'

/**
 * No credential reaches the log (issue 11 K5): a run that sends every kind of Custodian
 * credential, and an SSO callback's code and state, in every wrong place a client might put
 * them — query strings, paths, unknown headers, the wrong authorization scheme, Referer,
 * cookies under other names, body fields of routes that do not take them, broken JSON — and
 * then reads the whole log, at trace level, for any of it.
 */
forEachEngine('the log holds no credential (issue 11 K5)', (engine) => {
  const lines: string[] = []
  const capture = new Writable({
    write(chunk, _encoding, done) {
      lines.push(chunk.toString())
      done()
    },
  })
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, createLogger({ logLevel: 'trace' }, capture))
  let provider: Org
  let customer: Org
  const credentials: string[] = []

  before(async () => {
    const app = t()
    const { token: bootstrapToken } = await app.app.services.auth.issueBootstrapToken()
    const booted = await app.request({
      method: 'POST',
      url: '/v1/bootstrap',
      body: { token: bootstrapToken, orgName: 'Provider', email: 'owner@provider.test', password: PASSWORD },
    })
    assert.equal(booted.status, 201, booted.text)
    provider = { orgId: booted.body.orgId, ownerToken: booted.body.apiToken, ownerId: booted.body.userId }
    await enrolTotp((method, url, body) => app.request({ method, url, token: provider.ownerToken, body }))
    customer = await createCustomerOrg(app, provider, 'Customer', 'owner@customer.test')
    const invitation = await app.request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/invitations`,
      token: customer.ownerToken,
      body: { email: 'later@customer.test', role: 'viewer' },
    })
    assert.equal(invitation.status, 201, invitation.text)
    const login = await app.request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@customer.test', password: PASSWORD },
    })
    assert.equal(login.status, 200, login.text)
    const session = /=(cst_ses_[^;]+)/.exec(String(login.headers['set-cookie']))?.[1]
    assert.ok(session !== undefined, 'a session cookie')
    const report = await app.request({
      method: 'POST',
      url: '/v1/vulnerability-reports',
      body: { title: 't', location: 'l', impact: 'i', steps: 's' },
    })
    assert.equal(report.status, 201, report.text)
    credentials.push(
      bootstrapToken,
      provider.ownerToken,
      customer.ownerToken,
      invitation.body.token,
      session,
      report.body.statusToken,
      'cst_share_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_AbCdEfGh',
    )
    for (const credential of credentials) assert.match(credential, /^cst_[a-z]+_/)
  })

  it('redacts every query value but paging and filters, and any cst_ credential wherever it stands', () => {
    assert.equal(
      redactUrl('/v1/sso/callback?code=abc&state=def&limit=5'),
      '/v1/sso/callback?code=[redacted]&state=[redacted]&limit=5',
    )
    assert.equal(redactUrl('/v1/me'), '/v1/me')
    assert.equal(
      scrubCredentials('{"msg":"bad cst_api_0123_abc-_x and cst%5Fses%5Fzzz"}'),
      '{"msg":"bad cst_api_[redacted] and cst_ses_[redacted]"}',
    )
  })

  it('writes no credential, SSO code or SSO state to the log, wherever a client sends them', async () => {
    const app = t()
    const code = 'sso-code-7f3a9c51e2b84d06'
    const state = 'sso-state-4be1d0c9a7f25e38'
    const secrets = [...credentials, code, state]
    lines.length = 0
    for (const credential of credentials) {
      const encoded = encodeURIComponent(credential).replaceAll('_', '%5F')
      const sends: Parameters<typeof app.request>[0][] = [
        { method: 'GET', url: `/v1/me?access_token=${credential}` },
        { method: 'GET', url: `/v1/me?token=${encoded}&limit=${credential}&cursor=${credential}` },
        {
          method: 'GET',
          url: `/v1/orgs/${customer.orgId}/audit/events?cursor=${credential}`,
          token: customer.ownerToken,
        },
        { method: 'GET', url: `/v1/${credential}` },
        { method: 'GET', url: `/v1/orgs/${credential}/secrets`, token: customer.ownerToken },
        { method: 'GET', url: `/v1/tokens/${encoded}` },
        { method: 'GET', url: `/v1/orgs/${customer.orgId}/secrets/${credential}%FF`, token: customer.ownerToken },
        {
          method: 'GET',
          url: '/v1/me',
          headers: {
            'x-api-key': credential,
            'x-auth-token': credential,
            referer: `https://app.test/cb?token=${credential}`,
          },
        },
        { method: 'GET', url: '/v1/me', headers: { authorization: `Token ${credential}` } },
        { method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${credential}` } },
        {
          method: 'GET',
          url: '/v1/me',
          headers: {
            cookie: `session=${credential}; custodian_session=${credential}; __Host-custodian_session=${credential}`,
          },
        },
        { method: 'POST', url: '/v1/login', body: { email: 'owner@customer.test', password: credential } },
        { method: 'POST', url: '/v1/login', body: { email: credential, password: credential } },
        { method: 'POST', url: '/v1/invitations/accept', body: { token: credential, password: PASSWORD } },
        {
          method: 'POST',
          url: '/v1/bootstrap',
          body: { token: credential, orgName: 'X', email: 'x@x.test', password: PASSWORD },
        },
        { method: 'POST', url: '/v1/logout', token: customer.ownerToken, body: { token: credential } },
        { method: 'POST', url: `/v1/orgs/${customer.orgId}/members/${credential}/suspend`, token: customer.ownerToken },
        { method: 'POST', url: '/v1/vault/unseal', body: { share: credential } },
        { method: 'POST', url: '/v1/login', payload: `{"email": "${credential}", "password": ` },
        { method: 'GET', url: `/v1/sso/callback?code=${credential}&state=${credential}` },
      ]
      for (const send of sends) {
        const response = await app.request(send)
        assert.ok(response.status < 500, `${send.method} ${send.url}: ${response.status} ${response.text}`)
      }
    }
    await app.request({ method: 'GET', url: `/v1/sso/callback?code=${code}&state=${state}` })
    await app.request({
      method: 'GET',
      url: `/v1/sso/callback?error=access_denied&state=${state}&error_description=${code}`,
    })
    await app.request({ method: 'GET', url: `/v1/sso/${customer.orgId}/start?loginHint=${code}` })

    // Refusals are audited; what they record must hold none of it either.
    const audit = (await app.db.kysely.selectFrom('audit_events').selectAll().execute())
      .map((row) => JSON.stringify(row))
      .join('\n')
    for (const secret of secrets)
      assert.ok(!audit.includes(secret.replace(/^cst_[a-z]+_/, '').slice(-20)), 'a credential in the audit log')

    const log = lines.join('')
    for (const secret of secrets) {
      // The part after the kind is the credential; even a fragment of it must not appear.
      const tail = secret.replace(/^cst_[a-z]+_/, '')
      for (const form of new Set([secret, tail, tail.slice(-20), encodeURIComponent(secret)])) {
        const at = log.indexOf(form)
        assert.equal(at, -1, `found ${form.slice(0, 12)}… in the log: ${log.slice(Math.max(0, at - 200), at + 80)}`)
      }
    }
    assert.ok(
      log.includes('"route":"/v1/me"') && log.includes('access_token=[redacted]'),
      'requests are logged, by route, with the query redacted',
    )
  })
})
