/**
 * `node bench/driver.ts` (about 2 minutes): the application's hot statements through
 * node-postgres sent unnamed (Kysely's PostgreSQL dialect as it is) and as named prepared
 * statements (src/db/prepared.ts, `CUSTODIAN_DB_PREPARED_STATEMENTS`), on a database of its
 * own, created and dropped here.
 *
 * Two workloads, each in interleaved rounds of the two variants (the order alternating):
 * - `lookup`: the API-token lookup of every API request (`findTokenForAuth`), on the owner
 *   connection outside a transaction, as authentication sends it;
 * - `transaction`: a `withOrg` transaction (BEGIN and the tenant settings, a read, an
 *   insert returning its row, COMMIT).
 * The load runs in this process (CONCURRENCY callers, a pool of as many connections per
 * variant). Reported per operation: the PostgreSQL backends' CPU (from /proc/<pid>/stat of
 * this database's backends) and this process's CPU (the client: Kysely, node-postgres), and
 * operations per second. Then the server memory the named statements hold on one connection.
 *
 * Record results in docs/benchmarks.md.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { sql } from 'kysely'
import pg from 'pg'
import { openDatabase, type Database } from '../src/db/connect.ts'
import { migrateToLatest } from '../src/db/migrate.ts'
import { withOrg, withOwner } from '../src/db/tenant.ts'
import * as store from '../src/modules/identity/identity.store.ts'
import { benchClient, benchResources, freshDatabase } from './processes.ts'
import { ticks } from './sizes/measure.ts'

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4)
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5)
const CONCURRENCY = Number(process.env.BENCH_CONNECTIONS ?? 4)
const TICKS_PER_SECOND = 100

type Variant = 'unnamed' | 'named'
type Workload = 'lookup' | 'transaction'

const log = (line: string) => process.stderr.write(`[driver] ${line}\n`)

async function backendTicks(admin: pg.Client): Promise<Map<number, number>> {
  const { rows } = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()',
  )
  return new Map(rows.map((row) => [row.pid, ticks(row.pid)]))
}

function elapsedMs(start: Map<number, number>, end: Map<number, number>): number {
  let total = 0
  for (const [pid, t] of end) total += Math.max(0, t - (start.get(pid) ?? 0))
  return (total * 1000) / TICKS_PER_SECOND
}

interface Fixture {
  orgId: string
  userId: string
  tokenId: string
}

async function seed(database: Database): Promise<Fixture> {
  const orgId = randomUUID()
  const userId = randomUUID()
  const tokenId = randomUUID()
  await withOwner(database.kysely, async (trx) => {
    await store.insertOrg(trx, { id: orgId, kind: 'customer', name: 'Bench' })
    await store.insertUser(trx, { id: userId, email: 'bench@bench.test', password_hash: null, last_login_at: null })
    await store.insertMembership(trx, { org_id: orgId, user_id: userId, role: 'owner' })
    await store.insertApiToken(trx, {
      id: tokenId,
      org_id: orgId,
      user_id: userId,
      service_account_id: null,
      name: 'bench',
      secret_hash: randomBytes(32),
      scopes: null,
      expires_at: new Date(Date.now() + 86_400_000),
      created_by: userId,
      last_used_at: null,
      revoked_at: null,
    })
  })
  return { orgId, userId, tokenId }
}

function operation(database: Database, fixture: Fixture, workload: Workload): () => Promise<unknown> {
  const db = database.kysely
  if (workload === 'lookup') return () => store.findTokenForAuth(db, fixture.tokenId)
  return () =>
    withOrg(db, fixture.orgId, async (trx) => {
      if ((await store.findMember(trx, fixture.userId)) === undefined) throw new Error('bench member missing')
      const id = randomUUID()
      await store.insertServiceAccount(trx, {
        id,
        org_id: fixture.orgId,
        name: `bench ${id}`,
        role: 'viewer',
      })
    })
}

interface Window {
  ops: number
  seconds: number
  backendMs: number
  clientMs: number
}

async function window(admin: pg.Client, run: () => Promise<unknown>): Promise<Window> {
  const stop = performance.now() + SECONDS * 1000
  let ops = 0
  const backendsBefore = await backendTicks(admin)
  const clientBefore = process.cpuUsage()
  const began = performance.now()
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < stop) {
        await run()
        ops++
      }
    }),
  )
  const seconds = (performance.now() - began) / 1000
  const client = process.cpuUsage(clientBefore)
  return {
    ops,
    seconds,
    backendMs: elapsedMs(backendsBefore, await backendTicks(admin)),
    clientMs: (client.user + client.system) / 1000,
  }
}

/** Server memory of the named statements on one connection: cached plans and their sources. */
async function statementMemory(database: Database): Promise<{ statements: number; bytes: number }> {
  return database.kysely.connection().execute(async (connection) => {
    const { rows } = await sql<{ statements: number; bytes: number }>`
      SELECT (SELECT count(*) FROM pg_prepared_statements WHERE NOT from_sql)::int AS statements,
             (SELECT coalesce(sum(total_bytes), 0) FROM pg_backend_memory_contexts
               WHERE name IN ('CachedPlan', 'CachedPlanSource', 'CachedPlanQuery'))::int AS bytes`.execute(connection)
    return rows[0] ?? { statements: 0, bytes: 0 }
  })
}

async function main(): Promise<void> {
  await using resources = benchResources()
  const url = await freshDatabase(resources, 'custodian_bench_driver')
  const opened: Database[] = []
  resources.defer(async () => {
    for (const database of opened) await database.close()
  })
  const admin = await benchClient(resources, url)
  const setup = await openDatabase({ databaseUrl: url, poolSize: 1 })
  opened.push(setup)
  await migrateToLatest(setup.kysely)
  const fixture = await seed(setup)
  const databases: Record<Variant, Database> = {
    unnamed: await openDatabase({ databaseUrl: url, poolSize: CONCURRENCY, preparedStatements: false }),
    named: await openDatabase({ databaseUrl: url, poolSize: CONCURRENCY, preparedStatements: true }),
  }
  opened.push(databases.unnamed, databases.named)
  const totals = new Map<string, Window>()
  for (let round = -1; round < ROUNDS; round++) {
    for (const workload of ['lookup', 'transaction'] as const) {
      for (const variant of round % 2 === 0 ? (['unnamed', 'named'] as const) : (['named', 'unnamed'] as const)) {
        const w = await window(admin, operation(databases[variant], fixture, workload))
        log(
          `${round < 0 ? 'warm-up ' : ''}${workload} ${variant}: ${Math.round(w.ops / w.seconds)}/s, ` +
            `backend ${((w.backendMs * 1000) / w.ops).toFixed(0)} µs, client ${((w.clientMs * 1000) / w.ops).toFixed(0)} µs per operation`,
        )
        if (round < 0) continue
        const key = `${workload} ${variant}`
        const sum = totals.get(key) ?? { ops: 0, seconds: 0, backendMs: 0, clientMs: 0 }
        totals.set(key, {
          ops: sum.ops + w.ops,
          seconds: sum.seconds + w.seconds,
          backendMs: sum.backendMs + w.backendMs,
          clientMs: sum.clientMs + w.clientMs,
        })
      }
    }
  }
  const summary = [...totals].map(([key, w]) => ({
    run: key,
    perSecond: Math.round(w.ops / w.seconds),
    backendMicros: Math.round((w.backendMs * 1000) / w.ops),
    clientMicros: Math.round((w.clientMs * 1000) / w.ops),
  }))
  process.stdout.write(
    `${JSON.stringify(
      {
        rounds: ROUNDS,
        seconds: SECONDS,
        concurrency: CONCURRENCY,
        summary,
        namedStatementMemory: await statementMemory(databases.named),
      },
      null,
      2,
    )}\n`,
  )
}

await main()
