import assert from 'node:assert/strict'
import { existsSync, mkdtempSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { tmpdir, userInfo } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { createTestDatabase, postgresAvailable, TEST_DB_PREFIX, type TestDatabase } from '../helpers/db.ts'
import { spawnServer } from '../helpers/process.ts'

/**
 * A start that cannot succeed says which setting to change and how (README, "Configuration"):
 * a port another program holds names the setting that chose it; a `DATABASE_URL` naming a
 * database not created yet says to create it. And a `DATABASE_URL` without a user connects as
 * the operating-system user, as psql and pg_dump do (docs/operations.md, "PostgreSQL on the
 * same host"), also when `$USER` is not set: spawnServer gives the service PATH and the test's
 * settings only, as a service manager's clean environment would.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-start-errors-'))
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

/** The server's error output when a start fails (spawnServer rejects with it), or a failure if it started. */
async function failedStart(env: Record<string, string>): Promise<string> {
  try {
    const server = await spawnServer(env)
    await server.stop()
  } catch (error) {
    return (error as Error).message
  }
  assert.fail('the service started')
}

describe('a start that cannot succeed names what to change', () => {
  it('a port another program listens on: the setting that chose it, the address, and what to do', async () => {
    const holder: Server = createServer()
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve))
    const port = (holder.address() as { port: number }).port
    try {
      const output = await failedStart({
        CUSTODIAN_DATA_DIR: path.join(dir, 'port'),
        CUSTODIAN_HTTPS_PORT: String(port),
      })
      assert.match(
        output,
        new RegExp(
          `custodian: CUSTODIAN_HTTPS_PORT: 127\\.0\\.0\\.1:${port} is already in use \\(another Custodian, or another program\\): stop it or choose another port`,
        ),
        output,
      )
    } finally {
      holder.close()
    }
  })

  it('a DATABASE_URL naming a database not created yet: says to create it, and how', {
    skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
  }, async () => {
    const url = new URL(process.env.TEST_DATABASE_URL as string)
    const name = `${TEST_DB_PREFIX}never_created_${process.pid}`
    url.pathname = `/${name}`
    const output = await failedStart({ DATABASE_URL: url.toString(), CUSTODIAN_DATA_DIR: path.join(dir, 'missing') })
    assert.match(
      output,
      new RegExp(
        `database "${name}" does not exist: create it first \\(\`createdb ${name}\`, or \`CREATE DATABASE "${name}"\``,
      ),
      output,
    )
    // A name a shell or SQL would read otherwise is quoted for both: the advice is safe to paste.
    const odd = `${name} it's "x"`
    url.pathname = `/${encodeURIComponent(odd)}`
    const quoted = await failedStart({ DATABASE_URL: url.toString(), CUSTODIAN_DATA_DIR: path.join(dir, 'missing') })
    const shell = `'${name} it'\\''s "x"'`
    const identifier = `"${name} it's ""x"""`
    assert.ok(quoted.includes(`(\`createdb ${shell}\`, or \`CREATE DATABASE ${identifier}\``), quoted)
  })
})

describe('an address this host does not have', () => {
  it('names the setting that chose the address, not the port', async () => {
    // 192.0.2.0/24 is TEST-NET-1 (RFC 5737): no machine has it.
    const output = await failedStart({ CUSTODIAN_DATA_DIR: path.join(dir, 'address'), CUSTODIAN_HOST: '192.0.2.99' })
    assert.match(output, /custodian: CUSTODIAN_HOST: this host has no address 192\.0\.2\.99 to listen on/, output)
  })
})

describe('a DATABASE_URL without a user', () => {
  const socketDirectory = process.env.CUSTODIAN_TEST_PG_SOCKET ?? '/var/run/postgresql'
  it('connects through the Unix socket as the operating-system user, with $USER unset (as libpq does)', async (t) => {
    if (!postgresAvailable()) {
      t.skip('TEST_DATABASE_URL not set')
      return
    }
    if (!existsSync(path.join(socketDirectory, '.s.PGSQL.5432'))) {
      t.skip(`no PostgreSQL socket in ${socketDirectory}`)
      return
    }
    const user = userInfo().username
    const admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL })
    await admin.connect()
    const role = await admin
      .query<{ may: boolean }>('SELECT rolsuper OR rolcreaterole AS may FROM pg_roles WHERE rolname = $1', [user])
      .finally(() => admin.end())
    // The service creates its request role at the first start: the user must be allowed to.
    if (role.rows[0]?.may !== true) {
      t.skip(`the operating-system user ${user} has no role that may create roles`)
      return
    }
    const db = await createTestDatabase('postgres')
    databases.push(db)
    const name = new URL(db.url as string).pathname.slice(1)
    const server = await spawnServer({
      DATABASE_URL: `postgres:///${name}?host=${socketDirectory}`,
      CUSTODIAN_DATA_DIR: path.join(dir, 'socket'),
    })
    try {
      assert.match(server.output(), /Listening: https:\/\/127\.0\.0\.1:\d+ .*on postgres/)
    } finally {
      await server.stop()
    }
  })
})
