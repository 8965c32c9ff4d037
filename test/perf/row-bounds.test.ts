import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { withOrg } from '../../src/db/tenant.ts'
import type { Engine } from '../../src/db/connect.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  insertDeadLetter,
  PASSWORD,
  startTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { StatementRecorder, type StatementCost } from '../helpers/explain.ts'
import { growHistory, PERIODIC_JOBS } from '../helpers/history.ts'

/**
 * Costs stay flat as the data grows (issue 20): every GET route of /openapi.json, called
 * for an org with a long history (HISTORY audit events and checkpoints, OTHER members with
 * a token each, OTHER items in its open access review, OTHER rows in each other history
 * table, built with SQL in seconds), reads a bounded number of rows in each
 * statement it sends — measured by EXPLAIN (ANALYZE, BUFFERS) of the statement itself, on
 * its own connection, in its own transaction. A statement that reads an org's history
 * (a sort over every row, a scan that walks other orgs' rows) reads thousands and fails.
 *
 * The tables are analyzed after the bulk load, as autovacuum would: see growHistory.
 */
const HISTORY = 20_000
const OTHER = 5_000
/** Rows one statement may read: a page (100 by default, 500 at most) and its joins. */
const ROW_BOUND = 1_000
/**
 * Statements one request may send: its own few and a page's lookups done in one statement
 * each, never one per row (a page of 100 rows would send 100 or more; each is a round trip,
 * ≈1 ms of CPU on PGlite).
 */
const STATEMENT_BOUND = 25

/**
 * `CUSTODIAN_ROW_BOUNDS_STATISTICS=absent` (row-bounds-without-statistics.test.ts): the same
 * checks with no table statistics at all, as on a server whose autovacuum is off or has not
 * run yet — the plans must then hold on the query's shape and the indexes alone.
 */
const STATISTICS = process.env.CUSTODIAN_ROW_BOUNDS_STATISTICS === 'absent' ? 'absent' : 'analyzed'

/** Rows one run of a periodic job may read when nothing is due. */
const JOB_ROW_BOUND = 100

/** Every periodic job; one whose work comes in batches catches up on the history first. */
const JOBS: { name: string; run: (t: TestApp) => Promise<unknown>; settle?: number; todo?: string }[] =
  PERIODIC_JOBS.map((job) => ({ ...job, ...(job.drains ? { settle: HISTORY / 500 + 5 } : {}) }))

/** Routes that read an org's whole history by design, each with its reason. */
const EXEMPT: Record<string, string> = {
  'GET /v1/orgs/{orgId}/audit/export': 'streams the whole log by design (a verifiable export)',
  'GET /v1/orgs/{orgId}/audit/verify': 'verifies the whole chain by design',
  'GET /v1/orgs/{orgId}/compliance/evidence':
    'the auditors’ evidence bundle verifies the whole audit chain and reads 400 days of reviews, certificates, incidents and compliance history by design (each a page at a time)',
}

/** Routes known to fail, each with the branch that fixes it. */
const KNOWN_TODO: Record<string, string> = {}

/**
 * Routes whose page cannot keep its plan without statistics, each with its reason. None:
 * every page is read in index order whatever the statistics (inIndexOrder, src/db/page.ts).
 */
const WITHOUT_STATISTICS: Record<string, string> = {}

interface Fixture {
  provider: Org
  a: Org
  b: Org
  secret: Record<'a' | 'b', string>
  grant: Record<'a' | 'b', string>
  review: Record<'a' | 'b', string>
  record: Record<'a' | 'b', string>
  request: Record<'a' | 'b', string>
  export: Record<'a' | 'b', string>
  certificate: Record<'a' | 'b', string>
  alert: Record<'a' | 'b', string>
  incident: Record<'a' | 'b', string>
  /** Each org's first audit event (seq 1 once chained): its receipt. */
  event: Record<'a' | 'b', string>
  /** A SIEM destination of each org (the big org's has OTHER dead letters). */
  destination: Record<'a' | 'b', string>
  /** A consent event of each org (its receipt). */
  consentEvent: Record<'a' | 'b', string>
  /** A registered consent recipient of each org (the big org's among OTHER). */
  recipient: Record<'a' | 'b', string>
  /** A dead-lettered webhook delivery of each org (the big org's among OTHER delivered ones). */
  delivery: Record<'a' | 'b', string>
  /** Mints an embedded viewer token of the org (tokens live minutes: one per measure), scoped as given. */
  viewer: (side: 'a' | 'b', scope?: Record<string, unknown>) => Promise<string>
  report: string
}

type Side = 'a' | 'b'
interface GetRoute {
  path: string
  /** A query string that makes this a second case of the same route. */
  variant?: string
  /** The URL for org a (big) or b (small); `token` picks the caller. */
  url: (f: Fixture, side: Side) => string
  token?: (f: Fixture, side: Side) => string | Promise<string>
}

/** Cursors before every row of a list (src/db/page.ts): newest first, oldest first, by name. */
const cursorOf = (key: string[]) => Buffer.from(JSON.stringify(key)).toString('base64url')
const NEWEST_CURSOR = cursorOf(['9999-12-31 00:00:00+00', 'ffffffff-ffff-ffff-ffff-ffffffffffff'])
const OLDEST_CURSOR = cursorOf(['1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000'])
const NAME_CURSOR = cursorOf([''])
/** Before every item of a review ((kind, id): `api_token` sorts first). */
const ITEM_CURSOR = cursorOf(['api_token', '00000000-0000-0000-0000-000000000000'])
/** Before every member, and before every service account, of the least-privilege report. */
const MEMBER_CURSOR = cursorOf(['member', '1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000'])
const ACCOUNT_CURSOR = cursorOf(['service_account', '1970-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000'])
const O = (f: Fixture, s: Side) => `/v1/orgs/${f[s].orgId}`
const PROVIDER = (f: Fixture) => f.provider.ownerToken
const ROUTES: GetRoute[] = [
  { path: '/healthz', url: () => '/healthz' },
  { path: '/readyz', url: () => '/readyz' },
  { path: '/v1/audit/keys', url: () => '/v1/audit/keys' },
  { path: '/v1/vault/status', url: () => '/v1/vault/status' },
  { path: '/v1/me', url: () => '/v1/me' },
  { path: '/v1/me/2fa', url: () => '/v1/me/2fa' },
  { path: '/v1/me/passkeys', url: () => '/v1/me/passkeys' },
  { path: '/v1/me/sessions', url: () => '/v1/me/sessions' },
  { path: '/v1/me/orgs', url: () => '/v1/me/orgs' },
  { path: '/v1/me/notifications', url: () => '/v1/me/notifications' },
  { path: '/v1/permissions', url: () => '/v1/permissions' },
  { path: '/v1/sso/{orgId}/start', url: (f, s) => `/v1/sso/${f[s].orgId}/start` },
  { path: '/v1/sso/callback', url: () => '/v1/sso/callback?state=x&code=y' },
  { path: '/v1/operator/orgs', url: () => '/v1/operator/orgs', token: PROVIDER },
  { path: '/v1/operator/grants', url: () => '/v1/operator/grants', token: PROVIDER },
  { path: '/v1/operator/grants/{grantId}', url: (f, s) => `/v1/operator/grants/${f.grant[s]}`, token: PROVIDER },
  { path: '/v1/operator/offboardings', url: () => '/v1/operator/offboardings', token: PROVIDER },
  { path: '/v1/operator/compliance', url: () => '/v1/operator/compliance', token: PROVIDER },
  { path: '/v1/operator/rollback', url: () => '/v1/operator/rollback', token: PROVIDER },
  { path: '/trust', url: () => '/trust' },
  {
    path: '/v1/operator/offboardings/{offboardedOrgId}',
    url: (f, s) => `/v1/operator/offboardings/${f[s].orgId}`,
    token: PROVIDER,
  },
  { path: '/v1/operator/vulnerability-reports', url: () => '/v1/operator/vulnerability-reports', token: PROVIDER },
  {
    path: '/v1/operator/vulnerability-reports/{reportId}',
    url: (f) => `/v1/operator/vulnerability-reports/${f.report}`,
    token: PROVIDER,
  },
  {
    path: '/v1/operator/vulnerability-reports/{reportId}/attachments/{idx}',
    url: (f) => `/v1/operator/vulnerability-reports/${f.report}/attachments/0`,
    token: PROVIDER,
  },
  { path: '/.well-known/security.txt', url: () => '/.well-known/security.txt' },
  { path: '/.well-known/gpc.json', url: () => '/.well-known/gpc.json' },
  { path: '/v1/vulnerability-reports/policy', url: () => '/v1/vulnerability-reports/policy' },
  { path: '/v1/vulnerability-reports/status', url: () => '/v1/vulnerability-reports/status' },
  { path: '/v1/orgs/{orgId}', url: O },
  ...[
    'sessions',
    'security-policy',
    'ip-allowlist',
    'sso',
    'members',
    'grants',
    'grant-policy',
    'access-reviews',
    'access-review-policy',
    'least-privilege',
    'retention',
    'retention/runs',
    'privacy-requests',
    'privacy-policy',
    'erasure-certificates',
    'webhooks',
    'webhook-deliveries',
    'notifications',
    'offboarding',
    'alerts',
    'alert-rules',
    'response-plan',
    'incidents',
    'service-accounts',
    'tokens',
    'roles',
    'keys',
    'transit/keys',
    'vault/policy',
    'data-sources',
    'secrets',
    'audit/events',
    'audit/export',
    'audit/verify',
    'audit/status',
    'audit/checkpoints/latest',
    'siem/destinations',
    'audit/event-schema',
    'audit/viewer-tokens',
    'consent/purposes',
    'consent/notices',
    'consent/objections',
    'consent/report',
    'consent/recipients',
    'compliance',
    'compliance/runs',
    'compliance/history',
    'compliance/report',
    'compliance/policy',
    'compliance/oscal/catalog',
    'compliance/oscal/component-definition',
    'compliance/oscal/assessment-results',
    'compliance/evidence',
    'consent/propagations',
  ].map((tail) => ({ path: `/v1/orgs/{orgId}/${tail}`, url: (f: Fixture, s: Side) => `${O(f, s)}/${tail}` })),
  { path: '/v1/orgs/{orgId}/consent/purposes/{purposeKey}', url: (f, s) => `${O(f, s)}/consent/purposes/fixture` },
  {
    path: '/v1/orgs/{orgId}/consent/recipients/{recipientId}',
    url: (f, s) => `${O(f, s)}/consent/recipients/${f.recipient[s]}`,
  },
  // Propagations of one state (the console's panel), first page and from a cursor: in index order.
  ...(['pending', 'overdue', 'acknowledged'] as const).flatMap((state) =>
    ['', `&cursor=${state === 'acknowledged' ? NEWEST_CURSOR : OLDEST_CURSOR}`].map((cursor) => ({
      path: '/v1/orgs/{orgId}/consent/propagations',
      variant: `state=${state}${cursor === '' ? '' : ' cursor'}`,
      url: (f: Fixture, s: Side) => `${O(f, s)}/consent/propagations?state=${state}${cursor}`,
    })),
  ),
  { path: '/v1/orgs/{orgId}/consent/notices/{version}', url: (f, s) => `${O(f, s)}/consent/notices/1` },
  ...(['material_change', 'lifetime_ended'] as const).map((reason) => ({
    path: '/v1/orgs/{orgId}/consent/reconsent',
    variant: reason,
    url: (f: Fixture, s: Side) => `${O(f, s)}/consent/reconsent?purpose=fixture&reason=${reason}`,
  })),
  {
    path: '/v1/orgs/{orgId}/consent/receipts/{eventId}',
    url: (f, s) => `${O(f, s)}/consent/receipts/${f.consentEvent[s]}`,
  },
  { path: '/v1/orgs/{orgId}/grants/{grantId}', url: (f, s) => `${O(f, s)}/grants/${f.grant[s]}` },
  { path: '/v1/orgs/{orgId}/access-reviews/{reviewId}', url: (f, s) => `${O(f, s)}/access-reviews/${f.review[s]}` },
  // The open review's items (OTHER of them for the big org, half decided): a page, a later
  // page, the undecided ones.
  {
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}/items',
    url: (f, s) => `${O(f, s)}/access-reviews/${f.review[s]}/items`,
  },
  {
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}/items',
    variant: 'cursor',
    url: (f, s) => `${O(f, s)}/access-reviews/${f.review[s]}/items?cursor=${ITEM_CURSOR}`,
  },
  {
    path: '/v1/orgs/{orgId}/access-reviews/{reviewId}/items',
    variant: 'decision=pending',
    url: (f, s) => `${O(f, s)}/access-reviews/${f.review[s]}/items?decision=pending&cursor=${ITEM_CURSOR}`,
  },
  // The least-privilege report (OTHER members for the big org) from within its members, and
  // from within its service accounts.
  ...[
    ['member', MEMBER_CURSOR],
    ['service_account', ACCOUNT_CURSOR],
  ].map(([variant, cursor]) => ({
    path: '/v1/orgs/{orgId}/least-privilege',
    variant: `cursor=${variant}`,
    url: (f: Fixture, s: Side) => `${O(f, s)}/least-privilege?cursor=${cursor}`,
  })),
  { path: '/v1/orgs/{orgId}/records/{recordId}', url: (f, s) => `${O(f, s)}/records/${f.record[s]}` },
  {
    path: '/v1/orgs/{orgId}/privacy-requests/{requestId}',
    url: (f, s) => `${O(f, s)}/privacy-requests/${f.request[s]}`,
  },
  { path: '/v1/orgs/{orgId}/privacy-exports/{exportId}', url: (f, s) => `${O(f, s)}/privacy-exports/${f.export[s]}` },
  {
    path: '/v1/orgs/{orgId}/erasure-certificates/{certificateId}',
    url: (f, s) => `${O(f, s)}/erasure-certificates/${f.certificate[s]}`,
  },
  { path: '/v1/orgs/{orgId}/alerts/{alertId}', url: (f, s) => `${O(f, s)}/alerts/${f.alert[s]}` },
  { path: '/v1/orgs/{orgId}/incidents/{incidentId}', url: (f, s) => `${O(f, s)}/incidents/${f.incident[s]}` },
  { path: '/v1/orgs/{orgId}/secrets/{secretId}', url: (f, s) => `${O(f, s)}/secrets/${f.secret[s]}` },
  {
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}',
    url: (f, s) => `${O(f, s)}/siem/destinations/${f.destination[s]}`,
  },
  {
    path: '/v1/orgs/{orgId}/webhook-deliveries/{deliveryId}',
    url: (f, s) => `${O(f, s)}/webhook-deliveries/${f.delivery[s]}`,
  },
  {
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}/dead-letters',
    url: (f, s) => `${O(f, s)}/siem/destinations/${f.destination[s]}/dead-letters`,
  },
  {
    path: '/v1/orgs/{orgId}/siem/destinations/{destinationId}/dead-letters',
    variant: 'cursor',
    url: (f, s) => `${O(f, s)}/siem/destinations/${f.destination[s]}/dead-letters?cursor=${NEWEST_CURSOR}`,
  },
  { path: '/v1/orgs/{orgId}/secrets/{secretId}/versions', url: (f, s) => `${O(f, s)}/secrets/${f.secret[s]}/versions` },
  // The same secret by its path, and the list by a prefix (a range of the name index).
  { path: '/v1/orgs/{orgId}/secrets/by-path', url: (f, s) => `${O(f, s)}/secrets/by-path?path=fixture` },
  {
    path: '/v1/orgs/{orgId}/secrets/by-path/versions',
    url: (f, s) => `${O(f, s)}/secrets/by-path/versions?path=fixture`,
  },
  { path: '/v1/orgs/{orgId}/secrets', variant: 'prefix', url: (f, s) => `${O(f, s)}/secrets?prefix=fix` },
  { path: '/v1/orgs/{orgId}/transit/keys/{name}', url: (f, s) => `${O(f, s)}/transit/keys/fixture` },
  { path: '/v1/orgs/{orgId}/secrets/{secretId}/rotation', url: (f, s) => `${O(f, s)}/secrets/${f.secret[s]}/rotation` },
  // The tree: proofs across the whole history, a full hash tile and an entry bundle.
  {
    path: '/v1/orgs/{orgId}/audit/proofs/inclusion',
    url: (f, s) => `${O(f, s)}/audit/proofs/inclusion?seq=1&size=${HISTORY}`,
  },
  {
    path: '/v1/orgs/{orgId}/audit/proofs/consistency',
    url: (f, s) => `${O(f, s)}/audit/proofs/consistency?from=1&to=${HISTORY}`,
  },
  { path: '/v1/orgs/{orgId}/audit/tile/{*}', url: (f, s) => `${O(f, s)}/audit/tile/0/000` },
  {
    path: '/v1/orgs/{orgId}/audit/events/{eventId}/receipt',
    url: (f, s) => `${O(f, s)}/audit/events/${f.event[s]}/receipt`,
  },
  {
    path: '/v1/orgs/{orgId}/audit/tile/{*}',
    variant: 'entries',
    url: (f, s) => `${O(f, s)}/audit/tile/entries/000`,
  },
  // Lists read from a cursor (a later page): the keyset condition must use the index too.
  ...Object.entries({
    members: OLDEST_CURSOR,
    'service-accounts': OLDEST_CURSOR,
    tokens: OLDEST_CURSOR,
    sessions: NEWEST_CURSOR,
    secrets: NAME_CURSOR,
    'data-sources': NAME_CURSOR,
    'transit/keys': NAME_CURSOR,
    webhooks: NAME_CURSOR,
    'webhook-deliveries': NEWEST_CURSOR,
    'siem/destinations': NAME_CURSOR,
    notifications: NEWEST_CURSOR,
    grants: NEWEST_CURSOR,
    'access-reviews': NEWEST_CURSOR,
    'privacy-requests': NEWEST_CURSOR,
    'erasure-certificates': NEWEST_CURSOR,
    'retention/runs': NEWEST_CURSOR,
    alerts: NEWEST_CURSOR,
    incidents: NEWEST_CURSOR,
    'audit/events': Buffer.from('a:999999999999999').toString('base64url'),
    'consent/purposes': NAME_CURSOR,
    'consent/notices': cursorOf(['2147483647']),
    'consent/objections': NEWEST_CURSOR,
    'consent/recipients': NAME_CURSOR,
    'consent/propagations': NEWEST_CURSOR,
    'compliance/runs': NEWEST_CURSOR,
    'compliance/history': NEWEST_CURSOR,
  }).map(([tail, cursor]) => ({
    path: `/v1/orgs/{orgId}/${tail}`,
    variant: 'cursor',
    url: (f: Fixture, s: Side) => `${O(f, s)}/${tail}?cursor=${cursor}`,
  })),
  // The dead letters alone (the history's deliveries were all delivered): none read but theirs.
  ...['', `&cursor=${NEWEST_CURSOR}`].map((cursor) => ({
    path: '/v1/orgs/{orgId}/webhook-deliveries',
    variant: `status=failed${cursor === '' ? '' : ' cursor'}`,
    url: (f: Fixture, s: Side) => `${O(f, s)}/webhook-deliveries?status=failed${cursor}`,
  })),
  { path: '/v1/me/notifications', variant: 'cursor', url: () => `/v1/me/notifications?cursor=${NEWEST_CURSOR}` },
  { path: '/v1/me/sessions', variant: 'cursor', url: () => `/v1/me/sessions?cursor=${NEWEST_CURSOR}` },
  { path: '/v1/me/orgs', variant: 'cursor', url: () => `/v1/me/orgs?cursor=${OLDEST_CURSOR}` },
  // Privacy requests of one status (the console's filter), from a cursor: in index order too.
  ...['open', 'completed'].map((status) => ({
    path: '/v1/orgs/{orgId}/privacy-requests',
    variant: `status=${status}`,
    url: (f: Fixture, s: Side) => `${O(f, s)}/privacy-requests?status=${status}&cursor=${NEWEST_CURSOR}`,
  })),
  // The events page with each filter, each matching few of the history's events.
  ...[
    'target=fixture-target',
    'actor=nobody-in-particular',
    'action=secret.rotate',
    'outcome=denied',
    'action=org.*',
    'origin=application',
    'origin=custodian',
    'origin=application&action=document.*',
  ].map((query) => ({
    path: '/v1/orgs/{orgId}/audit/events',
    variant: query,
    url: (f: Fixture, s: Side) => `${O(f, s)}/audit/events?${query}`,
  })),
  // The embedded viewer: its session, its events (scoped several ways, from a cursor), a
  // receipt across the whole history and its export, which pages through its scope.
  { path: '/v1/viewer/session', url: () => '/v1/viewer/session', token: (f, s) => f.viewer(s) },
  ...(
    [
      [undefined, '', undefined],
      ['actions=document.*,secret.rotate', '', { actions: ['document.*', 'secret.rotate'] }],
      ['actorId', '', { actorId: 'nobody-in-particular' }],
      ['action=org.*', '?action=org.*', { actions: ['org.*', 'member.*'] }],
      ['cursor', `?cursor=${Buffer.from('a:999999999999999').toString('base64url')}`, { actions: ['org.*', 'auth.*'] }],
    ] as const
  ).map(([variant, query, scope]) => ({
    path: '/v1/viewer/events',
    ...(variant === undefined ? {} : { variant }),
    url: () => `/v1/viewer/events${query}`,
    token: (f: Fixture, s: Side) => f.viewer(s, scope),
  })),
  {
    path: '/v1/viewer/events/{eventId}/receipt',
    url: (f, s) => `/v1/viewer/events/${f.event[s]}/receipt`,
    token: (f, s) => f.viewer(s),
  },
  { path: '/v1/viewer/export', url: () => '/v1/viewer/export?action=secret.rotate', token: (f, s) => f.viewer(s) },
]

/** Background jobs off: only the request's own statements run. */
const QUIET: Record<string, string> = Object.fromEntries(
  [
    'CUSTODIAN_DB_ROTATION_CHECK_MS',
    'CUSTODIAN_ACCESS_REVIEW_CHECK_MS',
    'CUSTODIAN_RETENTION_CHECK_MS',
    'CUSTODIAN_PRIVACY_CHECK_MS',
    'CUSTODIAN_INCIDENT_CHECK_MS',
    'CUSTODIAN_DISCLOSURE_CHECK_MS',
    'CUSTODIAN_OFFBOARDING_CHECK_MS',
  ]
    .map((name) => [name, '3600000'])
    .concat(
      [
        'CUSTODIAN_WEBHOOK_CHECK_MS',
        'CUSTODIAN_MAIL_CHECK_MS',
        'CUSTODIAN_ALERT_CHECK_MS',
        'CUSTODIAN_SHRED_RING_CHECK_MS',
        'CUSTODIAN_REWRAP_INTERVAL_MS',
      ].map((name) => [name, '600000']),
    ),
)

/**
 * Removes every table statistic of the schema, and keeps autovacuum from gathering new ones:
 * the column statistics (pg_statistic) and the row counts ANALYZE left in pg_class, as for
 * a table never analyzed. Needs a superuser (the test's owner connection is one).
 */
async function forgetStatistics(db: TestDatabase): Promise<void> {
  const tables = await sql<{ relname: string }>`
    SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = current_schema() AND c.relkind = 'r'`.execute(db.kysely)
  for (const { relname } of tables.rows)
    await sql`ALTER TABLE ${sql.id(relname)} SET (autovacuum_enabled = false)`.execute(db.kysely)
  await sql`
    DELETE FROM pg_statistic WHERE starelid IN (
      SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema())`.execute(
    db.kysely,
  )
  await sql`
    UPDATE pg_class SET reltuples = -1, relpages = 0, relallvisible = 0
     WHERE relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())`.execute(db.kysely)
}

async function buildFixture(app: TestApp): Promise<Fixture> {
  const provider = await bootstrapProvider(app)
  const a = await createCustomerOrg(app, provider, 'Big Org', 'owner@big.test')
  const b = await createCustomerOrg(app, provider, 'Small Org', 'owner@small.test')
  const call = async (org: Org, method: string, tail: string, body?: unknown) => {
    const response = await app.request({ method, url: `/v1/orgs/${org.orgId}${tail}`, token: org.ownerToken, body })
    assert.ok(response.status < 300, `${method} ${tail}: ${response.text}`)
    return response.body
  }
  const one = async (org: Org) => {
    const secret = (await call(org, 'POST', '/secrets', { name: 'fixture', type: 'api_key', value: 'fixture-value' }))
      .id as string
    await call(org, 'POST', '/transit/keys', { name: 'fixture' })
    const grant = (
      await app.request({
        method: 'POST',
        url: '/v1/operator/grants',
        token: provider.ownerToken,
        body: { orgId: org.orgId, reason: 'row bounds', permissions: ['org:read'] },
      })
    ).body.id as string
    const review = (await call(org, 'POST', '/access-reviews')).id as string
    const record = (
      await call(org, 'POST', '/records', { subjectId: 'fixture-subject', dataClass: 'contact', payload: { x: 1 } })
    ).id as string
    const request = (await call(org, 'POST', '/privacy-requests', { kind: 'rectify', subjectId: 'fixture-subject' }))
      .id as string
    const access = (
      await call(org, 'POST', '/privacy-requests', {
        kind: 'access',
        subjectId: 'fixture-subject',
        verification: { method: 'fixture' },
      })
    ).id as string
    const exported = (await call(org, 'POST', `/privacy-requests/${access}/complete`, {})).exportId as string
    await call(org, 'POST', '/webhooks', {
      name: 'fixture',
      url: 'https://hooks.fixture.test/erase',
      events: ['erasure.requested', 'notifications'],
    })
    const destination = (
      await call(org, 'POST', '/siem/destinations', {
        name: 'fixture',
        kind: 'jsonl',
        url: 'https://siem.fixture.test/in',
      })
    ).id as string
    // Consent (P7.7): a recipient, a purpose, a notice version and an objection under review.
    const recipient = (
      await call(org, 'POST', '/consent/recipients', {
        name: 'Fixture Recipient',
        url: 'https://recipient.fixture.test/consent',
        deadlineHours: 24,
      })
    ).id as string
    await call(org, 'POST', '/consent/purposes', {
      key: 'fixture',
      name: 'Fixture',
      lawfulBasis: 'legitimate_interests',
    })
    await call(org, 'POST', '/consent/notices', {
      language: 'en',
      text: 'Fixture notice.',
      purposes: ['fixture'],
      materialChange: false,
    })
    const consentEvent = (
      await call(org, 'POST', '/consent/events', {
        id: 'fixture-objection',
        subject: 'fixture-subject',
        purpose: 'fixture',
        action: 'object',
        method: 'form',
      })
    ).event.id as string
    const alert = await withOrg(
      app.db.kysely,
      org.orgId,
      async (trx) =>
        (await app.app.services.alerts.raiseIn(trx, org.orgId, 'plan_review_overdue', {
          key: 'fixture',
          title: 'fixture',
          details: {},
        })) as string,
    )
    const plan = await call(org, 'POST', '/response-plan/types', {
      name: 'fixture-type',
      defaultSeverity: 'high',
      playbook: ['contain'],
    })
    const incident = (await call(org, 'POST', '/incidents', { typeId: plan.types[0].id, title: 'fixture incident' }))
      .id as string
    return {
      secret,
      grant,
      review,
      record,
      request,
      export: exported,
      alert,
      incident,
      destination,
      consentEvent,
      recipient,
    }
  }
  const [ia, ib] = [await one(a), await one(b)]
  for (const email of ['owner@big.test', 'owner@small.test']) {
    const login = await app.request({ method: 'POST', url: '/v1/login', body: { email, password: PASSWORD } })
    assert.ok(login.status < 300, login.text)
  }
  const submitted = await app.request({
    method: 'POST',
    url: '/v1/vulnerability-reports',
    body: {
      title: 'fixture',
      location: 'here',
      impact: 'some',
      steps: 'these',
      attachments: [{ filename: 'a.txt', contentType: 'text/plain', data: 'AAAA' }],
    },
  })
  assert.equal(submitted.status, 201, submitted.text)
  const report = (await app.db.kysely.selectFrom('vulnerability_reports').select('id').executeTakeFirstOrThrow()).id
  const pick = <K extends keyof typeof ia>(key: K) => ({ a: ia[key], b: ib[key] })
  return {
    provider,
    a,
    b,
    report,
    secret: pick('secret'),
    grant: pick('grant'),
    review: pick('review'),
    record: pick('record'),
    request: pick('request'),
    export: pick('export'),
    alert: pick('alert'),
    incident: pick('incident'),
    destination: pick('destination'),
    consentEvent: pick('consentEvent'),
    recipient: pick('recipient'),
    event: { a: await firstEvent(a), b: await firstEvent(b) },
    viewer: async (side, scope = {}) => {
      const org = side === 'a' ? a : b
      const minted = await app.request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/audit/viewer-tokens`,
        token: org.ownerToken,
        body: { origin: 'https://app.bounds.test', ...scope },
      })
      assert.equal(minted.status, 201, minted.text)
      return minted.body.token as string
    },
    certificate: { a: await certificateOf(a, ia.request), b: await certificateOf(b, ib.request) },
    delivery: { a: await deadLetterOf(a), b: await deadLetterOf(b) },
  }

  /** A dead letter of the org's webhook. */
  async function deadLetterOf(org: Org): Promise<string> {
    const hook = await app.db.kysely
      .selectFrom('webhooks')
      .select('id')
      .where('org_id', '=', org.orgId)
      .executeTakeFirstOrThrow()
    return insertDeadLetter(app, org.orgId, hook.id)
  }

  /** A certificate row naming the org's first event, so that its receipt is proved across the whole history. */
  async function certificateOf(org: Org, requestId: string): Promise<string> {
    const id = randomUUID()
    await app.db.kysely
      .insertInto('erasure_certificates')
      .values({
        id,
        org_id: org.orgId,
        request_id: requestId,
        jws: 'e30.e30.AA',
        issued_at: new Date(),
        audit_event_id: await firstEvent(org),
      })
      .execute()
    return id
  }

  async function firstEvent(org: Org): Promise<string> {
    const row = await app.db.kysely
      .selectFrom('audit_events')
      .select('event_id')
      .where('org_id', '=', org.orgId)
      .orderBy('id')
      .limit(1)
      .executeTakeFirstOrThrow()
    return row.event_id
  }
}

function describe(statement: StatementCost | undefined): string {
  if (statement === undefined) return 'no statements'
  return `${statement.rows} rows (${JSON.stringify(statement.relations)}) in: ${statement.sql.replace(/\s+/g, ' ').slice(0, 300)}`
}

const worst = (statements: StatementCost[]) => [...statements].sort((x, y) => y.rows - x.rows)[0]

forEachEngine(
  `every GET route reads a bounded number of rows, whatever the org’s history (issue 20)${STATISTICS === 'absent' ? ', without table statistics' : ''}`,
  (engine: Engine) => {
    const recorder = new StatementRecorder()
    let db: TestDatabase | undefined
    let app: TestApp | undefined
    let f: Fixture
    before(async () => {
      db = await createTestDatabase(engine, { wrapDialect: (dialect) => recorder.wrapDialect(dialect) })
      app = await startTestApp(engine, db, {
        CUSTODIAN_AUTH_RATE_LIMIT: '100000',
        CUSTODIAN_REPORT_RATE_LIMIT: '1000',
        CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '60000',
        ...QUIET,
      })
      f = await buildFixture(app)
      // Chain what the fixture wrote, so that the history appended below extends a real head.
      await app.app.sequencer.flush()
      await app.app.services.shredding.pass()
      await growHistory(
        db.kysely,
        {
          ...f.a,
          secret: f.secret.a,
          grant: f.grant.a,
          review: f.review.a,
          request: f.request.a,
          alert: f.alert.a,
          incident: f.incident.a,
        },
        {
          events: HISTORY,
          checkpoints: HISTORY,
          subjects: HISTORY,
          secretVersions: OTHER,
          members: OTHER,
          tokens: OTHER,
          other: OTHER,
        },
      )
      if (STATISTICS === 'absent') await forgetStatistics(db)
    })
    after(async () => {
      await app?.app.close()
      await db?.close()
    })

    it('lists every GET route of the OpenAPI document', async () => {
      const doc = (await (app as TestApp).request({ method: 'GET', url: '/openapi.json' })).body
      const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
        .filter(([, ops]) => 'get' in ops)
        .map(([path]) => path)
      assert.deepEqual(new Set(ROUTES.map((r) => r.path)), new Set(documented))
    })

    for (const job of JOBS) {
      it(`periodic job ${job.name}: a run with nothing due reads at most ${JOB_ROW_BOUND} rows per statement`, {
        todo: job.todo ?? false,
      }, async () => {
        const t = app as TestApp
        for (let i = 0; i < (job.settle ?? 1); i++) await job.run(t) // what the fixture and the history made due
        const { statements } = await recorder.record(() => job.run(t))
        for (const statement of statements) {
          assert.ok(statement.rows <= JOB_ROW_BOUND, `${job.name}: ${describe(statement)}`)
        }
      })
    }

    for (const route of ROUTES) {
      const label = `GET ${route.path}${route.variant === undefined ? '' : `?${route.variant}`}`
      const exempt = EXEMPT[label]
      const todo = KNOWN_TODO[label] ?? (STATISTICS === 'absent' ? WITHOUT_STATISTICS[label] : undefined)
      it(`${label}: at most ${STATEMENT_BOUND} statements, each reading at most ${ROW_BOUND} rows, for an org with ${HISTORY} events`, {
        skip: exempt ?? false,
        todo: todo ?? false,
      }, async () => {
        const t = app as TestApp
        const measure = async (side: Side) => {
          const token = (await route.token?.(f, side)) ?? f[side].ownerToken
          const { result, statements } = await recorder.record(() =>
            t.request({ method: 'GET', url: route.url(f, side), token }),
          )
          assert.ok(result.status < 500, `${label} (${side}): ${result.status} ${result.text.slice(0, 300)}`)
          // A cursor refused would measure nothing of the page it stands for.
          if (route.variant === 'cursor') assert.equal(result.status, 200, `${label} (${side}): ${result.text}`)
          return statements
        }
        const small = await measure('b')
        const big = await measure('a')
        assert.ok(big.length > 0 || small.length === 0, `${label}: no statements measured`)
        assert.ok(
          big.length <= STATEMENT_BOUND,
          `${label}: the big org's page sent ${big.length} statements, more than ${STATEMENT_BOUND}: ${big
            .slice(0, 5)
            .map(describe)
            .join('; ')}`,
        )
        for (const statement of big) {
          assert.ok(
            statement.rows <= ROW_BOUND,
            `${label}: for the big org, ${describe(statement)} — the small org's worst: ${describe(worst(small))}`,
          )
        }
        // The small org must not pay for the big one's history either (a plan that walks
        // every org's rows in the page's order and filters).
        for (const statement of small) {
          assert.ok(statement.rows <= ROW_BOUND, `${label}: for the small org, ${describe(statement)}`)
        }
      })
    }
  },
)
