import { cpSync, existsSync, mkdirSync, renameSync, rmSync } from 'node:fs'
import { userInfo } from 'node:os'
import path from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { Kysely, PGliteDialect, PostgresDialect, sql, type Dialect } from 'kysely'
import pg from 'pg'
import { databaseName } from './database-url.ts'
import { lockDataDir, type DataDirLock } from './lock.ts'
import { prepareStatements, PREPARED_STATEMENTS_PER_CONNECTION } from './prepared.ts'
import type { DB } from './schema.ts'
import { preferOneRoundTripBegin } from './tenant.ts'

export type Engine = 'pglite' | 'postgres'

const INT8_OID = 20

/**
 * The user name a `DATABASE_URL` without one connects as when `PGUSER` is not set either
 * (node-postgres reads that first): the operating-system user, as libpq (psql, pg_dump) does.
 * node-postgres takes `$USER`, which a service manager or `env -i` may not set:
 * `postgres:///custodian?host=/var/run/postgresql` then failed with the server's "no
 * PostgreSQL user name specified in startup packet".
 */
export function defaultPostgresUser(): string | undefined {
  if (process.env.USER) return process.env.USER
  try {
    return userInfo().username
  } catch {
    return undefined // a user id with no entry in the password database: the URL must name one
  }
}
pg.defaults.user = defaultPostgresUser()

/**
 * The owner connection. Domain code never queries through it directly: it goes through
 * {@link ./tenant.ts} (`withOrg` switches to the row-level-secured role). The owner
 * connection is for migrations, authentication lookups and the audit sequencer.
 */
export interface Database {
  readonly engine: Engine
  readonly kysely: Kysely<DB>
  /**
   * The pg pool's connections right now (PostgreSQL only; PGlite is one in-process
   * connection with no pool): open ones, idle ones, and callers waiting for one.
   */
  readonly poolStats?: (() => PoolStats) | undefined
  /** PostgreSQL only: the connection string (tools such as pg_dump connect with it: backups). */
  readonly url?: string | undefined
  /**
   * PGlite only: a gzipped tarball of the data directory, taken between two statements by
   * the process that has it open, so it is consistent (backups, src/modules/ops/backup/).
   */
  dumpDataDir?(): Promise<Blob>
  /**
   * Listens on a `NOTIFY` channel: `onMessage` with each payload, once committed — and, on
   * PostgreSQL, also as soon as one of this process's connections raises the notice
   * `<channel>:<payload>` (before its commit). On PostgreSQL a connection of its own,
   * opened again after it drops; `onReset` is called
   * whenever notifications may have been missed (the connection dropped; it is called
   * again when listening resumes) and `connected` tells whether they arrive now. Resolves
   * once listening (or, on PostgreSQL, once the first attempt ended); the function it
   * resolves to stops listening.
   */
  listen(
    channel: string,
    onMessage: (payload: string) => void,
    onReset: () => void,
  ): Promise<{ connected(): boolean; stop(): Promise<void> }>
  close(): Promise<void>
}

/** A connection pool's state at one moment (node-postgres `Pool` counters). */
export interface PoolStats {
  total: number
  idle: number
  waiting: number
  max: number
}

export interface OpenOptions {
  /** PostgreSQL URL; when absent the embedded PGlite under dataDir is used. */
  databaseUrl?: string | undefined
  dataDir?: string
  /** A ready PGlite instance (tests open their own, on a copy of the migrated template). */
  pglite?: PGlite
  /**
   * A template directory (src/db/template.ts) copied to dataDir's `pgdata` when that does not
   * exist yet, instead of PGlite creating an empty database; the caller checked it is usable.
   */
  template?: string | undefined
  /** pg pool size. */
  poolSize?: number
  /**
   * PostgreSQL only: how long a request waits for a pooled connection (a new one to the
   * server, or a free one under load), in ms; then it fails as the database being
   * unavailable (503). Default {@link CONNECT_TIMEOUT_MS}.
   */
  connectTimeoutMs?: number
  /**
   * PostgreSQL only: send parameterised statements as named prepared statements, planned
   * once per connection (src/db/prepared.ts). Default true; false for a pooler that does not
   * support them (PgBouncer in transaction mode before 1.21).
   */
  preparedStatements?: boolean
  /**
   * Wraps the Kysely dialect, for instrumentation: the row-bound test measures what each
   * statement reads on the connection that sends it (test/helpers/explain.ts).
   */
  wrapDialect?: ((dialect: Dialect) => Dialect) | undefined
}

/**
 * Opens the database. Embedded mode takes the data-directory lock first: PGlite is
 * single-process and a second writer would corrupt the files.
 */
export async function openDatabase(options: OpenOptions): Promise<Database> {
  const wrap = options.wrapDialect ?? ((dialect: Dialect) => dialect)
  if (options.databaseUrl !== undefined)
    return openPostgres(options.databaseUrl, {
      max: options.poolSize ?? 20,
      connectTimeoutMs: options.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      preparedStatements: options.preparedStatements ?? true,
      wrap,
    })
  if (options.pglite !== undefined) return wrapPGlite(options.pglite, undefined, wrap)
  if (options.dataDir === undefined) throw new Error('openDatabase: need databaseUrl, pglite or dataDir')
  mkdirSync(options.dataDir, { recursive: true, mode: 0o700 })
  const lock = lockDataDir(options.dataDir)
  try {
    const pgdata = path.join(options.dataDir, 'pgdata')
    // A restore that stopped between its two renames (src/modules/ops/backup/): the verified
    // copy is put in place, rather than a new empty database made.
    if (!existsSync(pgdata) && existsSync(`${pgdata}.restored`)) renameSync(`${pgdata}.restored`, pgdata)
    // Under the lock: two processes must not both copy into one data directory.
    if (options.template !== undefined && !existsSync(pgdata)) copyTemplate(options.template, pgdata)
    const pglite = await PGlite.create({
      dataDir: pgdata,
      parsers: pgliteParsers(),
      startParams: pgliteStartParams(),
    })
    return await wrapPGlite(pglite, lock, wrap)
  } catch (error) {
    lock.release()
    throw error
  }
}

/**
 * Copies a template's data directory to `pgdata` (absent): into a sibling first, renamed at
 * the end, so an interrupted copy never looks like a database on the next start.
 */
function copyTemplate(template: string, pgdata: string): void {
  const partial = `${pgdata}.partial`
  rmSync(partial, { recursive: true, force: true })
  cpSync(path.join(template, 'pgdata'), partial, { recursive: true })
  renameSync(partial, pgdata)
}

/**
 * PostgreSQL settings of the embedded database, bounding its memory (issue 20). PGlite runs
 * PostgreSQL inside one WebAssembly memory, which grows and never shrinks, so every
 * high-water mark of PostgreSQL's memory stays in the process's RSS for good:
 * - `shared_buffers` (PGlite's initdb leaves PostgreSQL's 128MB): with it the memory grew
 *   to 189 MiB at start, 160 MiB of it resident, and a buffer once touched stays resident
 *   (docs/benchmarks.md, "PGlite memory"). With 32MB the memory stays at PGlite's initial
 *   128 MiB, 49–56 MiB resident at start and 63–77 MiB once the pool had filled; with 16MB,
 *   31 MiB at start and 42 after the bench's load, which is what brings an idle embedded
 *   service under 250 MiB (docs/benchmarks.md, "The tops of glibc's arenas"). 16MB (2,048
 *   pages) holds the hot pages of the indexes the requests read — CPU per request and the
 *   production-size costs did not move from 32MB; the rest is read through the operating
 *   system's page cache, which is not charged to the process.
 * - `maintenance_work_mem` (64MB): VACUUM's dead-row store, allocated by the maintenance
 *   job (src/db/maintenance.ts); 16MB holds at least 2.8 million dead rows per pass.
 * - `work_mem` stays 4MB (one sort or hash per plan node; requests read pages of ≤ 500 rows).
 */
export const PGLITE_SETTINGS: Readonly<Record<string, string>> = {
  shared_buffers: '16MB',
  maintenance_work_mem: '16MB',
  work_mem: '4MB',
}

/** PGlite's own start parameters, then {@link PGLITE_SETTINGS}. */
export function pgliteStartParams(): string[] {
  return [
    ...PGlite.defaultStartParams,
    ...Object.entries(PGLITE_SETTINGS).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ]
}

export function pgliteParsers(): Record<number, (value: string) => unknown> {
  return { [INT8_OID]: (value: string) => Number(value) }
}

async function wrapPGlite(
  pglite: PGlite,
  lock: DataDirLock | undefined,
  wrap: (dialect: Dialect) => Dialect,
): Promise<Database> {
  await assertDurableCommits(pglite)
  const kysely = new Kysely<DB>({ dialect: wrap(new PGliteDialect({ pglite })) })
  return {
    engine: 'pglite',
    kysely,
    dumpDataDir: () => pglite.dumpDataDir('gzip'),
    async listen(channel, onMessage) {
      // In the process: a notification is delivered after the statement that committed it.
      const unlisten = await pglite.listen(channel, onMessage)
      return { connected: () => true, stop: () => unlisten().catch(() => {}) }
    },
    async close() {
      try {
        await kysely.destroy()
      } finally {
        try {
          // Kysely closes PGlite only once it has run a query through it; the lock is released
          // only after PGlite has closed its files.
          if (!pglite.closed) await pglite.close()
        } finally {
          lock?.release()
        }
      }
    },
  }
}

/**
 * PGlite runs PostgreSQL with fsync off (its `-F` start flag) over a file system that
 * writes straight through to the host's files. With synchronous_commit on, a commit
 * returns only after its WAL record has been written to the OS, so an acknowledged write
 * survives the process being killed — not a power cut (nothing is fsynced). Refuse to run
 * if a configuration ever turns synchronous commit off.
 */
async function assertDurableCommits(pglite: PGlite): Promise<void> {
  const result = await pglite.query<{ synchronous_commit: string }>('SHOW synchronous_commit')
  const setting = result.rows[0]?.synchronous_commit
  if (setting !== 'on') {
    throw new Error(`embedded database has synchronous_commit=${setting}; acknowledged writes could be lost`)
  }
}

/**
 * The first statement's failure, with what to do where the server's words alone leave it
 * open: a database that does not exist yet (`3D000`) — the service creates its tables and
 * roles, not the database itself.
 */
function explainedConnectError(error: unknown, url: string): unknown {
  if ((error as { code?: unknown }).code !== '3D000') return error
  const name = databaseName(url)
  // Quoted for the shell and for SQL, so the advice is safe to paste whatever the name holds.
  const shell = /^[A-Za-z0-9_.-]+$/.test(name) ? name : `'${name.replaceAll("'", `'\\''`)}'`
  const identifier = `"${name.replaceAll('"', '""')}"`
  return new Error(
    `${(error as Error).message}: create it first (\`createdb ${shell}\`, or \`CREATE DATABASE ${identifier}\` as a role that may), then start again; the service creates its tables and roles in it`,
    { cause: error },
  )
}

/**
 * The bound on waiting for a pooled PostgreSQL connection. node-postgres waits forever by
 * default: a database host that stops answering without refusing (a failover behind a
 * virtual IP, a network partition) would hold every request, and every pool slot, until the
 * operating system gave up on the connection many minutes later. 30 s is well past a
 * connection's set-up on a busy server and a failover manager's switch-over.
 */
export const CONNECT_TIMEOUT_MS = 30_000

async function openPostgres(
  url: string,
  options: {
    max: number
    connectTimeoutMs: number
    preparedStatements: boolean
    wrap: (dialect: Dialect) => Dialect
  },
): Promise<Database> {
  const { max, connectTimeoutMs, preparedStatements, wrap } = options
  const types = new pg.TypeOverrides()
  types.setTypeParser(INT8_OID, (value: string) => Number(value))
  const pool = new pg.Pool({ connectionString: url, max, types, connectionTimeoutMillis: connectTimeoutMs })
  // A connection the server drops (restart, failover, terminate) must not crash the
  // process: the query in flight fails (answered 503), the pool discards the client.
  pool.on('error', () => {})
  // Notices raised on the pool's connections (`RAISE NOTICE '<channel>:<payload>'`), to `listen`.
  const notices = new Set<(text: string) => void>()
  // Listening connections still open: closing the database ends them too.
  const listeners = new Set<() => Promise<void>>()
  pool.on('connect', (client) => {
    client.on('error', () => {})
    client.on('notice', (notice) => {
      for (const deliver of notices) deliver(notice.message ?? '')
    })
    // Without named statements (a pooler that cannot hold them) statements still go unnamed,
    // and statements held for COMMIT still travel with it (src/db/prepared.ts).
    prepareStatements(client, preparedStatements ? PREPARED_STATEMENTS_PER_CONNECTION : 0)
  })
  const kysely = new Kysely<DB>({ dialect: wrap(new PostgresDialect({ pool })) })
  preferOneRoundTripBegin(kysely)
  try {
    await sql`SELECT 1`.execute(kysely)
  } catch (error) {
    await pool.end()
    throw explainedConnectError(error, url)
  }
  return {
    engine: 'postgres',
    kysely,
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount, max }),
    url,
    async listen(channel, onMessage, onReset) {
      // The process's own changes, from the connection that makes them, as it makes them;
      // everyone's, from the notification at commit.
      const prefix = `${channel}:`
      const own = (text: string) => {
        if (text.startsWith(prefix)) onMessage(text.slice(prefix.length))
      }
      notices.add(own)
      const listening = await listenOnPostgres(url, types, connectTimeoutMs, channel, onMessage, onReset)
      const stop = async () => {
        notices.delete(own)
        listeners.delete(stop)
        await listening.stop()
      }
      listeners.add(stop)
      return { connected: () => listening.connected(), stop }
    },
    async close() {
      for (const stop of [...listeners]) await stop()
      await kysely.destroy()
    },
  }
}

/** How long a dropped listening connection waits before connecting again, in ms. */
const LISTEN_RETRY_MS = 1_000

/**
 * `LISTEN` on a connection of its own (a pooled one would be handed to other work), kept
 * open: after it drops (a restart, a failover), `onReset` and a new connection a second
 * later. Channel names are identifiers of ours, never a caller's.
 */
async function listenOnPostgres(
  url: string,
  types: pg.CustomTypesConfig,
  connectTimeoutMs: number,
  channel: string,
  onMessage: (payload: string) => void,
  onReset: () => void,
): Promise<{ connected(): boolean; stop(): Promise<void> }> {
  if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error('listen: channel is not a plain identifier')
  let client: pg.Client | undefined
  let live = false
  let stopped = false
  let retry: NodeJS.Timeout | undefined
  const dropped = (which: pg.Client) => {
    if (client !== which) return
    client = undefined
    live = false
    onReset()
    which.end().catch(() => {})
    if (!stopped) retry = setTimeout(() => void connect(), LISTEN_RETRY_MS).unref()
  }
  async function connect(): Promise<void> {
    const next = new pg.Client({ connectionString: url, types, connectionTimeoutMillis: connectTimeoutMs })
    client = next
    next.on('error', () => dropped(next))
    next.on('end', () => dropped(next))
    next.on('notification', (message) => {
      if (message.channel === channel && message.payload !== undefined) onMessage(message.payload)
    })
    try {
      await next.connect()
      // Never what keeps a process alive: its pool and server are.
      ;(next as unknown as { connection?: { stream?: { unref?: () => void } } }).connection?.stream?.unref?.()
      await next.query(`LISTEN ${channel}`)
      if (client !== next) return
      live = true
      // Whatever changed while nobody listened is dropped now.
      onReset()
    } catch {
      dropped(next)
    }
  }
  await connect()
  return {
    connected: () => live,
    async stop() {
      stopped = true
      clearTimeout(retry)
      const last = client
      client = undefined
      live = false
      await last?.end().catch(() => {})
    },
  }
}
