import { isIP } from 'node:net'
import { DestinationRefused, type DestinationGuard } from '../../http/outbound.ts'
import pg from 'pg'
import type { DatabaseCredential } from './vault.types.ts'

/**
 * What a database credential can do (P1.7): connect with it — over TLS unless the secret
 * itself says `sslmode: disable` — and ask PostgreSQL about the role's attributes and
 * every way it can write: INSERT/UPDATE/DELETE/TRUNCATE on any table, CREATE on any
 * schema or on the database; superuser, CREATEROLE (it can grant itself writing roles)
 * and BYPASSRLS; owning a table or schema (an owner grants itself back what it revoked);
 * and membership, at any depth and whatever INHERIT says (SET ROLE reaches it), in a role
 * that can do any of that or in a predefined writing role (pg_write_all_data…).
 * `writeReasons` names each; `canWrite` is true when there is one. The password is only
 * handed to the driver.
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
  /** Every way it can write, in words ("owns table public.x", "member of pg_write_all_data"…); empty when it cannot. */
  writeReasons?: string[]
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

/**
 * Where to connect for a credential, through the outbound guard (K10): its host resolved and
 * checked now — a tenant's data source must not reach loopback, private or metadata addresses
 * unless the operator allows them — and the connection made to that checked address, with
 * TLS still verifying the name the credential gives. Throws DestinationRefused.
 */
export async function connectionTarget(
  credential: DatabaseCredential,
  guard: Pick<DestinationGuard, 'resolveHost'>,
): Promise<Pick<pg.ClientConfig, 'host' | 'ssl'>> {
  const address = await guard.resolveHost(credential.host)
  const tls = tlsOptionsFor(credential.sslmode)
  const named = isIP(credential.host.replace(/^\[|\]$/g, '')) === 0
  return { host: address, ssl: typeof tls === 'object' && named ? { ...tls, servername: credential.host } : tls }
}

export async function checkCredential(
  credential: DatabaseCredential,
  guard: Pick<DestinationGuard, 'resolveHost'>,
  timeoutMs = 5000,
): Promise<CheckResult> {
  const checkedAt = new Date().toISOString()
  let target: Pick<pg.ClientConfig, 'host' | 'ssl'>
  try {
    target = await connectionTarget(credential, guard)
  } catch (error) {
    if (error instanceof DestinationRefused)
      return { reachable: false, error: `destination refused: ${error.message}`, checkedAt }
    throw error
  }
  const client = new pg.Client({
    ...target,
    port: credential.port,
    database: credential.database,
    user: credential.user,
    password: credential.password,
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
      await client.query<{
        rolname: string
        rolsuper: boolean
        rolcreaterole: boolean
        rolcreatedb: boolean
        rolreplication: boolean
        rolbypassrls: boolean
        tls: boolean | null
      }>(`
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
    const database = await client.query<{ create: boolean }>(
      `SELECT has_database_privilege(current_database(), 'CREATE') AS create`,
    )
    const owned = await client.query<{ kind: string; name: string }>(`
      SELECT 'table' AS kind, n.nspname || '.' || c.relname AS name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relowner = (SELECT oid FROM pg_roles WHERE rolname = current_user)
         AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_SCHEMA('n.nspname')}
      UNION ALL
      SELECT 'schema', n.nspname FROM pg_namespace n
       WHERE n.nspowner = (SELECT oid FROM pg_roles WHERE rolname = current_user) AND ${USER_SCHEMA('n.nspname')}
       ORDER BY 1, 2`)
    const superuser = role?.rolsuper === true
    // A superuser is a member of every role: nothing to add, and no need to ask.
    const memberships = superuser
      ? { rows: [] }
      : await client.query<{ rolname: string; why: string[] }>(`
      SELECT r.rolname, array_remove(ARRAY[
               CASE WHEN r.rolname IN (${WRITING_ROLES}) THEN 'a predefined writing role' END,
               CASE WHEN r.rolsuper THEN 'superuser' END,
               CASE WHEN r.rolcreaterole THEN 'CREATEROLE' END,
               CASE WHEN r.rolbypassrls THEN 'BYPASSRLS' END,
               CASE WHEN EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                                  WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') AND ${USER_SCHEMA('n.nspname')}
                                    AND (c.relowner = r.oid OR has_table_privilege(r.oid, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')))
                    THEN 'owns or can write tables' END,
               CASE WHEN EXISTS (SELECT 1 FROM pg_namespace n WHERE ${USER_SCHEMA('n.nspname')}
                                    AND (n.nspowner = r.oid OR has_schema_privilege(r.oid, n.oid, 'CREATE')))
                    THEN 'owns or can create in schemas' END,
               CASE WHEN has_database_privilege(r.oid, current_database(), 'CREATE') THEN 'CREATE on the database' END], NULL) AS why
        FROM pg_roles r
       WHERE r.rolname <> current_user AND pg_has_role(r.oid, 'MEMBER')
       ORDER BY 1`)
    const canCreateInDatabase = database.rows[0]?.create === true
    const writeReasons = [
      ...(superuser ? ['superuser'] : []),
      ...(role?.rolcreaterole === true ? ['CREATEROLE (can grant itself writing roles)'] : []),
      ...(role?.rolbypassrls === true ? ['BYPASSRLS'] : []),
      ...tables.rows.slice(0, 5).map((t) => `${t.privileges.join('/')} on ${t.schema}.${t.table}`),
      ...(tables.rows.length > 5 ? [`write privileges on ${tables.rows.length - 5} more tables`] : []),
      ...owned.rows.slice(0, 5).map((o) => `owns ${o.kind} ${o.name}`),
      ...schemas.rows.map((r) => `CREATE on schema ${r.nspname}`).slice(0, 5),
      ...(canCreateInDatabase ? ['CREATE on the database'] : []),
      ...memberships.rows
        .filter((m) => m.why.length > 0)
        .slice(0, 10)
        .map((m) => `member of ${m.rolname} (${m.why.join(', ')})`),
    ]
    const canWrite = writeReasons.length > 0
    return {
      reachable: true,
      tls: role?.tls === true,
      role: role?.rolname,
      superuser,
      attributes: {
        createRole: role?.rolcreaterole === true,
        createDb: role?.rolcreatedb === true,
        replication: role?.rolreplication === true,
        bypassRls: role?.rolbypassrls === true,
      },
      writableTables: tables.rows.slice(0, 100),
      writableTableCount: tables.rows.length,
      creatableSchemas: schemas.rows.map((r) => r.nspname),
      canCreateInDatabase,
      canWrite,
      writeReasons,
      checkedAt,
    }
  } finally {
    await client.end().catch(() => {})
  }
}

/** Predefined roles whose members write without any grant on a table (PostgreSQL 14+). */
const WRITING_ROLES = "'pg_write_all_data', 'pg_write_server_files', 'pg_execute_server_program'"
const USER_SCHEMA = (column: string) =>
  `${column} NOT IN ('pg_catalog', 'information_schema') AND ${column} NOT LIKE 'pg\\_toast%' AND ${column} NOT LIKE 'pg\\_temp%'`

/** The refusal a write-capable or unchecked credential gets under the read-only policy. */
export function notReadOnlyMessage(name: string | undefined, check: Partial<CheckResult> | null): string {
  const policy = 'the org allows read-only connectors only'
  if (check?.reachable !== true)
    return `${policy}, and ${name ?? 'the credential'} could not be checked${check?.error === undefined ? '' : ` (${check.error})`}; run a check`
  return `${policy}${name === undefined ? ',' : `; ${name}:`} role ${check.role ?? '?'} can write: ${(check.writeReasons ?? ['write privileges']).join('; ')}`
}

function describe(error: unknown, password: string): string {
  const message = error instanceof Error ? error.message : String(error)
  return `connection failed: ${message.replaceAll(password, '[redacted]').slice(0, 300)}`
}
