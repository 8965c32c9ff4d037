import pg from 'pg'
import type { DatabaseCredential } from './vault.types.ts'

/**
 * What a database credential can do (P1.7): connect with it — over TLS unless the secret
 * itself says `sslmode: disable` — and ask PostgreSQL about the role's attributes and
 * every write privilege it holds: INSERT/UPDATE/DELETE/TRUNCATE on any table, CREATE on
 * any schema or on the database. The password is only handed to the driver.
 */
export interface CheckResult {
  reachable: boolean
  /** Why the connection failed (no secret in it). */
  error?: string
  tls?: boolean
  role?: string
  superuser?: boolean
  attributes?: { createRole: boolean; createDb: boolean; replication: boolean; bypassRls: boolean }
  /** Tables the role can change, with what it can do to each (first 100). */
  writableTables?: { schema: string; table: string; privileges: string[] }[]
  writableTableCount?: number
  /** Schemas the role can create objects in. */
  creatableSchemas?: string[]
  canCreateInDatabase?: boolean
  /** Whether the role can write anything at all. */
  canWrite?: boolean
  checkedAt: string
}

export function tlsOptionsFor(sslmode: DatabaseCredential['sslmode']): pg.ClientConfig['ssl'] {
  switch (sslmode) {
    case 'disable':
      return false
    case 'require':
      return { rejectUnauthorized: false }
    case 'verify-ca':
      return { rejectUnauthorized: true, checkServerIdentity: () => undefined }
    case 'verify-full':
      return { rejectUnauthorized: true }
  }
}

export async function checkCredential(credential: DatabaseCredential, timeoutMs = 5000): Promise<CheckResult> {
  const checkedAt = new Date().toISOString()
  const client = new pg.Client({
    host: credential.host,
    port: credential.port,
    database: credential.database,
    user: credential.user,
    password: credential.password,
    ssl: tlsOptionsFor(credential.sslmode),
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    application_name: 'custodian-check',
  })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    return { reachable: false, error: describe(error, credential.password), checkedAt }
  }
  try {
    // The check itself never writes, whatever the role may do.
    await client.query('SET default_transaction_read_only = on')
    const role = (
      await client.query<{ rolname: string; rolsuper: boolean; rolcreaterole: boolean; rolcreatedb: boolean; rolreplication: boolean; rolbypassrls: boolean; tls: boolean | null }>(`
        SELECT r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls,
               (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS tls
          FROM pg_roles r WHERE r.rolname = current_user`)
    ).rows[0]
    const tables = await client.query<{ schema: string; table: string; privileges: string[] }>(`
      SELECT n.nspname AS schema, c.relname AS table,
             array_remove(ARRAY[
               CASE WHEN has_table_privilege(c.oid, 'INSERT') THEN 'INSERT' END,
               CASE WHEN has_table_privilege(c.oid, 'UPDATE') THEN 'UPDATE' END,
               CASE WHEN has_table_privilege(c.oid, 'DELETE') THEN 'DELETE' END,
               CASE WHEN has_table_privilege(c.oid, 'TRUNCATE') THEN 'TRUNCATE' END], NULL) AS privileges
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
         AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
         AND (has_table_privilege(c.oid, 'INSERT') OR has_table_privilege(c.oid, 'UPDATE')
              OR has_table_privilege(c.oid, 'DELETE') OR has_table_privilege(c.oid, 'TRUNCATE'))
       ORDER BY 1, 2`)
    const schemas = await client.query<{ nspname: string }>(`
      SELECT nspname FROM pg_namespace
       WHERE has_schema_privilege(oid, 'CREATE')
         AND nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_toast%' AND nspname NOT LIKE 'pg\\_temp%'
       ORDER BY 1`)
    const database = await client.query<{ create: boolean }>(`SELECT has_database_privilege(current_database(), 'CREATE') AS create`)
    const superuser = role?.rolsuper === true
    const canCreateInDatabase = database.rows[0]?.create === true
    const canWrite = superuser || tables.rows.length > 0 || schemas.rows.length > 0 || canCreateInDatabase
    return {
      reachable: true,
      tls: role?.tls === true,
      role: role?.rolname,
      superuser,
      attributes: { createRole: role?.rolcreaterole === true, createDb: role?.rolcreatedb === true, replication: role?.rolreplication === true, bypassRls: role?.rolbypassrls === true },
      writableTables: tables.rows.slice(0, 100),
      writableTableCount: tables.rows.length,
      creatableSchemas: schemas.rows.map((r) => r.nspname),
      canCreateInDatabase,
      canWrite,
      checkedAt,
    }
  } finally {
    await client.end().catch(() => {})
  }
}

function describe(error: unknown, password: string): string {
  const message = error instanceof Error ? error.message : String(error)
  return `connection failed: ${message.replaceAll(password, '[redacted]').slice(0, 300)}`
}
