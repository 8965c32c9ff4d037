import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before } from 'node:test'
import { sql } from 'kysely'
import { buildApp, type App } from '../../src/app.ts'
import { loadConfig } from '../../src/config.ts'
import { deriveKey, ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import type { RootKeyProvider } from '../../src/crypto/providers/provider.ts'
import { createLogger } from '../../src/logger.ts'
import type { Logger } from 'pino'
import type { Engine } from '../../src/db/connect.ts'
import type { Clock } from '../../src/clock.ts'
import type { Resolve } from '../../src/http/outbound.ts'
import { createTestDatabase, type TestDatabase } from './db.ts'
import { enrolTotp } from './totp.ts'
import type { JsonBody } from './json.ts'

export interface TestApp {
  app: App
  db: TestDatabase
  engine: Engine
  /** Sends a request through the whole Fastify stack (hooks, validation, serialization). */
  request(options: {
    method: string
    url: string
    token?: string | undefined
    body?: unknown
    payload?: string | Buffer
    headers?: Record<string, string>
    remoteAddress?: string
  }): Promise<TestResponse>
}

export interface TestResponse {
  status: number
  headers: Record<string, string | string[] | number | undefined>
  body: JsonBody
  text: string
  /** The body's bytes (binary answers: tiles). */
  raw: Buffer
}

/**
 * Call in a suite's body: the app on the suite's own database, built before its tests and
 * closed after them. Returns an accessor.
 */
/** A clock tests move forward instead of sleeping (time-boxed rules read it at every use). */
export interface TestClock {
  clock: Clock
  advance(ms: number): void
}

export function testClock(): TestClock {
  let offset = 0
  return { clock: () => new Date(Date.now() + offset), advance: (ms) => void (offset += ms) }
}

export function useTestApp(
  engine: Engine,
  env: Record<string, string> = {},
  logger?: Logger,
  rootKeyProvider?: () => Promise<RootKeyProvider>,
  options: { clock?: Clock; rootKey?: Buffer; resolve?: Resolve } = {},
): () => TestApp {
  let testApp: TestApp | undefined
  let db: TestDatabase | undefined
  before(async () => {
    db = await createTestDatabase(engine)
    testApp = await startTestApp(
      engine,
      db,
      env,
      logger,
      await rootKeyProvider?.(),
      options.clock,
      options.rootKey,
      options.resolve,
    )
  })
  after(async () => {
    try {
      await testApp?.app.close()
    } finally {
      await db?.close()
    }
  })
  return () => {
    if (testApp === undefined) throw new Error('app used outside the suite’s tests')
    return testApp
  }
}

/** `rootKey`: the deployment's root key, for a test that opens a second app on the same deployment (a restored dump). */
export async function startTestApp(
  engine: Engine,
  db: TestDatabase,
  env: Record<string, string> = {},
  logger?: Logger,
  rootKeyProvider?: RootKeyProvider,
  clock?: Clock,
  rootKey: Buffer = randomBytes(32),
  resolve?: Resolve,
): Promise<TestApp> {
  // Test receivers (webhooks, OpenID providers, SMTP) listen on loopback only: allowed here, as an operator would.
  const config = loadConfig({
    CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-test-')),
    CUSTODIAN_LOG_LEVEL: 'silent',
    CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '50',
    CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32,::1/128',
    ...env,
  })
  const app = await buildApp({
    config,
    database: db,
    signer: ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1')),
    hmacKey: deriveKey(rootKey, 'audit-hmac-v1'),
    rootKey: rootKeyProvider ?? createLocalProvider(rootKey),
    logger: logger ?? createLogger(config),
    ...(clock === undefined ? {} : { clock }),
    // Names never reach DNS in tests: every one resolves to 127.0.0.1 unless a test resolves them itself.
    outboundResolve: resolve ?? (async () => [{ address: '127.0.0.1', family: 4 }]),
  })
  await app.ready()
  return {
    app,
    db,
    engine,
    async request({ method, url, token, body, payload, headers = {}, remoteAddress }) {
      const response = await app.inject({
        method: method as 'GET',
        url,
        ...(remoteAddress === undefined ? {} : { remoteAddress }),
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(body === undefined && payload === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        payload: payload ?? (body === undefined ? undefined : JSON.stringify(body)),
      })
      let parsed: JsonBody
      try {
        parsed = response.body === '' ? {} : (JSON.parse(response.body) as JsonBody)
      } catch {
        parsed = {}
      }
      return {
        status: response.statusCode,
        headers: response.headers,
        body: parsed,
        text: response.body,
        raw: response.rawPayload,
      }
    },
  }
}

export const PASSWORD = 'correct horse battery staple'

export interface Org {
  orgId: string
  ownerToken: string
  ownerId: string
  /** The owner's TOTP seed, where the owner enrolled (operators must). */
  totpSecret?: string
  /** And its recovery codes (each works once). */
  recoveryCodes?: string[]
}

/**
 * Bootstraps the provider org and its owner, who then enrols in TOTP: operators need a
 * second factor before anything else (P3.2). `enrol: false` leaves the owner unenrolled.
 */
export async function bootstrapProvider(
  t: TestApp,
  email = 'owner@provider.test',
  options: { enrol?: boolean } = {},
): Promise<Org> {
  const { token } = await t.app.services.auth.issueBootstrapToken()
  const response = await t.request({
    method: 'POST',
    url: '/v1/bootstrap',
    body: { token, orgName: 'Provider', email, password: PASSWORD },
  })
  if (response.status !== 201) throw new Error(`bootstrap failed: ${response.text}`)
  const org: Org = { orgId: response.body.orgId, ownerToken: response.body.apiToken, ownerId: response.body.userId }
  if (options.enrol === false) return org
  const { secret, recoveryCodes } = await enrolTotp((method, url, body) =>
    t.request({ method, url, token: org.ownerToken, body }),
  )
  return { ...org, totpSecret: secret, recoveryCodes }
}

/** A customer org created by the provider, with its first owner signed up through the invitation. */
export async function createCustomerOrg(t: TestApp, provider: Org, name: string, ownerEmail: string): Promise<Org> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/orgs',
    token: provider.ownerToken,
    body: { name, ownerEmail },
  })
  if (created.status !== 201) throw new Error(`org create failed: ${created.text}`)
  const accepted = await t.request({
    method: 'POST',
    url: '/v1/invitations/accept',
    body: { token: created.body.invitation.token, password: PASSWORD },
  })
  if (accepted.status !== 201) throw new Error(`accept failed: ${accepted.text}`)
  return { orgId: created.body.org.id, ownerToken: accepted.body.apiToken, ownerId: accepted.body.userId }
}

/** A service account holding `role` and an API token for it (fast: no password hashing). */
export async function principalWithRole(
  t: TestApp,
  org: Org,
  role: string,
): Promise<{ token: string; serviceAccountId: string }> {
  const name = `sa-${role.replace(/[^a-z0-9]/g, '')}-${randomBytes(3).toString('hex')}`
  const account = await t.request({
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/service-accounts`,
    token: org.ownerToken,
    body: { name, role },
  })
  if (account.status !== 201) throw new Error(`service account failed: ${account.text}`)
  const token = await t.request({
    method: 'POST',
    url: `/v1/orgs/${org.orgId}/tokens`,
    token: org.ownerToken,
    body: { name, expiresInDays: 1, serviceAccountId: account.body.id },
  })
  if (token.status !== 201) throw new Error(`token failed: ${token.text}`)
  return { token: token.body.token, serviceAccountId: account.body.id }
}

/**
 * A digest of every table but the audit log's (refusals append there by design), with
 * last-use timestamps left out: "nothing changed" means this is equal before and after.
 */
export async function fingerprint(t: TestApp): Promise<string> {
  const tables = [
    'orgs',
    'users',
    'memberships',
    'service_accounts',
    'api_tokens',
    'sessions',
    'invitations',
    'custom_roles',
    'bootstrap_tokens',
    'org_security_policies',
    'user_mfa',
    'org_sso_configs',
    'sso_identities',
    'sso_login_states',
    'access_grants',
    'access_grant_approvals',
    'org_grant_policies',
    'access_reviews',
    'access_review_items',
    'access_review_policies',
    'subject_keys',
    'data_records',
    'retention_policies',
    'privacy_requests',
    'privacy_request_events',
    'privacy_exports',
    'webhooks',
    'webhook_deliveries',
    'siem_destinations',
    'siem_dead_letters',
    'erasure_certificates',
    'org_privacy_policies',
    'org_offboardings',
    'shred_ring_pending',
    'alerts',
    'alert_rule_settings',
    'incident_types',
    'escalation_policies',
    'breach_party_rules',
    'response_plan_versions',
    'response_plan_reviews',
    'response_plan_state',
    'incidents',
    'incident_steps',
    'incident_timeline',
    'incident_links',
    'breach_notifications',
    'vulnerability_reports',
    'vulnerability_report_attachments',
    'vulnerability_report_messages',
    'notifications',
    'audit_app_events',
    'audit_event_schemas',
    'audit_viewer_tokens',
    'consent_purposes',
    'consent_notices',
    'consent_events',
    'consent_state',
    'consent_objections',
    'consent_page_links',
  ]
  // One statement, one round trip: `<table>:<digest>` for every table, space-separated. The
  // route matrix takes two fingerprints per check, over a thousand checks a file and engine.
  const digests = tables.map(
    (table) => sql`${sql.lit(`${table}:`)} || (
      SELECT md5(coalesce(string_agg((to_jsonb(t) - 'last_used_at' - 'last_seen_at')::text, ',' ORDER BY (to_jsonb(t) - 'last_used_at' - 'last_seen_at')::text), ''))
        FROM ${sql.table(table)} AS t
    )`,
  )
  const result = await sql<{ fingerprint: string }>`SELECT concat_ws(' ', ${sql.join(digests)}) AS fingerprint`.execute(
    t.db.kysely,
  )
  return result.rows[0]?.fingerprint as string
}

/** Audit events of an org, oldest first, straight from the table (owner connection). */
export async function auditActions(
  t: TestApp,
  orgId: string,
): Promise<{ action: string; outcome: string; details: Record<string, unknown>; actor_id: string | null }[]> {
  return t.db.kysely
    .selectFrom('audit_events')
    .select(['action', 'outcome', 'details', 'actor_id'])
    .where('org_id', '=', orgId)
    .orderBy('id')
    .execute()
}

/**
 * A dead-lettered delivery to the org's webhook `webhookId`, as the webhook worker leaves one
 * whose payload is erased (the flow itself: test/notify/webhook-retry.test.ts); its id.
 */
export async function insertDeadLetter(t: TestApp, orgId: string, webhookId: string): Promise<string> {
  const id = randomUUID()
  const now = new Date()
  await t.db.kysely
    .insertInto('webhook_deliveries')
    .values({
      id,
      org_id: orgId,
      webhook_id: webhookId,
      webhook_name: 'fixture',
      destination: 'hooks.fixture.test',
      request_id: null,
      event: 'notifications',
      kek_version: null,
      wrapped_key: null,
      sealed: null,
      status: 'failed',
      attempts: 8,
      next_attempt_at: now,
      dead_lettered_at: now,
      last_status: 503,
      last_error: 'HTTP 503',
      delivered_at: null,
      created_at: now,
    })
    .execute()
  return id
}
