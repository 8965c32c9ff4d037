import assert from 'node:assert/strict'
import { sql, type Kysely } from 'kysely'
import type { DB } from '../../src/db/schema.ts'
import type { TestApp } from './app.ts'
import { collectBacklog } from '../../src/observability/metrics.queries.ts'

/**
 * An org's long history, built with SQL in seconds where the API would take hours: used
 * by the row-bound test (test/perf/row-bounds.test.ts, 20,000 events) and the bench at
 * production sizes (bench/sizes.ts, 1,000,000 events). Each table is filled by one
 * `INSERT … SELECT` over `generate_series` (copies of a row the API made, or rows written
 * whole), then everything is analyzed, as autovacuum would.
 *
 * What is synthetic: the audit events' chain (`prev_hash`, `hash` are one zero byte, `seq`
 * continues the real head, `chained_at` is now), so whatever verifies the chain (the
 * verification and export routes, the periodic chain check) fails at the first synthetic
 * event; the checkpoints repeat the real head checkpoint's hash and signature at later
 * `seq`s; members have no password and tokens no usable secret. Everything a page, a
 * filter or a job reads (org, times, actions, statuses, foreign keys) is real.
 */
export interface HistorySizes {
  /** Audit events appended to the org's chain. */
  events: number
  /** Signed checkpoints after the org's real last one. */
  checkpoints: number
  /** Data subjects, each with a live key sealed under the shred ring's current epoch. */
  subjects: number
  /** Versions added to one secret. */
  secretVersions: number
  /** Members (users with a viewer membership). */
  members: number
  /** API tokens, one per member (up to `members`) and the rest the owner's. */
  tokens: number
  /** Rows in each other history table: grants, reviews, the open review's items (half of
   * them decided), privacy requests, alerts, incidents, sessions, notifications, webhook
   * deliveries, retention runs, dead letters of the org's first SIEM destination (if any),
   * consent recipients and propagations (a third each pending, acknowledged, overdue and alerted). */
  other: number
}

/** The org to grow and one row of each kind it already holds (made through the API), to copy. */
export interface HistoryOrg {
  orgId: string
  ownerId: string
  secret: string
  grant: string
  review: string
  request: string
  alert: string
  incident: string
}

/** Runs a script of statements separated by `;` at line ends. */
async function script(db: Kysely<DB>, text: string): Promise<void> {
  for (const statement of text
    .split(/;\s*\n/)
    .map((x) => x.trim())
    .filter(Boolean))
    await sql.raw(statement).execute(db)
}

/** Copies one row `count` times with fresh values from `overrides` (SQL over the copy `r` and its number `g`). */
async function cloneRows(
  db: Kysely<DB>,
  table: string,
  where: string,
  count: number,
  overrides: string,
): Promise<void> {
  if (count === 0) return
  const result = await sql
    .raw(`
    INSERT INTO ${table}
    SELECT (jsonb_populate_record(NULL::${table}, to_jsonb(r) || ${overrides})).*
      FROM (SELECT * FROM ${table} WHERE ${where} LIMIT 1) AS r CROSS JOIN generate_series(1, ${count}) AS g
  `)
    .execute(db)
  assert.equal(Number(result.numAffectedRows), count, `${table}: ${count} copies`)
}

/**
 * Appends `events` audit events to the org's chain and `checkpoints` checkpoints after
 * its last one, and moves the head past both. The one place that writes the synthetic
 * chain: when the chain's columns move, only this function changes. The org's events must
 * all be chained (call the sequencer's flush first).
 */
export async function appendAuditHistory(
  db: Kysely<DB>,
  org: Pick<HistoryOrg, 'orgId' | 'ownerId'>,
  sizes: Pick<HistorySizes, 'events' | 'checkpoints'>,
): Promise<void> {
  const a = org.orgId
  const head = await db.selectFrom('audit_heads').select('seq').where('org_id', '=', a).executeTakeFirstOrThrow()
  await script(
    db,
    `
    INSERT INTO audit_events (org_id, event_id, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome, details)
    SELECT '${a}', gen_random_uuid(), now() - greatest(interval '1 day', ${sizes.events} * interval '1 second') + g * interval '1 second', 'user', '${org.ownerId}',
           (ARRAY['secret.read', 'secret.create', 'member.invite', 'token.create'])[1 + g % 4], 'secret', gen_random_uuid()::text, 'success', '{}'
      FROM generate_series(1, ${sizes.events}) AS g;
    INSERT INTO audit_chain (org_id, seq, id, prev_hash, hash)
    SELECT org_id, ${head.seq} + row_number() OVER (ORDER BY id), id, '\\x00', '\\x00'
      FROM audit_events e
     WHERE org_id = '${a}' AND id > (SELECT coalesce(max(id), 0) FROM audit_chain WHERE org_id = '${a}')
       AND NOT EXISTS (SELECT 1 FROM audit_unchained u WHERE u.id = e.id);
    INSERT INTO audit_checkpoints (org_id, seq, hash, signed_at, key_id, signature, note, root_hash)
    SELECT org_id, seq + g, hash, signed_at + g * interval '1 second', key_id, signature, note, root_hash
      FROM (SELECT * FROM audit_checkpoints WHERE org_id = '${a}' ORDER BY seq DESC LIMIT 1) AS c CROSS JOIN generate_series(1, ${sizes.checkpoints}) AS g;
    UPDATE audit_heads SET seq = seq + ${sizes.events}, checkpoint_seq = checkpoint_seq + ${sizes.checkpoints} WHERE org_id = '${a}';
    -- The Merkle tree's tiles (synthetic hashes, the real shape): proofs and tiles read what they would.
    UPDATE audit_heads SET tree_size = seq WHERE org_id = '${a}';
    INSERT INTO audit_tiles (org_id, level, n, hashes)
    SELECT '${a}', 0, n, decode(repeat('00', 32 * least(256, h.seq - n * 256)::int), 'hex')
      FROM audit_heads h CROSS JOIN generate_series(0, (SELECT (seq - 1) / 256 FROM audit_heads WHERE org_id = '${a}')) AS n
     WHERE h.org_id = '${a}'
    ON CONFLICT (org_id, level, n) DO UPDATE SET hashes = excluded.hashes;
    INSERT INTO audit_tiles (org_id, level, n, hashes)
    SELECT '${a}', 1, n, decode(repeat('00', 32 * least(256, h.seq / 256 - n * 256)::int), 'hex')
      FROM audit_heads h CROSS JOIN generate_series(0, (SELECT (seq / 256 - 1) / 256 FROM audit_heads WHERE org_id = '${a}')) AS n
     WHERE h.org_id = '${a}' AND h.seq >= 256
    ON CONFLICT (org_id, level, n) DO UPDATE SET hashes = excluded.hashes;
    INSERT INTO audit_tiles (org_id, level, n, hashes)
    SELECT '${a}', 2, 0, decode(repeat('00', 32 * (seq / 65536)::int), 'hex') FROM audit_heads WHERE org_id = '${a}' AND seq >= 65536
    ON CONFLICT (org_id, level, n) DO UPDATE SET hashes = excluded.hashes;
  `,
  )
}

/** Members (ids derived from the org and their number) and their API tokens (the rest of `tokens` the owner's), in SQL. */
async function addMembersAndTokens(
  db: Kysely<DB>,
  org: HistoryOrg,
  sizes: Pick<HistorySizes, 'members' | 'tokens'>,
): Promise<void> {
  const a = org.orgId
  const member = (g: string) => `md5('${a}/member/' || ${g})::uuid`
  await script(
    db,
    `
    INSERT INTO users (id, email, created_at)
    SELECT ${member('g')}, 'member-' || g || '-${a}@history.test', now() - g * interval '1 minute'
      FROM generate_series(1, ${sizes.members}) AS g;
    INSERT INTO memberships (org_id, user_id, role, created_at)
    SELECT '${a}', ${member('g')}, 'viewer', now() - g * interval '1 minute' FROM generate_series(1, ${sizes.members}) AS g;
    INSERT INTO api_tokens (id, org_id, user_id, name, secret_hash, expires_at, created_at, created_by)
    SELECT gen_random_uuid(), '${a}', CASE WHEN g <= ${sizes.members} THEN ${member('g')} ELSE '${org.ownerId}' END, 'history-' || g,
           sha256(convert_to(gen_random_uuid()::text, 'UTF8')), now() + interval '90 days', now() - g * interval '1 minute', 'history'
      FROM generate_series(1, ${sizes.tokens}) AS g;
  `,
  )
}

/**
 * Grows `org`'s history to `sizes` (see {@link HistorySizes}) and analyzes every table.
 * The audit chain is extended by {@link appendAuditHistory}; everything else is copied
 * from the rows `org` names or written whole.
 */
export async function growHistory(db: Kysely<DB>, org: HistoryOrg, sizes: HistorySizes): Promise<void> {
  const a = org.orgId
  const n = sizes.other
  await appendAuditHistory(db, org, sizes)
  const id = `jsonb_build_object('id', gen_random_uuid())`
  const past = (column: string) => `jsonb_build_object('${column}', r.${column} - g * interval '1 minute')`
  await cloneRows(
    db,
    'access_grants',
    `id = '${org.grant}'`,
    n,
    `${id} || ${past('requested_at')} || jsonb_build_object('status', 'withdrawn', 'ended_at', now())`,
  )
  await cloneRows(
    db,
    'access_reviews',
    `id = '${org.review}'`,
    n,
    `${id} || ${past('started_at')} || jsonb_build_object('status', 'closed', 'closed_at', now(), 'closed_by', 'fixture')`,
  )
  // The open review's items, half of them decided, and its counts kept as the service keeps them.
  await cloneRows(
    db,
    'access_review_items',
    `review_id = '${org.review}'`,
    n,
    `${id} || CASE WHEN g % 2 = 0 THEN jsonb_build_object('decision', 'certify', 'decided_by', 'fixture', 'decided_at', now()) ELSE '{}' END`,
  )
  await sql`UPDATE access_reviews r
               SET items_total = (SELECT count(*) FROM access_review_items i WHERE i.review_id = r.id),
                   items_decided = (SELECT count(decision) FROM access_review_items i WHERE i.review_id = r.id)
             WHERE r.id = ${org.review}`.execute(db)
  await cloneRows(
    db,
    'privacy_requests',
    `id = '${org.request}'`,
    n,
    `${id} || ${past('received_at')} || jsonb_build_object('status', 'completed', 'completed_at', now(), 'sealed', null)`,
  )
  await cloneRows(
    db,
    'alerts',
    `id = '${org.alert}'`,
    n,
    `${id} || ${past('last_seen_at')} || jsonb_build_object('status', 'resolved', 'dedupe_key', 'old-' || g)`,
  )
  await cloneRows(
    db,
    'incidents',
    `id = '${org.incident}'`,
    n,
    `${id} || ${past('opened_at')} || jsonb_build_object('status', 'closed', 'closed_at', now())`,
  )
  await cloneRows(
    db,
    'secret_versions',
    `secret_id = '${org.secret}'`,
    sizes.secretVersions,
    `jsonb_build_object('version', r.version + g)`,
  )
  await sql`UPDATE secrets SET current_version = current_version + ${sizes.secretVersions} WHERE id = ${org.secret}`.execute(
    db,
  )
  await cloneRows(
    db,
    'sessions',
    `org_id = '${a}' AND user_id = '${org.ownerId}'`,
    n,
    `${id} || ${past('created_at')} || jsonb_build_object('expires_at', now() - interval '1 day', 'revoked_at', now() - interval '1 day')`,
  )
  await script(
    db,
    `
    INSERT INTO notifications (id, org_id, kind, recipient_user_id, subject, body, created_at, delivered_at, status, next_attempt_at)
    SELECT gen_random_uuid(), '${a}', 'fixture', '${org.ownerId}', 'old news', 'old news', now() - g * interval '1 minute', now(), 'delivered', now()
      FROM generate_series(1, ${n}) AS g;
    INSERT INTO webhook_deliveries (id, org_id, webhook_id, webhook_name, destination, event, status, next_attempt_at, delivered_at, created_at)
    SELECT gen_random_uuid(), '${a}', w.id, w.name, w.url, 'notifications', 'delivered', now(), now(), now() - g * interval '1 minute'
      FROM (SELECT * FROM webhooks WHERE org_id = '${a}' LIMIT 1) AS w CROSS JOIN generate_series(1, ${n}) AS g;
    INSERT INTO consent_recipients (id, org_id, name, url, secret_id, deadline_hours, created_at, created_by, updated_at)
    SELECT gen_random_uuid(), '${a}', 'recipient ' || g, 'https://recipient.fixture.test/' || g, gen_random_uuid(), 24, now(), 'fixture', now()
      FROM generate_series(1, ${n}) AS g;
    INSERT INTO consent_propagations (id, org_id, recipient_id, recipient_name, action, purposes, token_hash, deadline_at, created_at, acknowledged_at, overdue_alerted_at)
    SELECT gen_random_uuid(), '${a}', gen_random_uuid(), 'recipient ' || g, 'withdraw', ARRAY['fixture'], decode(md5(g::text) || md5('p' || g::text), 'hex'),
        now() + CASE WHEN g % 3 = 2 THEN -1 ELSE 1 END * interval '1 day' + g * interval '1 second',
        now() - g * interval '1 minute',
        CASE WHEN g % 3 = 0 THEN now() - g * interval '1 second' END,
        CASE WHEN g % 3 = 2 THEN now() END
      FROM generate_series(1, ${n}) AS g;
    INSERT INTO retention_runs (id, org_id, ran_at, purged, classes)
    SELECT gen_random_uuid(), '${a}', now() - g * interval '1 minute', 0, '[]' FROM generate_series(1, ${n}) AS g;
    INSERT INTO siem_dead_letters (id, org_id, destination_id, from_seq, to_seq, attempts, last_error, created_at, resolution, resolved_at, resolved_by)
    SELECT gen_random_uuid(), '${a}', d.id, g, g, 10, 'HTTP 503', now() - g * interval '1 minute', 'retried', now(), 'fixture'
      FROM (SELECT * FROM siem_destinations WHERE org_id = '${a}' LIMIT 1) AS d CROSS JOIN generate_series(1, ${n}) AS g;
  `,
  )
  // Data subjects, each with a live key already sealed under the shred ring's current epoch.
  await cloneRows(
    db,
    'subject_keys',
    `org_id = '${a}' AND ring_epoch IS NOT NULL`,
    sizes.subjects,
    `jsonb_build_object('subject_ref', decode(md5(g::text), 'hex'), 'key_id', gen_random_uuid())`,
  )
  await addMembersAndTokens(db, org, sizes)
  // What autovacuum does on a healthy server. Without statistics PostgreSQL estimates an
  // org's rows at a fraction of a percent of the table and prefers a bitmap scan and a
  // sort to the index's order, reading the whole org (the "autovacuum off"
  // measurement).
  await sql`ANALYZE`.execute(db)
}

/** A periodic job, run as its timer would; `drains`: work comes in batches, run it until it has caught up before measuring. */
export interface PeriodicJob {
  name: string
  run: (t: TestApp) => Promise<unknown>
  drains?: true
}

/**
 * Every periodic job the service starts (src/server.ts and the modules' workers): one
 * list for the row-bound test and the bench, so a new job cannot be left out of either.
 */
export const PERIODIC_JOBS: PeriodicJob[] = [
  { name: 'shred ring', run: (t) => t.app.services.shredding.pass() },
  { name: 'retention purge', run: (t) => t.app.services.retention.purgeExpired() },
  { name: 'access review scheduler', run: (t) => t.app.services.reviews.runScheduled() },
  { name: 'privacy request deadlines', run: (t) => t.app.services.privacyRequests.watchDeadlines() },
  { name: 'mail delivery', run: (t) => t.app.services.delivery.deliverMail() },
  {
    name: 'webhook fan-out and delivery',
    run: async (t) => {
      await t.app.services.delivery.fanOut()
      await t.app.services.webhooks.deliverDue()
    },
  },
  { name: 'audit witness delivery', run: (t) => t.app.auditWitnesses.deliverDue() },
  { name: 'SIEM streaming', run: (t) => t.app.services.siemDelivery.deliverDue() },
  { name: 'unwitnessed checkpoints', run: (t) => t.app.auditCosigner.checkUnwitnessed() },
  // Not armed without a readable witness (a no-op then); armed, one head row and O(log n) tree hashes per org.
  { name: 'rollback check', run: (t) => t.app.rollback.checkAll() },
  // Evaluates up to 500 chained events a run: run until it has caught up before timing.
  { name: 'alert rules', run: (t) => t.app.services.alerts.evaluate(), drains: true },
  {
    name: 'incident clocks and plan reviews',
    run: async (t) => {
      await t.app.services.incidents.watch()
      await t.app.services.plan.watchReviews()
    },
  },
  { name: 'database credential rotations', run: (t) => t.app.dbRotationWorker.runOnce() },
  { name: 'connector checks', run: (t) => t.app.connectorCheckWorker.runOnce() },
  { name: 'org key rewrap', run: (t) => t.app.services.rotation.worker.runOnce() },
  { name: 'org offboarding', run: (t) => t.app.services.offboarding.runDue() },
  { name: 'disclosure deadlines', run: (t) => t.app.services.vulnerabilityReports.watch() },
  { name: 'consent expiry, objection deadlines, re-consent', run: (t) => t.app.services.consentJobs.run() },
  { name: 'ended links housekeeping', run: (t) => t.app.services.housekeeping.run() },
  // Evaluates the orgs that are due, five a run: run until none is before timing.
  { name: 'compliance checks', run: (t) => t.app.services.compliance.runDue(), drains: true },
  // Not a timer but a scrape: /metrics reads the queues' depth and lag (src/observability/metrics.queries.ts).
  { name: 'metrics scrape (queue depth and lag)', run: (t) => collectBacklog(t.db.kysely) },
]
