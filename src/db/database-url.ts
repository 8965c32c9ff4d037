/**
 * What a `DATABASE_URL` names, read without connecting: for the compliance check of the
 * connection's TLS, the CLI's account of which database it worked on and the start's advice
 * on a database not created yet. Read by node-postgres itself (a client made, never
 * connected): the URL, then the `PGHOST`, `PGPORT` and `PGDATABASE` variables and the
 * driver's defaults, as the service's own connections read them — so what is said here is
 * where the service connects.
 */
import { isIP } from 'node:net'
import path from 'node:path'
import pg from 'pg'

const POSTGRES_URL = /^postgres(ql)?:\/\//

/** Where node-postgres connects for `databaseUrl`: host (or socket directory), port and database. */
function target(databaseUrl: string): { host: string; port: number; database: string } {
  const client = new pg.Client({ connectionString: databaseUrl })
  return { host: client.host, port: client.port, database: client.database ?? '' }
}

/**
 * Where a PostgreSQL connection string (`DATABASE_URL`) makes node-postgres connect: its host
 * (`::1` without brackets), or `'unix socket <directory>'` when it names a socket directory — a
 * percent-encoded path as the host (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`) or a `host`
 * parameter that is a path (`?host=/var/run/postgresql`); a URL without a host
 * (`postgres:///db`) takes `PGHOST`, else `localhost` over TCP (node-postgres's default, where
 * libpq would take its socket); `'unknown'` when it is not a `postgres://` or `postgresql://` URL.
 */
export function databaseHost(databaseUrl: string | undefined): string {
  if (databaseUrl === undefined || !POSTGRES_URL.test(databaseUrl)) return 'unknown'
  const { host } = target(databaseUrl)
  return host.startsWith('/') ? `unix socket ${host}` : host
}

/** The database node-postgres opens for a `postgres://` URL (the URL's, else `PGDATABASE`, else the user's name); `''` when it is not one. */
export function databaseName(databaseUrl: string): string {
  return POSTGRES_URL.test(databaseUrl) ? target(databaseUrl).database : ''
}

/**
 * Whether `host` (a name or address as {@link databaseHost} or a URL gives it, IPv6 with or
 * without brackets) is this machine's loopback: `localhost`, an IPv4 address in 127.0.0.0/8
 * or `::1` (RFC 6890). A name that only looks like one (`127.0.0.256`, which the resolver may
 * map anywhere) is not.
 */
export function isLoopbackHost(host: string): boolean {
  if (host === 'localhost') return true
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (isIP(bare) === 4) return bare.startsWith('127.')
  return isIP(bare) === 6 && bare === '::1'
}

/**
 * The database a process works on, in words for its output (`custodian audit verify` says
 * which it checked): `PostgreSQL database "<name>" on <host>:<port>` (no user or password), or
 * `the embedded database in <data directory>`.
 */
export function databaseLabel(config: { databaseUrl?: string | undefined; dataDir: string }): string {
  if (config.databaseUrl === undefined) return `the embedded database in ${path.resolve(config.dataDir)}`
  if (!POSTGRES_URL.test(config.databaseUrl)) return 'PostgreSQL database at an unreadable DATABASE_URL'
  const { host, port, database } = target(config.databaseUrl)
  const where = host.startsWith('/')
    ? `the Unix socket in ${host} (port ${port})`
    : `${host.includes(':') ? `[${host}]` : host}:${port}`
  return `PostgreSQL database "${database}" on ${where}`
}
