import assert from 'node:assert/strict'
import type { JsonBody } from '../helpers/json.ts'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  PASSWORD,
  useTestApp,
  type Org,
  type TestResponse,
} from '../helpers/app.ts'

/**
 * K6: email addresses are parsed, not split. Every field of /openapi.json that takes an
 * address refuses whatever is not one plain mailbox with 400 naming the field, and stores
 * the parsed form (domain in lower case). The SSO claim is covered end to end in sso.test.ts.
 */
const TRICKY = [
  'mallory@acme.test@evil.test',
  '"mallory@acme.test"@evil.test',
  'Mallory <mallory@acme.test>',
  'team: alice@acme.test, bob@acme.test;',
  'mallory(acme.test)@evil.test',
  'alice@acme.test, mallory@evil.test',
  'mallory@acme.test.',
  'mallory@[192.0.2.1]',
  'mallory@localhost',
  'mallory@acme.test\r\nBcc: x@evil.test',
]

interface EntryPoint {
  /** `METHOD /path field`, as found in /openapi.json. */
  field: string
  pointer: string
  send(email: string): Promise<TestResponse>
}

/** Every string with `format: email` in a schema, as a JSON pointer under /body. */
function emailFields(schema: unknown, pointer: string, out: string[]): void {
  if (schema === null || typeof schema !== 'object') return
  const node = schema as JsonBody
  if (node.type === 'string' && node.format === 'email') out.push(pointer)
  for (const [name, child] of Object.entries((node.properties ?? {}) as Record<string, unknown>))
    emailFields(child, `${pointer}/${name}`, out)
  if (node.items !== undefined) emailFields(node.items, `${pointer}/0`, out)
  for (const key of ['anyOf', 'oneOf', 'allOf'])
    for (const child of (node[key] ?? []) as unknown[]) emailFields(child, pointer, out)
}

forEachEngine('email addresses are parsed, not split (K6)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '10000', CUSTODIAN_REPORT_RATE_LIMIT: '10000' })
  let provider: Org
  let acme: Org
  let address = 0
  const from = () => `10.11.${engine === 'pglite' ? 1 : 2}.${++address}`

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
  })

  const report = (email: string) => ({
    title: 'XSS',
    location: '/console',
    impact: 'script runs',
    steps: '1. open',
    reporter: { email },
  })
  const ENTRY_POINTS: EntryPoint[] = [
    {
      field: 'POST /v1/bootstrap',
      pointer: '/body/email',
      send: (email) =>
        t().request({
          method: 'POST',
          url: '/v1/bootstrap',
          body: { token: 'cst_boot_x', orgName: 'X', email, password: PASSWORD },
          remoteAddress: from(),
        }),
    },
    {
      field: 'POST /v1/login',
      pointer: '/body/email',
      send: (email) =>
        t().request({ method: 'POST', url: '/v1/login', body: { email, password: PASSWORD }, remoteAddress: from() }),
    },
    {
      field: 'POST /v1/orgs',
      pointer: '/body/ownerEmail',
      send: (ownerEmail) =>
        t().request({
          method: 'POST',
          url: '/v1/orgs',
          token: provider.ownerToken,
          body: { name: 'Evil', ownerEmail },
        }),
    },
    {
      field: 'POST /v1/orgs/{orgId}/invitations',
      pointer: '/body/email',
      send: (email) =>
        t().request({
          method: 'POST',
          url: `/v1/orgs/${acme.orgId}/invitations`,
          token: acme.ownerToken,
          body: { email, role: 'member' },
        }),
    },
    {
      field: 'POST /v1/vulnerability-reports',
      pointer: '/body/reporter/email',
      send: (email) =>
        t().request({ method: 'POST', url: '/v1/vulnerability-reports', body: report(email), remoteAddress: from() }),
    },
    {
      field: 'POST /v1/orgs/{orgId}/privacy-requests',
      pointer: '/body/requester/email',
      send: (email) =>
        t().request({
          method: 'POST',
          url: `/v1/orgs/${acme.orgId}/privacy-requests`,
          token: acme.ownerToken,
          body: { kind: 'access', subjectId: 'customer-1', requester: { email } },
        }),
    },
  ]

  it('knows every field of /openapi.json that takes an email address', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    const found: string[] = []
    for (const [path, ops] of Object.entries(doc.paths as Record<string, JsonBody>)) {
      for (const [method, op] of Object.entries(ops)) {
        const schema = op?.requestBody?.content?.['application/json']?.schema
        const pointers: string[] = []
        emailFields(schema, '/body', pointers)
        for (const pointer of pointers) found.push(`${method.toUpperCase()} ${path} ${pointer}`)
      }
    }
    assert.deepEqual(found.sort(), ENTRY_POINTS.map((e) => `${e.field} ${e.pointer}`).sort())
  })

  for (const entry of ENTRY_POINTS) {
    it(`${entry.field}: refuses every address that is not one plain mailbox, 400 naming ${entry.pointer}, nothing changed`, async () => {
      const before = await fingerprint(t())
      for (const email of TRICKY) {
        const response = await entry.send(email)
        assert.equal(response.status, 400, `${JSON.stringify(email)}: ${response.text}`)
        assert.equal(response.body.code, 'VALIDATION_FAILED')
        assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
        assert.ok(
          response.body.errors?.some((e: { path: string }) => e.path === entry.pointer),
          `${JSON.stringify(email)} names ${entry.pointer}: ${response.text}`,
        )
      }
      assert.equal(await fingerprint(t()), before)
    })
  }

  it('stores an invitation’s address as parsed: the domain in lower case, IDN as A-labels', async () => {
    const upper = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: 'Bob.Smith@ACME.Test', role: 'member' },
    })
    assert.equal(upper.status, 201, upper.text)
    assert.equal(upper.body.email, 'Bob.Smith@acme.test')
    const idn = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/invitations`,
      token: acme.ownerToken,
      body: { email: 'jörg@Bücher.example', role: 'member' },
    })
    assert.equal(idn.status, 201, idn.text)
    assert.equal(idn.body.email, 'jörg@xn--bcher-kva.example')
    const stored = await t()
      .db.kysely.selectFrom('invitations')
      .select('email')
      .where('org_id', '=', acme.orgId)
      .execute()
    assert.ok(
      stored.some((r) => r.email === 'Bob.Smith@acme.test') &&
        stored.some((r) => r.email === 'jörg@xn--bcher-kva.example'),
    )
    const accepted = await t().request({
      method: 'POST',
      url: '/v1/invitations/accept',
      body: { token: upper.body.token, password: PASSWORD },
      remoteAddress: from(),
    })
    assert.equal(accepted.status, 201, accepted.text)
    const login = await t().request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'bob.smith@Acme.TEST', password: PASSWORD },
      remoteAddress: from(),
    })
    assert.equal(login.status, 200, `one account however the address is cased: ${login.text}`)
  })

  it('keeps a reporter’s contact as one parsed mailbox', async () => {
    const submitted = await t().request({
      method: 'POST',
      url: '/v1/vulnerability-reports',
      body: report('Alice@Finder.TEST'),
      remoteAddress: from(),
    })
    assert.equal(submitted.status, 201, submitted.text)
    const list = await t().request({
      method: 'GET',
      url: '/v1/operator/vulnerability-reports',
      token: provider.ownerToken,
    })
    const id = list.body.reports?.find(
      (r: { reference: string; id: string }) => r.reference === submitted.body.reference,
    )?.id
    assert.ok(id !== undefined, list.text)
    const full = await t().request({
      method: 'GET',
      url: `/v1/operator/vulnerability-reports/${id}`,
      token: provider.ownerToken,
    })
    assert.equal(full.body.reporter?.email, 'Alice@finder.test', full.text)
  })
})
