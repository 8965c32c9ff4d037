import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { sql } from 'kysely'
import { PASSWORD } from '../helpers/app.ts'
import { createTestDatabase, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { freePort, startHaproxy, type Haproxy } from '../helpers/haproxy.ts'
import { startHttpsReceiver, type Received } from '../helpers/https-receiver.ts'
import {
  bootstrapOverHttps,
  httpsJson,
  spawnServer,
  type HttpsResponse,
  type ServerProcess,
} from '../helpers/process.ts'
import { startHttpsSiemReceiver, testCertificate, type HttpsSiemReceiver } from '../helpers/siem-receivers.ts'
import { until } from '../helpers/siem-stream.ts'
import { startSmtpServer } from '../helpers/smtp-server.ts'

/**
 * Several nodes (docs/operations.md, "Several nodes and failover"): three real service
 * processes (`node src/main.ts`) on one PostgreSQL database behind a real HAProxy (TLS
 * passed through, health checks on `/readyz`). A bounded load from three orgs runs through
 * HAProxy while the nodes are killed with SIGKILL one at a time (each restarted after);
 * then every acknowledged write is there, each org's audit chain is one gap-free chain
 * that verifies, and every background job did each due item once across the nodes — or,
 * where the project promises at least once (webhooks, mail, SIEM streams), each item
 * arrived, and a second copy only of an item whose holder was killed, carrying its
 * idempotency key.
 */
const ORGS = 3
/** Writes per org and phase; one phase per node killed. */
const WRITES_PER_PHASE = 24
/** Concurrent requests per org. */
const CONCURRENCY = 2
/** Records per org in the class whose retention runs out (made due by backdating them). */
const EXPIRING_RECORDS = 10
const SIEM_BATCH = 8
/** Starting three nodes, a load, three kills and restarts on a loaded two-core machine: a bound, not a target. */
const LONG = 900_000
/** Progress on stderr, so a run of several minutes says where it is (no timing is asserted). */
const t0 = Date.now()
const note = (what: string) => process.stderr.write(`[multi-node ${((Date.now() - t0) / 1000).toFixed(1)} s] ${what}\n`)

interface Org {
  name: string
  orgId: string
  token: string
  ownerEmail: string
  webhookId: string
  siemId: string
}

/** What the service acknowledged (2xx), by kind; checked against the database at the end. */
interface Acknowledged {
  /** Secret id -> its org and the acknowledged versions' values. */
  secrets: Map<string, { orgId: string; versions: Map<number, string> }>
  appEvents: { orgId: string; eventId: string }[]
  records: { orgId: string; id: string }[]
  expiringRecords: { orgId: string; id: string }[]
  rotations: { orgId: string; version: number }[]
}

describe('several nodes behind HAProxy, killed one at a time under load', {
  skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
  timeout: LONG,
}, () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-nodes-'))
  let db: TestDatabase
  let haproxy: Haproxy
  let hooks: Awaited<ReturnType<typeof startHttpsReceiver>>
  let siem: HttpsSiemReceiver
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>
  const nodes: { name: string; port: number; env: Record<string, string>; server: ServerProcess }[] = []
  const orgs: Org[] = []
  const acknowledged: Acknowledged = {
    secrets: new Map(),
    appEvents: [],
    records: [],
    expiringRecords: [],
    rotations: [],
  }
  let refused = 0

  const api = (method: string, url: string, token: string, body?: unknown): Promise<HttpsResponse> =>
    httpsJson(haproxy.port, method, url, { token, ...(body === undefined ? {} : { body }) })

  before(async () => {
    db = await createTestDatabase('postgres')
    const hookCa = path.join(dir, 'hooks.pem')
    const smtpCa = path.join(dir, 'smtp.pem')
    hooks = await startHttpsReceiver(hookCa)
    smtp = await startSmtpServer({ caFile: smtpCa, mode: 'starttls' })
    const certificate = await testCertificate('multi-node siem')
    siem = await startHttpsSiemReceiver({ certificate })
    const bundle = path.join(dir, 'ca-bundle.pem')
    writeFileSync(bundle, [readFileSync(hookCa, 'utf8'), readFileSync(smtpCa, 'utf8'), certificate.cert].join('\n'))

    for (let i = 1; i <= 3; i++) {
      const port = await freePort()
      nodes.push({
        name: `node${i}`,
        port,
        env: {
          DATABASE_URL: db.url as string,
          CUSTODIAN_DATA_DIR: path.join(dir, `node${i}`),
          // What every node shares besides the database: the root key, the audit signing key
          // and the shred ring (each node with a ring of its own could not open the subject
          // keys another sealed: docs/operations.md, "Several nodes and failover").
          CUSTODIAN_ROOT_KEY_FILE: path.join(dir, 'root.key'),
          CUSTODIAN_AUDIT_KEY_FILE: path.join(dir, 'audit.key'),
          CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'),
          // The same port after a restart: HAProxy's configuration names it.
          CUSTODIAN_HTTPS_PORT: String(port),
          CUSTODIAN_LOG_LEVEL: 'warn',
          CUSTODIAN_AUTH_RATE_LIMIT: '10000',
          CUSTODIAN_OUTBOUND_ALLOW: '127.0.0.1/32',
          CUSTODIAN_EXTRA_CA_FILE: bundle,
          CUSTODIAN_SMTP_URL: `smtp://localhost:${smtp.port}`,
          CUSTODIAN_SMTP_FROM: 'Custodian <custodian@provider.test>',
          // Every job due quickly: short intervals, short timeouts (so a killed node's leases end soon).
          CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '50',
          CUSTODIAN_AUDIT_CHECKPOINT_SECONDS: '1',
          CUSTODIAN_WEBHOOK_CHECK_MS: '100',
          CUSTODIAN_WEBHOOK_RETRY_BASE_MS: '200',
          CUSTODIAN_WEBHOOK_TIMEOUT_MS: '10000',
          // Many attempts: a busy machine may refuse a few; dead-lettering is not what this tests.
          CUSTODIAN_WEBHOOK_MAX_ATTEMPTS: '50',
          CUSTODIAN_MAIL_CHECK_MS: '100',
          CUSTODIAN_MAIL_RETRY_BASE_MS: '200',
          CUSTODIAN_MAIL_TIMEOUT_MS: '10000',
          CUSTODIAN_MAIL_MAX_ATTEMPTS: '50',
          CUSTODIAN_SIEM_CHECK_MS: '100',
          CUSTODIAN_SIEM_RETRY_BASE_MS: '200',
          CUSTODIAN_SIEM_TIMEOUT_MS: '10000',
          CUSTODIAN_SIEM_MAX_ATTEMPTS: '100',
          CUSTODIAN_SIEM_BATCH_EVENTS: String(SIEM_BATCH),
          CUSTODIAN_RETENTION_CHECK_MS: '200',
          CUSTODIAN_ACCESS_REVIEW_CHECK_MS: '200',
          CUSTODIAN_REWRAP_INTERVAL_MS: '100',
        },
        server: undefined as unknown as ServerProcess,
      })
    }
    // The first node creates the root and audit keys and migrates; the others then start together.
    const [first, ...rest] = nodes as [(typeof nodes)[number], ...typeof nodes]
    first.server = await spawnServer(first.env)
    await Promise.all(
      rest.map(async (node) => {
        node.server = await spawnServer(node.env)
      }),
    )
    note('nodes up')
    haproxy = await startHaproxy({
      servers: nodes.map((n) => ({ name: n.name, port: n.port })),
      check: { http: { path: '/readyz' } },
    })
    for (const node of nodes) await haproxy.waitFor(node.name, 'UP')

    const boot = await bootstrapOverHttps(haproxy.port, first.server.bootstrapToken, { orgName: 'Provider' })
    assert.equal(boot.status, 201, boot.text)
    const providerToken = boot.body.apiToken as string
    // The orgs are set up together (each one's requests in order), kept in the order of their names.
    const made = await Promise.all(
      Array.from({ length: ORGS }, async (_, i): Promise<Org> => {
        const name = `Org${i}`
        const ownerEmail = `owner@org${i}.test`
        const created = await api('POST', '/v1/orgs', providerToken, { name, ownerEmail })
        assert.equal(created.status, 201, created.text)
        const owner = await httpsJson(haproxy.port, 'POST', '/v1/invitations/accept', {
          body: { token: created.body.invitation.token, password: PASSWORD },
        })
        assert.equal(owner.status, 201, owner.text)
        const orgId = created.body.org.id as string
        const token = owner.body.apiToken as string
        const hook = await api('POST', `/v1/orgs/${orgId}/webhooks`, token, {
          name: 'app',
          url: `${hooks.url}/hook-${orgId}`,
          events: ['notifications', 'audit.checkpoint'],
        })
        assert.equal(hook.status, 201, hook.text)
        const destination = await api('POST', `/v1/orgs/${orgId}/siem/destinations`, token, {
          name: 'stream',
          kind: 'jsonl',
          url: `https://127.0.0.1:${siem.port}/siem-${orgId}`,
        })
        assert.equal(destination.status, 201, destination.text)
        const policy = await api('PUT', `/v1/orgs/${orgId}/retention/customer_data`, token, { retainSeconds: 60 })
        assert.equal(policy.status, 200, policy.text)
        return { name, orgId, token, ownerEmail, webhookId: hook.body.id, siemId: destination.body.id }
      }),
    )
    orgs.push(...made)
  })

  after(async () => {
    for (const node of nodes) await node.server?.stop().catch(() => undefined)
    await haproxy?.stop()
    await hooks?.close()
    await siem?.close()
    await smtp?.stop()
    await db?.close()
  })

  /** One write of the mix, chosen by `i`; recorded when the service acknowledged it (2xx). */
  async function write(org: Org, phase: number, i: number): Promise<void> {
    const tag = `${phase}-${i}`
    const kind = i % 4
    let response: HttpsResponse
    try {
      if (kind === 0) {
        response = await api('POST', `/v1/orgs/${org.orgId}/secrets`, org.token, {
          name: `s-${tag}`,
          type: 'generic',
          value: `value-${tag}`,
        })
        if (response.status === 201)
          acknowledged.secrets.set(response.body.id, { orgId: org.orgId, versions: new Map([[1, `value-${tag}`]]) })
      } else if (kind === 1) {
        const mine = [...acknowledged.secrets].filter(([, s]) => s.orgId === org.orgId)
        const target = mine[i % Math.max(1, mine.length)]
        if (target === undefined) return
        response = await api('POST', `/v1/orgs/${org.orgId}/secrets/${target[0]}/versions`, org.token, {
          value: `value-${tag}`,
        })
        if (response.status === 201) target[1].versions.set(response.body.currentVersion as number, `value-${tag}`)
      } else if (kind === 2) {
        const eventId = `evt-${org.orgId}-${tag}`
        response = await api('POST', `/v1/orgs/${org.orgId}/audit/events`, org.token, {
          id: eventId,
          action: 'document.share',
          actor: { type: 'user', id: `u-${i}` },
          metadata: { phase },
        })
        if (response.status === 201) acknowledged.appEvents.push({ orgId: org.orgId, eventId })
      } else {
        response = await api('POST', `/v1/orgs/${org.orgId}/records`, org.token, {
          subjectId: `subject-${i % 5}`,
          dataClass: 'contact',
          payload: { tag },
        })
        if (response.status === 201) acknowledged.records.push({ orgId: org.orgId, id: response.body.id })
      }
      if (response.status >= 300) refused++
    } catch {
      // The connection died with its node: not acknowledged, so nothing is expected of it.
      refused++
    }
  }

  /** `WRITES_PER_PHASE` writes per org, `CONCURRENCY` at a time; `onProgress` sees the count done. */
  async function load(phase: number, onProgress: (done: number) => void): Promise<void> {
    let done = 0
    await Promise.all(
      orgs.flatMap((org) =>
        Array.from({ length: CONCURRENCY }, async (_, worker) => {
          for (let i = worker; i < WRITES_PER_PHASE; i += CONCURRENCY) {
            await write(org, phase, i)
            onProgress(++done)
          }
        }),
      ),
    )
  }

  /** The org's chain head (its highest seq; 0 when empty). */
  async function headOf(orgId: string): Promise<number> {
    const row = await db.kysely
      .selectFrom('audit_chain')
      .select((eb) => eb.fn.max('seq').as('head'))
      .where('org_id', '=', orgId)
      .executeTakeFirstOrThrow()
    return Number(row.head ?? 0)
  }

  /** What the background jobs have still to do ('' once they have caught up), named for a failure message. */
  async function jobsBehind(): Promise<string> {
    const ids = orgs.map((o) => o.orgId)
    const counts = await sql<Record<string, string>>`
      SELECT (SELECT count(*) FROM audit_unchained) AS unchained,
             (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending') AS webhooks,
             (SELECT count(*) FROM notifications WHERE status = 'pending') AS mail,
             (SELECT count(*) FROM data_records WHERE data_class = 'customer_data') AS expired_records,
             (SELECT count(*) FROM org_keys WHERE state = 'retiring') AS retiring_keys,
             (SELECT count(*) FROM orgs o WHERE o.id = ANY(${ids}::uuid[])
                AND NOT EXISTS (SELECT 1 FROM access_reviews r WHERE r.org_id = o.id)) AS orgs_without_review,
             (SELECT count(*) FROM siem_destinations d WHERE d.org_id = ANY(${ids}::uuid[])
                AND d.cursor_seq < (SELECT coalesce(max(seq), 0) FROM audit_chain c WHERE c.org_id = d.org_id)) AS siem_behind`.execute(
      db.kysely,
    )
    const row = counts.rows[0] ?? {}
    return Object.entries(row)
      .filter(([, n]) => Number(n) > 0)
      .map(([what, n]) => `${what}=${n}`)
      .join(' ')
  }

  it('loses no acknowledged write, keeps one chain per org, and runs every job once per due item (several nodes)', {
    timeout: LONG,
  }, async () => {
    // Due work for the jobs, made due at once instead of waited for: an access review (the
    // orgs look a year old: the quarterly cadence has passed), expired records (backdated
    // past their 60 s retention), org-key rotations (requested through the API).
    // The orgs at once, each one's records in order.
    await Promise.all(
      orgs.map(async (org) => {
        for (let i = 0; i < EXPIRING_RECORDS; i++) {
          const record = await api('POST', `/v1/orgs/${org.orgId}/records`, org.token, {
            subjectId: `expiring-${i}`,
            dataClass: 'customer_data',
            payload: { i },
          })
          assert.equal(record.status, 201, record.text)
          acknowledged.expiringRecords.push({ orgId: org.orgId, id: record.body.id })
        }
      }),
    )

    for (const [phase, node] of nodes.entries()) {
      const org = orgs[phase % orgs.length] as Org
      let killed: Promise<void> | undefined
      const kill = async () => {
        // Mid-phase: requests in flight on it die with it; HAProxy sends the rest elsewhere.
        await node.server.kill()
        await haproxy.waitFor(node.name, 'DOWN')
        note(`${node.name} killed`)
        // Restarted at once, while the rest of the phase's load runs on the other two; the
        // next node is killed only once this one is back (one node down at a time).
        node.server = await spawnServer(node.env)
        await haproxy.waitFor(node.name, 'UP')
        note(`${node.name} back`)
      }
      const work = load(phase, (done) => {
        if (done === Math.floor((WRITES_PER_PHASE * ORGS) / 3)) killed = kill()
      })
      if (phase === 0)
        await db.kysely
          .updateTable('orgs')
          .set({ created_at: new Date(Date.now() - 365 * 86_400_000) })
          .where(
            'id',
            'in',
            orgs.map((o) => o.orgId),
          )
          .execute()
      if (phase === 1)
        await sql`UPDATE data_records SET created_at = created_at - interval '1 hour' WHERE data_class = 'customer_data'`.execute(
          db.kysely,
        )
      const rotated = await api('POST', `/v1/orgs/${org.orgId}/keys/rotate`, org.token)
      if (rotated.status === 200) acknowledged.rotations.push({ orgId: org.orgId, version: rotated.body.activeVersion })
      await work
      note(`phase ${phase} done`)
      await killed
    }
    // A last phase with every node up.
    await load(nodes.length, () => undefined)

    // Quiet: every job has caught up (each wait is on state, bounded generously).
    note('load done')
    // Every node reads what any node wrote (keys shared, nothing per node): a sample of the
    // acknowledged secret versions and records, each through each node directly (the nodes
    // at once, each one's reads in order).
    for (const org of orgs) {
      const secrets = [...acknowledged.secrets].filter(([, x]) => x.orgId === org.orgId).slice(0, 2)
      const records = acknowledged.records.filter((r) => r.orgId === org.orgId).slice(0, 2)
      await Promise.all(
        nodes.map(async (node) => {
          for (const [id, secret] of secrets)
            for (const [version, value] of secret.versions) {
              const revealed = await httpsJson(node.port, 'POST', `/v1/orgs/${org.orgId}/secrets/${id}/reveal`, {
                token: org.token,
                body: { reason: 'multi-node check', version },
              })
              assert.equal(revealed.status, 200, `${node.name}: ${revealed.text}`)
              assert.equal(revealed.body.value, value)
            }
          for (const record of records) {
            const read = await httpsJson(node.port, 'GET', `/v1/orgs/${org.orgId}/records/${record.id}`, {
              token: org.token,
            })
            assert.equal(read.status, 200, `${node.name}: ${read.text}`)
          }
        }),
      )
    }
    let behind = ''
    await until(
      'every background job to catch up',
      async () => {
        const was = behind
        behind = await jobsBehind()
        if (behind !== was) note(`jobs behind: ${behind === '' ? 'none' : behind}`)
        return behind === ''
      },
      300_000,
    ).catch(async (error: unknown) => {
      // What the stuck mail is waiting for (its attempts, next attempt and last error): a
      // failure names it instead of a count alone.
      const stuck = await sql<Record<string, unknown>>`
        SELECT kind, attempts, next_attempt_at, last_error, now() AS at
          FROM notifications WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 10`.execute(db.kysely)
      throw new Error(`jobs still behind: ${behind}; pending mail: ${JSON.stringify(stuck.rows)}`, { cause: error })
    })
    note('caught up')
    // The quiet point: what the jobs had caught up with. Whatever the checks below add
    // (verification is audited) comes after it and is not expected to have been delivered.
    const headsAtQuiet = new Map<string, number>()
    for (const org of orgs) headsAtQuiet.set(org.orgId, await headOf(org.orgId))
    // The chains verify with the project's own verification (GET …/audit/verify), on a node.
    for (const org of orgs) {
      const verified = await api('GET', `/v1/orgs/${org.orgId}/audit/verify`, org.token)
      assert.equal(verified.body.ok, true, `${org.name}: ${JSON.stringify(verified.body.problems)}`)
    }
    // Stop the nodes: nothing more is written while the database is read.
    for (const node of nodes) assert.equal(await node.server.stop(), 0, node.server.output())

    // 1. Every acknowledged write is there.
    assert.ok(acknowledged.secrets.size > 0 && acknowledged.appEvents.length > 0 && acknowledged.records.length > 0)
    for (const [id, secret] of acknowledged.secrets) {
      const versions = await db.kysely
        .selectFrom('secret_versions')
        .select('version')
        .where('secret_id', '=', id)
        .execute()
      const present = new Set(versions.map((v) => Number(v.version)))
      for (const version of secret.versions.keys()) assert.ok(present.has(version), `secret ${id} version ${version}`)
    }
    // An application event's own id is its `details.eventId` (docs/application-events.md).
    const events = new Set(
      (
        await sql<{ org_id: string; app_id: string }>`
          SELECT org_id, details->>'eventId' AS app_id FROM audit_events WHERE action = 'document.share'`.execute(
          db.kysely,
        )
      ).rows.map((e) => `${e.org_id}/${e.app_id}`),
    )
    for (const e of acknowledged.appEvents)
      assert.ok(events.has(`${e.orgId}/${e.eventId}`), `application event ${e.eventId}`)
    const records = new Set(
      (await db.kysely.selectFrom('data_records').select('id').where('data_class', '=', 'contact').execute()).map(
        (r) => r.id,
      ),
    )
    for (const r of acknowledged.records) assert.ok(records.has(r.id), `record ${r.id}`)

    for (const org of orgs) {
      // 2. One chain per org, gap-free, every event chained once, and it verifies.
      const chain = await db.kysely
        .selectFrom('audit_chain')
        .select(['seq', 'id'])
        .where('org_id', '=', org.orgId)
        .orderBy('seq')
        .execute()
      assert.deepEqual(
        chain.map((r) => Number(r.seq)),
        chain.map((_, i) => i + 1),
        `${org.name}: seq 1..N with no gap`,
      )
      const eventCount = await db.kysely
        .selectFrom('audit_events')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('org_id', '=', org.orgId)
        .executeTakeFirstOrThrow()
      assert.equal(new Set(chain.map((r) => String(r.id))).size, chain.length, `${org.name}: no event chained twice`)
      assert.equal(chain.length, Number(eventCount.n), `${org.name}: every event chained`)
    }
    // 3. Each job, once per due item across the nodes.
    for (const org of orgs) {
      const actions = await db.kysely
        .selectFrom('audit_events')
        .select(['action', 'target_id'])
        .where('org_id', '=', org.orgId)
        .where('action', 'in', ['access_review.start', 'org_key.retire', 'retention.purge'])
        .execute()
      // Access-review scheduling: one campaign per org, not one per node.
      const reviews = await db.kysely
        .selectFrom('access_reviews')
        .select('id')
        .where('org_id', '=', org.orgId)
        .execute()
      assert.equal(reviews.length, 1, `${org.name}: one access review started`)
      assert.equal(actions.filter((a) => a.action === 'access_review.start').length, 1)
      // Key rotation: each retiring version rewrapped away and retired once.
      const rotations = acknowledged.rotations.filter((r) => r.orgId === org.orgId)
      const retired = actions.filter((a) => a.action === 'org_key.retire').map((a) => a.target_id)
      assert.equal(retired.length, rotations.length, `${org.name}: one retirement per rotation`)
      assert.equal(new Set(retired).size, retired.length)
      // Retention: the expired records purged, each counted once in the runs' proofs.
      const runs = await db.kysely
        .selectFrom('retention_runs')
        .select('classes')
        .where('org_id', '=', org.orgId)
        .execute()
      const purged = runs
        .flatMap((r) => r.classes)
        .filter((c) => c.dataClass === 'customer_data')
        .reduce((sum, c) => sum + c.purged, 0)
      assert.equal(purged, EXPIRING_RECORDS, `${org.name}: each expired record purged once`)
    }

    // Webhooks (at least once, the delivery id the idempotency key): every delivery arrived;
    // a second copy only of a delivery claimed more than once (its holder was killed).
    const deliveries = await db.kysely
      .selectFrom('webhook_deliveries')
      .select(['id', 'status', 'attempts'])
      .where(
        'webhook_id',
        'in',
        orgs.map((o) => o.webhookId),
      )
      .execute()
    assert.ok(deliveries.length > 0)
    const copies = countBy(hooks.received, (r: Received) => String(r.headers['x-custodian-delivery']))
    for (const d of deliveries) {
      assert.notEqual(d.status, 'failed', `webhook delivery ${d.id}`)
      if (d.status !== 'delivered') continue // made after the quiet point (a checkpoint of the checks' own events)
      const n = copies.get(d.id) ?? 0
      assert.ok(n >= 1, `webhook delivery ${d.id} arrived`)
      assert.ok(n === 1 || d.attempts > 1, `webhook delivery ${d.id}: ${n} copies from one claim`)
    }
    assert.equal(
      [...copies.keys()].filter((id) => !deliveries.some((d) => d.id === id)).length,
      0,
      'no delivery the database does not know',
    )

    // Mail (at least once, X-Custodian-Notification the idempotency key): likewise.
    const mails = await db.kysely
      .selectFrom('notifications')
      .select(['id', 'status', 'attempts'])
      .where(
        'org_id',
        'in',
        orgs.map((o) => o.orgId),
      )
      .execute()
    assert.ok(mails.length >= ORGS, 'the reviews notified the owners')
    const mailCopies = countBy(smtp.messages, (m) => /X-Custodian-Notification: (\S+)/i.exec(m.data)?.[1] ?? '')
    for (const m of mails) {
      assert.notEqual(m.status, 'failed', `notification ${m.id}`)
      if (m.status !== 'delivered') continue
      const n = mailCopies.get(m.id) ?? 0
      assert.ok(n >= 1, `notification ${m.id} mailed`)
      assert.ok(n === 1 || m.attempts > 1, `notification ${m.id}: ${n} copies from one claim`)
    }

    // SIEM streams (docs/siem.md): every event of the chain, once after dedupe by id; raw
    // copies only of a batch in flight on a killed node.
    for (const org of orgs) {
      const cursor = await db.kysely
        .selectFrom('siem_destinations')
        .select('cursor_seq')
        .where('id', '=', org.siemId)
        .executeTakeFirstOrThrow()
      const head = Number(cursor.cursor_seq)
      assert.ok(head >= (headsAtQuiet.get(org.orgId) ?? 0), `${org.name}: the stream reached the quiet point`)
      const got = siem.events.filter((e) => e.org === org.orgId)
      const unique = new Map(got.map((e) => [e.id, e.seq]))
      assert.deepEqual(
        [...unique.values()].filter((seq) => seq <= head).sort((a, b) => a - b),
        Array.from({ length: head }, (_, i) => i + 1),
        `${org.name}: every event streamed`,
      )
      assert.ok(got.length - unique.size <= nodes.length * SIEM_BATCH, `${org.name}: copies only of batches in flight`)
    }
    // The load really ran through the kills: some writes were refused or cut off, most were not.
    assert.ok(acknowledged.appEvents.length + acknowledged.records.length > refused)
  })
})

function countBy<T>(items: T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>()
  for (const item of items) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  return counts
}
