import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  PASSWORD,
  principalWithRole,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'

/**
 * Every list that grows with an org's history or membership comes a page at a time
 * (issue 20): `limit` (1–500, 100 by default) and an opaque `cursor`, answered with
 * `nextCursor` (null on the last page). The routes are found in /openapi.json: a GET whose
 * answer holds an array either takes `limit` and `cursor` — and is then walked here in
 * pages of 2, which must give the same rows in the same order as one page of 500, none
 * twice — or is named below with the reason it needs no pages. A new list without pages
 * fails this test until it gets them or a reason.
 */

/** Lists that stay whole, each with its reason (also given beside the route). */
const UNPAGED: Record<string, string> = {
  'GET /v1/permissions': 'the fixed catalog of permissions',
  'GET /v1/me': 'the caller’s own permissions: a subset of the fixed catalog',
  'GET /v1/me/2fa': 'the caller’s own factors: a fixed number of recovery codes',
  'GET /v1/me/passkeys': 'the caller’s own passkeys: at most 20 per person (MAX_PASSKEYS_PER_USER, 409 beyond)',
  'GET /v1/audit/keys': 'the deployment’s signing keys: one per audit-key rotation by the operator',
  'GET /v1/orgs/{orgId}/transit/keys/{name}':
    'one key with its versions (one per rotation, an audited admin act), as Vault’s read-key answer lists them all',
  'GET /v1/orgs/{orgId}/roles': 'built-in roles and at most 100 custom roles per org (documented limit)',
  'GET /v1/orgs/{orgId}/alert-rules': 'one entry per rule of the fixed rule catalog',
  'GET /v1/orgs/{orgId}/retention':
    'one policy per data class the org configured (the classes are the org’s own vocabulary, set by admins)',
  'GET /v1/orgs/{orgId}/ip-allowlist': 'at most 200 entries (schema limit)',
  'GET /v1/orgs/{orgId}/sso': 'the org’s one SSO configuration (at most 50 allowed domains)',
  'GET /v1/orgs/{orgId}/keys':
    'one entry per org-key version, which only a step-up rotation adds; counts kept at write time',
  'GET /v1/orgs/{orgId}/audit/verify': 'verifies the whole chain by design; `problems` lists what is wrong',
  'GET /v1/orgs/{orgId}/audit/status': 'the chain’s head and its checkpoints’ figures, no history',
  'GET /v1/orgs/{orgId}/audit/checkpoints/latest':
    'one checkpoint and its cosignatures: one per configured witness (the operator’s list)',
  'GET /v1/orgs/{orgId}/audit/proofs/inclusion': 'a Merkle proof: at most 63 hashes (log2 of the tree size)',
  'GET /v1/orgs/{orgId}/audit/proofs/consistency': 'a Merkle proof: at most 126 hashes (twice log2 of the tree size)',
  'GET /v1/orgs/{orgId}/audit/events/{eventId}/receipt': 'one event and its inclusion proof (at most 63 hashes)',
  'GET /v1/viewer/events/{eventId}/receipt': 'one event and its inclusion proof (at most 63 hashes)',
  'GET /v1/viewer/session': 'the viewer token’s own org, expiry and scope (at most 50 actions, schema limit)',
  'GET /v1/orgs/{orgId}/erasure-certificates/{certificateId}':
    'one certificate and the receipt of its event (an inclusion proof: at most 63 hashes)',
  'GET /v1/operator/offboardings/{offboardedOrgId}':
    'one org’s deletion and the receipt of its event (an inclusion proof: at most 63 hashes)',
  'GET /v1/orgs/{orgId}/records/{recordId}': 'one record; its tags (at most 20)',
  'GET /v1/orgs/{orgId}/alerts/{alertId}': 'one alert; the audit events that raised it (the first 100)',
  'GET /v1/vulnerability-reports/status': 'a reporter’s own report and its public updates',
  'GET /v1/orgs/{orgId}/grants/{grantId}': 'one grant and its approvals (at most the approvers the policy asks for)',
  'GET /v1/operator/grants/{grantId}':
    'the operator’s own grant and its approvals (at most the approvers the policy asks for)',
  'GET /v1/orgs/{orgId}/privacy-requests/{requestId}':
    'one request and the events of its own life cycle (a handful of steps)',
  'GET /v1/operator/vulnerability-reports/{reportId}': 'one report, its attachments (at most 5) and its messages',
  'GET /v1/orgs/{orgId}/incidents/{incidentId}': 'one incident, its timeline, parties (at most 50) and notifications',
  'GET /v1/orgs/{orgId}/consent/purposes/{purposeKey}':
    'one purpose; its data categories and recipients (at most 50 each, schema limit)',
  'GET /v1/orgs/{orgId}/consent/notices/{version}':
    'one notice version; the purposes it covers (at most 100, schema limit)',
  'GET /v1/orgs/{orgId}/consent/receipts/{eventId}':
    'one consent event’s receipt and its inclusion proof (at most 63 hashes)',
  'GET /v1/orgs/{orgId}/consent/recipients/{recipientId}': 'one registered recipient',
  'GET /v1/orgs/{orgId}/consent/report':
    'one rate row per purpose and notice version (the org’s own catalogue) and at most 100 pending objections, soonest due first, with their total',
  'GET /v1/orgs/{orgId}/compliance':
    'one entry per promise of the fixed catalogue, each with its checks’ latest results (the fixed check catalogue)',
  'GET /v1/operator/compliance':
    'the service’s checks and one entry per org check of the fixed catalogue, each naming at most 20 failing orgs',
  'GET /v1/operator/rollback':
    'rollback detection’s state and at most 100 refused orgs, with the count of all (the CLI lists every one)',
  'GET /v1/orgs/{orgId}/response-plan':
    'the plan: incident types, escalation (at most 10 levels), parties (at most 50), its versions and its last 100 reviews',
}

interface Fixture {
  provider: Org
  a: Org
  secret: string
  /** An open access review of org a, with an item per principal. */
  review: string
  /** A SIEM destination of org a with three dead letters. */
  destination: string
  /** A browser session of org a's owner, who also owns two more orgs (GET /v1/me/orgs). */
  accountSession: Record<string, string>
  /** An embedded viewer token of org a (one of three). */
  viewer: string
}

/** Where each paged list lives: its URL and the property that holds its rows. */
const PAGED: Record<
  string,
  {
    url: (f: Fixture) => string
    key: string
    token?: (f: Fixture) => string
    /** Headers in place of a token (a session cookie). */
    headers?: (f: Fixture) => Record<string, string>
  }
> = {}
const org = (tail: string, key: string) => {
  PAGED[`GET /v1/orgs/{orgId}/${tail}`] = { url: (f) => `/v1/orgs/${f.a.orgId}/${tail}`, key }
}
org('members', 'members')
org('service-accounts', 'serviceAccounts')
org('tokens', 'tokens')
org('secrets', 'secrets')
org('data-sources', 'dataSources')
org('transit/keys', 'keys')
org('webhooks', 'webhooks')
org('webhook-deliveries', 'deliveries')
org('notifications', 'notifications')
org('grants', 'grants')
org('access-reviews', 'reviews')
org('least-privilege', 'principals')
org('privacy-requests', 'requests')
org('erasure-certificates', 'certificates')
org('retention/runs', 'runs')
org('incidents', 'incidents')
org('alerts', 'alerts')
org('sessions', 'sessions')
org('audit/events', 'events')
org('siem/destinations', 'destinations')
org('audit/viewer-tokens', 'tokens')
org('consent/purposes', 'purposes')
org('consent/notices', 'notices')
org('consent/objections', 'objections')
org('consent/recipients', 'recipients')
org('consent/propagations', 'propagations')
org('compliance/runs', 'runs')
org('compliance/history', 'history')
PAGED['GET /v1/orgs/{orgId}/consent/reconsent'] = {
  url: (f) => `/v1/orgs/${f.a.orgId}/consent/reconsent?purpose=c0&reason=material_change`,
  key: 'subjects',
}
PAGED['GET /v1/viewer/events'] = { url: () => '/v1/viewer/events', key: 'events', token: (f) => f.viewer }
PAGED['GET /v1/orgs/{orgId}/siem/destinations/{destinationId}/dead-letters'] = {
  url: (f) => `/v1/orgs/${f.a.orgId}/siem/destinations/${f.destination}/dead-letters`,
  key: 'deadLetters',
}
PAGED['GET /v1/orgs/{orgId}/secrets/{secretId}/versions'] = {
  url: (f) => `/v1/orgs/${f.a.orgId}/secrets/${f.secret}/versions`,
  key: 'versions',
}
PAGED['GET /v1/orgs/{orgId}/secrets/by-path/versions'] = {
  url: (f) => `/v1/orgs/${f.a.orgId}/secrets/by-path/versions?path=s0`,
  key: 'versions',
}
PAGED['GET /v1/orgs/{orgId}/access-reviews/{reviewId}/items'] = {
  url: (f) => `/v1/orgs/${f.a.orgId}/access-reviews/${f.review}/items`,
  key: 'items',
}
PAGED['GET /v1/me/notifications'] = { url: () => '/v1/me/notifications', key: 'notifications' }
PAGED['GET /v1/me/sessions'] = { url: () => '/v1/me/sessions', key: 'sessions' }
PAGED['GET /v1/me/orgs'] = { url: () => '/v1/me/orgs', key: 'orgs', headers: (f) => f.accountSession }
for (const [tail, key] of [
  ['orgs', 'orgs'],
  ['grants', 'grants'],
  ['offboardings', 'offboardings'],
  ['vulnerability-reports', 'reports'],
] as const) {
  PAGED[`GET /v1/operator/${tail}`] = { url: () => `/v1/operator/${tail}`, key, token: (f) => f.provider.ownerToken }
}

/** Copies one row `count` times with fresh values from `overrides` (SQL over the copy `r` and its number `g`). */
async function cloneRows(t: TestApp, table: string, where: string, count: number, overrides: string): Promise<void> {
  const result = await sql
    .raw(`
    INSERT INTO ${table}
    SELECT (jsonb_populate_record(NULL::${table}, to_jsonb(r) || ${overrides})).*
      FROM (SELECT * FROM ${table} WHERE ${where} LIMIT 1) AS r CROSS JOIN generate_series(1, ${count}) AS g
  `)
    .execute(t.db.kysely)
  assert.equal(Number(result.numAffectedRows), count, `${table}: ${count} copies`)
}

/** A parameter-free SQL script, a statement at a time (PGlite takes one per call). */
async function script(t: TestApp, text: string): Promise<void> {
  for (const statement of text
    .split(/;\s*\n/)
    .map((x) => x.trim())
    .filter(Boolean))
    await sql.raw(statement).execute(t.db.kysely)
}

/**
 * At least three rows in every paged list, several of them sharing their sort time (the
 * tie-break must hold pages apart): made through the API where that is quick, with SQL
 * for what takes a long story (an erasure certificate, an offboarding).
 */
async function buildFixture(t: TestApp): Promise<Fixture> {
  const provider = await bootstrapProvider(t)
  const a = await createCustomerOrg(t, provider, 'Paged Org', 'owner@paged.test')
  await createCustomerOrg(t, provider, 'Other Org', 'owner@other.test')
  const as = async (method: string, tail: string, body?: unknown) => {
    const r = await t.request({ method, url: `/v1/orgs/${a.orgId}${tail}`, token: a.ownerToken, body })
    assert.ok(r.status < 300, `${method} ${tail}: ${r.text}`)
    return r.body
  }
  const A = a.orgId
  const same = `jsonb_build_object('id', gen_random_uuid(), 'created_at', now() - interval '1 hour')`
  for (let i = 0; i < 3; i++) await principalWithRole(t, a, 'viewer')
  await script(
    t,
    `
    INSERT INTO users (id, email) SELECT gen_random_uuid(), 'member' || g || '@paged.test' FROM generate_series(1, 3) AS g;
    INSERT INTO memberships (org_id, user_id, role, created_at)
    SELECT '${A}', id, 'viewer', now() - interval '1 hour' FROM users WHERE email LIKE 'member%@paged.test'
  `,
  )
  const secrets: string[] = []
  for (let i = 0; i < 3; i++)
    secrets.push((await as('POST', '/secrets', { name: `s${i}`, type: 'api_key', value: `v${i}` })).id as string)
  const secret = secrets[0] as string
  for (let i = 0; i < 2; i++) await as('POST', `/secrets/${secret}/versions`, { value: `w${i}` })
  await cloneRows(
    t,
    'secrets',
    `id = '${secret}'`,
    3,
    `${same} || jsonb_build_object('name', 'db' || g, 'type', 'database_credential', 'metadata', jsonb_build_object('host', 'db.paged.test', 'port', 5432, 'database', 'app', 'user', 'app'))`,
  )
  for (let i = 0; i < 3; i++) await as('POST', '/transit/keys', { name: `k${i}` })
  for (let i = 0; i < 3; i++)
    await as('POST', '/webhooks', { name: `h${i}`, url: `https://hooks${i}.paged.test/x`, events: ['notifications'] })
  const destinations: string[] = []
  for (let i = 0; i < 3; i++)
    destinations.push(
      (await as('POST', '/siem/destinations', { name: `d${i}`, kind: 'jsonl', url: `https://siem${i}.paged.test/x` }))
        .id as string,
    )
  const destination = destinations[0] as string
  await script(
    t,
    `
    INSERT INTO siem_dead_letters (id, org_id, destination_id, from_seq, to_seq, attempts, last_error, created_at, resolution, resolved_at, resolved_by)
    SELECT gen_random_uuid(), '${A}', '${destination}', g, g, 3, 'HTTP 503', now() - interval '1 hour', 'retried', now(), 'fixture'
      FROM generate_series(1, 3) AS g
  `,
  )
  await script(
    t,
    `
    INSERT INTO webhook_deliveries (id, org_id, webhook_id, webhook_name, destination, event, status, next_attempt_at, delivered_at, created_at)
    SELECT gen_random_uuid(), '${A}', w.id, w.name, w.url, 'notifications', 'delivered', now(), now(), now() - interval '1 hour'
      FROM (SELECT * FROM webhooks WHERE org_id = '${A}' LIMIT 1) AS w CROSS JOIN generate_series(1, 3) AS g;
    INSERT INTO notifications (id, org_id, kind, recipient_user_id, subject, body, created_at, delivered_at, status, next_attempt_at)
    SELECT gen_random_uuid(), '${A}', 'fixture', '${a.ownerId}', 'news', 'news', now() - interval '1 hour', now(), 'delivered', now()
      FROM generate_series(1, 3) AS g;
    INSERT INTO retention_runs (id, org_id, ran_at, purged, classes)
    SELECT gen_random_uuid(), '${A}', now() - interval '1 hour', 0, '[]' FROM generate_series(1, 3) AS g;
    INSERT INTO org_offboardings (org_id, org_name, status, requested_at, requested_by, scheduled_for, cancelled_at, cancelled_by)
    SELECT gen_random_uuid(), 'gone ' || g, 'cancelled', now() - interval '1 hour', 'fixture', now(), now(), 'fixture'
      FROM generate_series(1, 3) AS g
  `,
  )
  for (let i = 0; i < 3; i++)
    assert.equal(
      (
        await t.request({
          method: 'POST',
          url: '/v1/operator/grants',
          token: provider.ownerToken,
          body: { orgId: A, reason: `paging the grants ${i}`, permissions: ['org:read'] },
        })
      ).status,
      201,
    )
  const review = (await as('POST', '/access-reviews')).id as string
  await cloneRows(
    t,
    'access_reviews',
    `id = '${review}'`,
    3,
    `${same.replace('created_at', 'started_at')} || jsonb_build_object('status', 'closed', 'closed_at', now(), 'closed_by', 'fixture')`,
  )
  const requests: string[] = []
  for (let i = 0; i < 3; i++)
    requests.push((await as('POST', '/privacy-requests', { kind: 'rectify', subjectId: `subject-${i}` })).id as string)
  for (const id of requests)
    await sql`INSERT INTO erasure_certificates (id, org_id, request_id, jws, issued_at)
              VALUES (gen_random_uuid(), ${A}, ${id}, 'x.y.z', now() - interval '1 hour')`.execute(t.db.kysely)
  const plan = await as('POST', '/response-plan/types', {
    name: 'paged',
    defaultSeverity: 'high',
    playbook: ['contain'],
  })
  for (let i = 0; i < 3; i++)
    await as('POST', '/incidents', { typeId: (plan.types as JsonBody[])[0]?.id, title: `incident ${i}` })
  for (let i = 0; i < 3; i++)
    await withOrg(t.db.kysely, A, (trx) =>
      t.app.services.alerts.raiseIn(trx, A, 'plan_review_overdue', { key: `k${i}`, title: 'paged', details: {} }),
    )
  for (let i = 0; i < 3; i++) {
    const login = await t.request({
      method: 'POST',
      url: '/v1/login',
      body: { email: 'owner@paged.test', password: PASSWORD },
    })
    assert.ok(login.status < 300, login.text)
  }
  for (let i = 0; i < 3; i++) {
    const r = await t.request({
      method: 'POST',
      url: '/v1/vulnerability-reports',
      body: { title: `report ${i}`, location: 'here', impact: 'some', steps: 'these' },
    })
    assert.equal(r.status, 201, r.text)
  }
  // Consent (P7.7): purposes by key, notice versions, objections sharing their opening time.
  for (let i = 0; i < 3; i++)
    await as('POST', '/consent/purposes', { key: `p${i}`, name: `Purpose ${i}`, lawfulBasis: 'legitimate_interests' })
  for (let i = 0; i < 3; i++)
    await as('POST', '/consent/notices', {
      language: 'en',
      text: `Notice ${i}.`,
      purposes: ['p0'],
      materialChange: false,
    })
  for (let i = 0; i < 3; i++)
    await as('POST', '/consent/events', {
      id: `o${i}`,
      subject: `s${i}`,
      purpose: 'p0',
      action: 'object',
      method: 'form',
    })
  await sql`UPDATE consent_objections SET opened_at = now() - interval '1 hour' WHERE org_id = ${A}`.execute(
    t.db.kysely,
  )
  // Recipients by name, and one direct-marketing objection told to the three of them:
  // three propagations sharing their creation time.
  for (let i = 0; i < 3; i++)
    await as('POST', '/consent/recipients', {
      name: `Recipient ${i}`,
      url: `https://recipient${i}.paged.test/consent`,
      deadlineHours: 24,
    })
  await as('POST', '/consent/purposes', {
    key: 'm0',
    name: 'Marketing',
    lawfulBasis: 'legitimate_interests',
    directMarketing: true,
    recipients: ['Recipient 0', 'Recipient 1', 'Recipient 2'],
  })
  await as('POST', '/consent/events', { id: 'm-o', subject: 's0', purpose: 'm0', action: 'object', method: 'form' })
  // Re-consent: three grants a material change superseded.
  await as('POST', '/consent/purposes', { key: 'c0', name: 'Consented', lawfulBasis: 'consent' })
  const shown = await as('POST', '/consent/notices', {
    language: 'en',
    text: 'Consent notice.',
    purposes: ['c0'],
    materialChange: false,
  })
  for (let i = 0; i < 3; i++)
    await as('POST', '/consent/events', {
      id: `g${i}`,
      subject: `s${i}`,
      purpose: 'c0',
      action: 'grant',
      method: 'form',
      noticeVersion: shown.version,
    })
  await as('POST', '/consent/notices', { language: 'en', text: 'Changed.', purposes: ['c0'], materialChange: true })
  // Three evaluations of org a's compliance checks (each check's first result is history).
  for (let i = 0; i < 3; i++) await t.app.services.compliance.evaluate(a.orgId, 'schedule')
  // The owner of org a owns two more: a session of theirs lists three orgs.
  await createCustomerOrg(t, provider, 'Paged Org 2', 'owner@paged.test')
  await createCustomerOrg(t, provider, 'Paged Org 3', 'owner@paged.test')
  const login = await t.app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email: 'owner@paged.test', password: PASSWORD, orgId: a.orgId },
  })
  assert.equal(login.statusCode, 200, login.body)
  const cookie = login.cookies.find((c) => c.name === '__Host-custodian_session')
  const accountSession = { cookie: `${cookie?.name}=${cookie?.value}` }
  let viewer = ''
  for (let i = 0; i < 3; i++)
    viewer = (await as('POST', '/audit/viewer-tokens', { origin: `https://app${i}.paged.test`, ttlSeconds: 900 }))
      .token as string
  return { provider, a, secret, review, destination, accountSession, viewer }
}

/** What identifies a row of any list. */
const identity = (row: JsonBody): string =>
  String(row.id ?? row.userId ?? row.orgId ?? row.name ?? row.version ?? JSON.stringify(row))

forEachEngine('lists come a page at a time (issue 20)', (engine) => {
  const t = useTestApp(engine, {
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
    CUSTODIAN_REPORT_RATE_LIMIT: '100',
    CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '60000',
  })
  let f: Fixture
  let lists: { label: string; paged: boolean }[] = []
  before(async () => {
    f = await buildFixture(t())
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    lists = listRoutes(doc)
  })

  it('pages every list of /openapi.json, or says why it needs none', () => {
    assert.ok(lists.length > 20, 'lists found in the OpenAPI document')
    const untested = lists.filter((l) => l.paged && PAGED[l.label] === undefined).map((l) => l.label)
    assert.deepEqual(untested, [], 'paged lists without a case in PAGED')
    const unpaged = lists.filter((l) => !l.paged && UNPAGED[l.label] === undefined).map((l) => l.label)
    assert.deepEqual(unpaged, [], 'lists without limit and cursor, and without a reason in UNPAGED')
    for (const label of Object.keys(PAGED))
      assert.ok(
        lists.some((l) => l.label === label && l.paged),
        `${label}: not a paged list in /openapi.json`,
      )
  })

  it('keeps GET /roles whole by a limit: the 101st custom role of an org is refused (409)', async () => {
    const create = (name: string) =>
      t().request({
        method: 'POST',
        url: `/v1/orgs/${f.a.orgId}/roles`,
        token: f.a.ownerToken,
        body: { name, permissions: ['org:read'] },
      })
    await sql`INSERT INTO custom_roles (org_id, name, permissions)
              SELECT ${f.a.orgId}, 'bulk-' || g, '{org:read}' FROM generate_series(1, 99) AS g`.execute(t().db.kysely)
    assert.equal((await create('the-hundredth')).status, 201)
    const refused = await create('one-too-many')
    assert.equal(refused.status, 409, refused.text)
    assert.equal(refused.body.code, 'CONFLICT')
    const roles = await t().request({ method: 'GET', url: `/v1/orgs/${f.a.orgId}/roles`, token: f.a.ownerToken })
    assert.equal((roles.body.roles as JsonBody[]).filter((r) => r.builtIn === false).length, 100)
  })

  for (const [label, route] of Object.entries(PAGED)) {
    const get = (query: string) =>
      t().request({
        method: 'GET',
        url: `${route.url(f)}${route.url(f).includes('?') ? '&' : '?'}${query}`,
        ...(route.headers === undefined
          ? { token: route.token?.(f) ?? f.a.ownerToken }
          : { headers: route.headers(f) }),
      })

    it(`${label}: pages of 2 give the whole list in order, none twice, none missed`, async () => {
      const whole = await get('limit=500')
      assert.equal(whole.status, 200, whole.text)
      const all = (whole.body[route.key] as JsonBody[]).map(identity)
      assert.ok(all.length >= 3, `${label}: the fixture made ${all.length} rows; at least 3 are needed`)
      assert.equal(whole.body.nextCursor, null)
      const walked: string[] = []
      let cursor: string | null = null
      for (let pages = 0; pages <= all.length; pages++) {
        const page = await get(`limit=2${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)
        assert.equal(page.status, 200, page.text)
        const rows = page.body[route.key] as JsonBody[]
        assert.ok(rows.length <= 2)
        walked.push(...rows.map(identity))
        cursor = page.body.nextCursor as string | null
        if (cursor === null) break
      }
      assert.equal(cursor, null, 'the walk ends')
      assert.deepEqual(walked, all)
    })

    it(`${label}: refuses limit 0 and 501 and a cursor it did not issue (400)`, async () => {
      for (const query of [
        'limit=0',
        'limit=501',
        'limit=x',
        'cursor=not-a-cursor',
        `cursor=${forged}`,
        `cursor=${noSuchDay}`,
      ]) {
        const r = await get(query)
        assert.equal(r.status, 400, `${label}?${query}: ${r.text}`)
        assert.equal(r.body.code, 'VALIDATION_FAILED')
        // One name for the query string in every error's pointer, schema or hand check alike.
        const name = query.split('=')[0] as string
        assert.equal(r.body.errors?.[0]?.path, `/query/${name}`, `${label}?${query}: ${r.text}`)
      }
    })
  }
})

/** A well-formed cursor of no list's shape: four keys. */
const forged = Buffer.from(JSON.stringify(['a', 'b', 'c', 'd'])).toString('base64url')
/** The shape of a newest-first list's cursor, at a day that does not exist (PostgreSQL would refuse it: a 500). */
const noSuchDay = Buffer.from(
  JSON.stringify(['2026-02-31 10:00:00+00', '00000000-0000-0000-0000-000000000000']),
).toString('base64url')

/** Every GET of the document whose answer holds an array, and whether it takes limit and cursor. */
function listRoutes(doc: JsonBody): { label: string; paged: boolean }[] {
  const out: { label: string; paged: boolean }[] = []
  for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, JsonBody>>)) {
    const op = ops.get
    if (op === undefined) continue
    const responses = op.responses as Record<string, JsonBody> | undefined
    const content = responses?.['200']?.content as Record<string, JsonBody> | undefined
    const schema = content?.['application/json']?.schema as JsonBody | undefined
    const properties = (schema?.properties ?? {}) as Record<string, JsonBody>
    if (!Object.values(properties).some((p) => p.type === 'array')) continue
    const query = ((op.parameters ?? []) as JsonBody[]).filter((p) => p.in === 'query').map((p) => p.name)
    out.push({ label: `GET ${path}`, paged: query.includes('limit') && query.includes('cursor') })
  }
  return out
}
