/**
 * What a `DATABASE_URL` names, read without connecting: for the compliance check of the
 * connection's TLS, the CLI's account of which database it worked on and the start's advice
 * on a database not created yet. Read with pg-connection-string, the parser node-postgres
 * itself connects with, so what is said here is where the service connects. No driver is
 * loaded here (the CLI's commands import this at start).
 */
import path from 'node:path'
import { parse } from 'pg-connection-string'

const POSTGRES_URL = /^postgres(ql)?:\/\//

/**
 * Where a PostgreSQL connection string (`DATABASE_URL`) makes node-postgres connect: its host
 * (`::1` without brackets), or `'unix socket <directory>'` when it names a socket directory —
 * a percent-encoded path as the host (`postgres://user@%2Fvar%2Frun%2Fpostgresql/db`) or a
 * `host` parameter that is a path (`?host=/var/run/postgresql`, taken over the URL's host); an
 * empty host (`postgres:///db`) is `localhost` over TCP (node-postgres's default, where libpq
 * would take its socket); `'unknown'` when it is not a `postgres://` or `postgresql://` URL.
 */
export function databaseHost(databaseUrl: string | undefined): string {
  if (databaseUrl === undefined || !POSTGRES_URL.test(databaseUrl)) return 'unknown'
  const host = parse(databaseUrl).host ?? ''
  if (host === '') return 'localhost'
  return host.startsWith('/') ? `unix socket ${host}` : host
}

/** The database a `postgres://` URL names (decoded), or `''` when it names none or is not one. */
export function databaseName(databaseUrl: string): string {
  return POSTGRES_URL.test(databaseUrl) ? (parse(databaseUrl).database ?? '') : ''
}

/**
 * The database a process works on, in words for its output (`custodian audit verify` says
 * which it checked): `PostgreSQL database "<name>" on <host>` (no user or password), or
 * `the embedded database in <data directory>`.
 */
export function databaseLabel(config: { databaseUrl?: string | undefined; dataDir: string }): string {
  if (config.databaseUrl === undefined) return `the embedded database in ${path.resolve(config.dataDir)}`
  return `PostgreSQL database "${databaseName(config.databaseUrl)}" on ${databaseHost(config.databaseUrl)}`
}
