import { execFileSync } from 'node:child_process'
import { appendFileSync, chmodSync, chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'

const BIN = '/usr/lib/postgresql/15/bin'

/**
 * The name the standby gives itself (`application_name` in its primary_conninfo) and the
 * primary's synchronous_standby_names names: a commit on the primary is acknowledged only
 * once this standby has the commit's WAL (PostgreSQL 15 docs, 27.2.8 "Synchronous
 * Replication").
 */
export const STANDBY_NAME = 'custodian_standby'

/** One PostgreSQL 15 server of a {@link ReplicatedPair}, started as the `postgres` OS user. */
export interface Node {
  port: number
  data: string
  /** A superuser URL on 127.0.0.1 (trust authentication: the cluster listens on loopback only). */
  url(database?: string): string
  /** Runs a query as the superuser on a connection of its own. */
  query<R extends pg.QueryResultRow>(text: string, values?: unknown[], database?: string): Promise<R[]>
}

/**
 * A throwaway primary and its streaming standby (made with pg_basebackup), replicating
 * synchronously: what a failover manager (pg_auto_failover, Patroni) runs, without the
 * manager — the test plays its part (kill, promote, repoint). Never the machine's own
 * cluster: fresh data directories under a temp directory, free ports on 127.0.0.1, the
 * same way test/helpers/pg-cluster.ts makes its one-node cluster.
 */
export interface ReplicatedPair {
  primary: Node
  standby: Node
  /** Resolves once the primary reports the standby streaming with sync_state 'sync'. */
  waitForSyncStandby(): Promise<void>
  /**
   * Crashes the primary: SIGKILL to the postmaster and every process it started, so no
   * shutdown code runs, no WAL is flushed or sent after the signal (a power cut of the host,
   * as far as the standby can tell).
   */
  crashPrimary(): void
  /** `pg_ctl promote -w`: the standby leaves recovery and accepts writes. */
  promoteStandby(): void
  stop(): void
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

function node(port: number, data: string): Node {
  const url = (database = 'postgres') => `postgres://postgres@127.0.0.1:${port}/${database}`
  return {
    port,
    data,
    url,
    async query<R extends pg.QueryResultRow>(text: string, values: unknown[] = [], database?: string) {
      const client = new pg.Client({ connectionString: url(database) })
      client.on('error', () => {})
      await client.connect()
      try {
        return (await client.query<R>(text, values)).rows
      } finally {
        await client.end().catch(() => {})
      }
    },
  }
}

/**
 * Starts the pair. Settings (PostgreSQL 15 docs, chapter 27 "High Availability, Load
 * Balancing, and Replication"):
 * - primary: `wal_level = replica`, `max_wal_senders`, `synchronous_standby_names =
 *   'FIRST 1 (custodian_standby)'` and `synchronous_commit = on` — a commit returns once the
 *   standby has flushed its WAL. `remote_apply` would also wait for the standby to replay
 *   it (read-your-writes on the standby); the service reads only from the primary, so `on`
 *   is enough for "no acknowledged write lost" and costs one less wait per commit.
 * - standby: `hot_standby`, `primary_conninfo` with its application_name, standby.signal
 *   (pg_basebackup -R), and an empty synchronous_standby_names for the time it is promoted
 *   with no standby of its own left: a failover manager does the same (Patroni's
 *   non-strict synchronous_mode, pg_auto_failover with no secondary left) rather than
 *   blocking every commit until a new standby is built.
 * - fsync off on both, as the project's other throwaway clusters: the test crashes
 *   processes, not the machine, so WAL written to the OS is all that must survive.
 */
export async function startReplicatedPair(): Promise<ReplicatedPair> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgpair-'))
  chmodSync(dir, 0o755)
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
  chownSync(dir, uid, gid)
  const as = (args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: 'pipe' })
  const primaryData = path.join(dir, 'primary')
  const standbyData = path.join(dir, 'standby')
  const primaryPort = await freePort()
  const standbyPort = await freePort()
  const log = (name: string) => path.join(dir, `${name}.log`)
  const pgCtl = (data: string, name: string, ...args: string[]) =>
    as([`${BIN}/pg_ctl`, '-D', data, '-l', log(name), '-w', '-t', '60', ...args])
  const settings = (port: number, extra: string) =>
    `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nfsync = off\n${extra}`

  as([`${BIN}/initdb`, '-D', primaryData, '--auth=trust', '-U', 'postgres', '--no-sync'])
  writeFileSync(
    path.join(primaryData, 'pg_hba.conf'),
    'local all all trust\nhost all all 127.0.0.1/32 trust\nhost replication all 127.0.0.1/32 trust\n',
  )
  writeFileSync(
    path.join(primaryData, 'postgresql.auto.conf'),
    settings(
      primaryPort,
      `wal_level = replica\nmax_wal_senders = 4\nsynchronous_standby_names = 'FIRST 1 (${STANDBY_NAME})'\nsynchronous_commit = on\n`,
    ),
  )
  pgCtl(primaryData, 'primary', 'start')

  as([
    `${BIN}/pg_basebackup`,
    '-h',
    '127.0.0.1',
    '-p',
    String(primaryPort),
    '-U',
    'postgres',
    '-D',
    standbyData,
    '-X',
    'stream',
    '-R',
    '--no-sync',
  ])
  // pg_basebackup copied the primary's postgresql.auto.conf and appended primary_conninfo
  // (-R); later lines win, so the standby's own settings go after.
  appendFileSync(
    path.join(standbyData, 'postgresql.auto.conf'),
    `\n${settings(
      standbyPort,
      `hot_standby = on\nsynchronous_standby_names = ''\nprimary_conninfo = 'host=127.0.0.1 port=${primaryPort} user=postgres application_name=${STANDBY_NAME}'\n`,
    )}`,
  )
  pgCtl(standbyData, 'standby', 'start')

  const primary = node(primaryPort, primaryData)
  const standby = node(standbyPort, standbyData)
  const running = { primary: true, standby: true }
  return {
    primary,
    standby,
    async waitForSyncStandby() {
      // The standby connects on its own schedule: poll the primary's view of it (bounded).
      for (let attempt = 0; attempt < 600; attempt++) {
        const rows = await primary.query<{ sync_state: string }>(
          `SELECT sync_state FROM pg_stat_replication WHERE application_name = $1 AND state = 'streaming'`,
          [STANDBY_NAME],
        )
        if (rows[0]?.sync_state === 'sync') return
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      throw new Error(`the standby never became synchronous:\n${readFileSync(log('standby'), 'utf8')}`)
    },
    crashPrimary() {
      const postmaster = Number(readFileSync(path.join(primaryData, 'postmaster.pid'), 'utf8').split('\n')[0])
      // Its children first named, then the postmaster killed before them: a postmaster that
      // saw a child die would start crash recovery, which is shutdown code of its own.
      const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(postmaster)])
        .toString()
        .split('\n')
        .map((line) => Number(line.trim()))
        .filter((pid) => pid > 0)
      process.kill(postmaster, 'SIGKILL')
      for (const pid of children) {
        try {
          process.kill(pid, 'SIGKILL')
        } catch {
          // Already gone.
        }
      }
      running.primary = false
    },
    promoteStandby() {
      pgCtl(standbyData, 'standby', 'promote')
    },
    stop() {
      if (running.standby) pgCtl(standbyData, 'standby', '-m', 'immediate', 'stop')
      running.standby = false
      if (running.primary) pgCtl(primaryData, 'primary', '-m', 'immediate', 'stop')
      running.primary = false
    },
  }
}
