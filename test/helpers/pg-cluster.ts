import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { generate } from 'selfsigned'

const BIN = '/usr/lib/postgresql/15/bin'

/**
 * A throwaway PostgreSQL 15 cluster of this test file's own, with what the machine's
 * shared server lacks: SCRAM password authentication (a wrong password is refused)
 * and TLS. Started as the `postgres` OS user, stopped and left in a temp directory.
 */
export interface Cluster {
  port: number
  superuserPassword: string
  url(user: string, password: string, database?: string): string
  /** A database_credential secret's value for this cluster (TLS required). */
  credential(user: string, password: string): DatabaseCredential
  /** Whether `user` logs in with `password` now (over TLS). */
  canLogIn(user: string, password: string): Promise<boolean>
  /** Runs the statements, in order, as the superuser. */
  asSuperuser(...statements: string[]): Promise<void>
  stop(): void
  /** The cluster's own directory (its socket, its log) and its data directory. */
  dir: string
  dataDir: string
  /** Runs a command as the postgres OS user (e.g. a backup tool). */
  asPostgres(args: string[]): Buffer
  /** Starts the cluster again after `stop()` (waits until it accepts connections). */
  start(): void
}

export interface ClusterOptions {
  /** More lines for postgresql.auto.conf (e.g. WAL archiving). */
  conf?: string
  /** Lines put before the SCRAM rules of pg_hba.conf (e.g. `local all postgres peer` for a tool on the socket). */
  hba?: string
}

export interface DatabaseCredential {
  host: string
  port: number
  database: string
  user: string
  password: string
  sslmode: 'require'
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer()
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

export async function startCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const dir = mkdtempSync(path.join(tmpdir(), 'pgcluster-'))
  chmodSync(dir, 0o755)
  const data = path.join(dir, 'data')
  const uid = Number(execFileSync('id', ['-u', 'postgres']).toString())
  const gid = Number(execFileSync('id', ['-g', 'postgres']).toString())
  chownSync(dir, uid, gid)
  const superuserPassword = 'cluster-superuser-pw'
  const pwfile = path.join(dir, 'pw')
  writeFileSync(pwfile, superuserPassword)
  chownSync(pwfile, uid, gid)
  const as = (args: string[]) => execFileSync('runuser', ['-u', 'postgres', '--', ...args], { stdio: 'pipe' })
  as([`${BIN}/initdb`, '-D', data, '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-U', 'postgres', '--no-sync'])
  const pems = await generate([{ name: 'commonName', value: 'localhost' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
  })
  for (const [file, content] of [
    ['server.crt', pems.cert],
    ['server.key', pems.private],
  ] as const) {
    const target = path.join(data, file)
    writeFileSync(target, content, { mode: 0o600 })
    chownSync(target, uid, gid)
  }
  const port = await freePort()
  writeFileSync(
    path.join(data, 'postgresql.auto.conf'),
    `port = ${port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '${dir}'\nssl = on\npassword_encryption = 'scram-sha-256'\nfsync = off\n${options.conf ?? ''}`,
  )
  writeFileSync(
    path.join(data, 'pg_hba.conf'),
    `${options.hba ?? ''}local all all scram-sha-256\nhost all all 127.0.0.1/32 scram-sha-256\n`,
  )
  const start = () => as([`${BIN}/pg_ctl`, '-D', data, '-l', path.join(dir, 'log'), '-w', '-t', '60', 'start'])
  start()
  const url = (user: string, password: string, database = 'postgres') =>
    `postgres://${encodeURIComponent(user)}:${encodeURIComponent(password)}@127.0.0.1:${port}/${database}`
  return {
    port,
    superuserPassword,
    url,
    credential: (user, password) => ({
      host: '127.0.0.1',
      port,
      database: 'postgres',
      user,
      password,
      sslmode: 'require',
    }),
    canLogIn: async (user, password) => {
      const client = new pg.Client({ connectionString: url(user, password), ssl: { rejectUnauthorized: false } })
      client.on('error', () => {})
      try {
        await client.connect()
        return true
      } catch {
        return false
      } finally {
        await client.end().catch(() => {})
      }
    },
    asSuperuser: async (...statements) => {
      const su = new pg.Client({
        connectionString: url('postgres', superuserPassword),
        ssl: { rejectUnauthorized: false },
      })
      await su.connect()
      try {
        for (const statement of statements) await su.query(statement)
      } finally {
        await su.end()
      }
    },
    stop: () => {
      as([`${BIN}/pg_ctl`, '-D', data, '-m', 'immediate', '-w', 'stop'])
    },
    dir,
    dataDir: data,
    asPostgres: as,
    start,
  }
}
