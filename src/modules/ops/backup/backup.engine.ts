import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import type { Database } from '../../../db/connect.ts'

/**
 * The engine-specific halves of a backup: a consistent snapshot of the database as a byte
 * stream, and loading one back into a fresh database.
 *
 * - PostgreSQL: `pg_dump --format=custom` (one repeatable-read snapshot while the service
 *   runs; Debian's postgresql-client, a prerequisite) and `pg_restore` into a database made
 *   for it. `--no-owner`: objects belong to whoever restores (the service's connection
 *   user); grants to `custodian_app` are kept, and that role is created first if missing.
 * - PGlite: `dumpDataDir('gzip')`, a tarball of the data directory taken by the process that
 *   has it open, between two statements (PGlite runs one at a time), so it is consistent.
 *   PGlite builds it in memory: an embedded database's backup needs its size in memory.
 */

/** A PostgreSQL tool failed; its standard error is in the message (never a secret: no password is passed on its command line). */
export class EngineToolError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'EngineToolError'
  }
}

/**
 * `pg_dump --format=custom` of the database at `url`, streamed; with `snapshot`, of that
 * exported snapshot (`pg_export_snapshot()`, held open by the caller until the dump ends).
 */
export function pgDumpStream(url: string, snapshot?: string): Readable {
  const args = ['--format=custom', '--no-owner', ...(snapshot === undefined ? [] : [`--snapshot=${snapshot}`])]
  const child = spawn('pg_dump', [...args, `--dbname=${url}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text
  })
  const out = new Readable({
    read() {},
    destroy(error, done) {
      if (child.exitCode === null) child.kill()
      done(error)
    },
  })
  child.stdout.on('data', (chunk: Buffer) => {
    if (!out.push(chunk)) child.stdout.pause()
  })
  out._read = () => child.stdout.resume()
  child.once('error', (error) => out.destroy(new EngineToolError(`pg_dump could not start: ${error.message}`)))
  child.once('close', (code) => {
    if (code === 0) out.push(null)
    else out.destroy(new EngineToolError(`pg_dump failed (exit ${code}): ${redact(stderr.trim())}`))
  })
  return out
}

/** Restores a custom-format dump read from `dump` into the (empty) database at `url`, in one transaction. */
export async function pgRestore(url: string, dump: Readable): Promise<void> {
  await ensureAppRole(url)
  const child = spawn('pg_restore', ['--no-owner', '--exit-on-error', '--single-transaction', `--dbname=${url}`], {
    stdio: ['pipe', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 4000) stderr += text
  })
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => reject(new EngineToolError(`pg_restore could not start: ${error.message}`)))
    child.once('close', resolve)
  })
  try {
    await pipeline(dump, child.stdin)
  } catch (error) {
    child.kill()
    await exited.catch(() => undefined)
    throw error
  }
  const code = await exited
  if (code !== 0) throw new EngineToolError(`pg_restore failed (exit ${code}): ${redact(stderr.trim())}`)
}

/** The role migration 0001 creates is cluster-wide: a fresh cluster lacks it, and the dump's grants need it. */
async function ensureAppRole(url: string): Promise<void> {
  await withClient(url, async (client) => {
    await client.query(`DO $$ BEGIN
      CREATE ROLE custodian_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOINHERIT;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END $$`)
    await client.query(`DO $$ BEGIN
      IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
        EXECUTE format('GRANT custodian_app TO %I', current_user);
      END IF;
    END $$`)
  })
}

/** The database name in a postgres:// URL. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''))
  if (name === '') throw new Error('DATABASE_URL names no database')
  return name
}

/** The same server and credentials, another database. */
export function withDatabase(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${encodeURIComponent(name)}`
  return u.toString()
}

/** A name for a database made beside `base`: `<base>_<purpose>_<random>`, within PostgreSQL's 63 bytes. */
export function siblingName(base: string, purpose: string): string {
  return `${base.slice(0, 63 - purpose.length - 10)}_${purpose}_${randomBytes(4).toString('hex')}`
}

export async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  client.on('error', () => {})
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

const ident = (name: string) => `"${name.replaceAll('"', '""')}"`

/** Creates the database `name` on the server of `url` (connected through `url`'s own database). */
export async function createDatabase(url: string, name: string): Promise<void> {
  await withClient(url, (client) => client.query(`CREATE DATABASE ${ident(name)}`))
}

export async function dropDatabase(url: string, name: string): Promise<void> {
  await withClient(url, (client) => client.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`))
}

/** Sessions other than ours connected to `name`: a service running against it. */
export async function otherSessions(url: string, name: string): Promise<number> {
  return withClient(url, async (client) => {
    const r = await client.query<{ n: string }>(
      'SELECT count(*)::text AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [name],
    )
    return Number(r.rows[0]?.n ?? 0)
  })
}

/**
 * Puts `fresh` in the place of `target` in one transaction (ALTER DATABASE … RENAME is
 * transactional): `target`, when it exists, becomes `previous`. Connected through
 * `maintenanceUrl`, a database that is neither (a database cannot be renamed from inside).
 */
export async function swapDatabases(
  maintenanceUrl: string,
  target: string,
  fresh: string,
  previous: string,
): Promise<void> {
  await withClient(maintenanceUrl, async (client) => {
    await client.query('BEGIN')
    try {
      const exists = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [target])
      if (exists.rowCount !== 0) await client.query(`ALTER DATABASE ${ident(target)} RENAME TO ${ident(previous)}`)
      await client.query(`ALTER DATABASE ${ident(fresh)} RENAME TO ${ident(target)}`)
      await client.query('COMMIT')
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined)
      throw error
    }
  })
}

/** PGlite's consistent tarball of its data directory, taken by the process that has it open. */
export async function pgliteSnapshot(database: Database): Promise<Readable> {
  if (database.dumpDataDir === undefined) throw new Error('this database cannot dump its data directory')
  const blob = await database.dumpDataDir()
  return Readable.fromWeb(blob.stream() as import('node:stream/web').ReadableStream<Uint8Array>)
}

/** Reads a whole stream into memory (PGlite loads a data directory from one Blob). */
export async function readAll(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of stream) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

/** Passwords in connection strings that a tool echoed back are cut out of its message. */
function redact(text: string): string {
  return text.replace(/(postgres(?:ql)?:\/\/[^:/@\s]+:)[^@\s]+@/g, '$1***@')
}
