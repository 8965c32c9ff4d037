import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import path from 'node:path'
import { Writable } from 'node:stream'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import pino from 'pino'
import { REDACT_PATHS } from '../../src/logger.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  startTestApp,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'

const dbCredential = {
  host: 'db.example.test',
  port: 5432,
  database: 'app',
  user: 'reader',
  password: 'pw-not-for-logs-1234',
  sslmode: 'require',
}

forEachEngine('secrets vault (P1.1–P1.4)', (engine) => {
  const lines: string[] = []
  const logger = pino(
    { level: 'trace', redact: { paths: REDACT_PATHS, censor: '[redacted]' } },
    new Writable({
      write(chunk, _e, done) {
        lines.push(chunk.toString())
        done()
      },
    }),
  )
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_SECRET_MAX_BYTES: '1024' }, logger)
  let org: Org
  const marker = `MARKER-${randomBytes(12).toString('hex')}`
  const url = () => `/v1/orgs/${org.orgId}/secrets`

  async function create(body: Record<string, unknown>) {
    const response = await t().request({ method: 'POST', url: url(), token: org.ownerToken, body })
    assert.equal(response.status, 201, response.text)
    return response.body
  }
  const reveal = (id: string, body: Record<string, unknown> = { reason: 'test reveal' }, app: TestApp = t()) =>
    app.request({ method: 'POST', url: `${url()}/${id}/reveal`, token: org.ownerToken, body })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Vault Org', 'owner@vault.test')
  })

  it('stores, lists without values, and reveals with an audited reason', async () => {
    const secret = await create({ name: 'stripe/live', type: 'api_key', description: 'payments', value: marker })
    assert.equal(secret.currentVersion, 1)
    const listed = await t().request({ method: 'GET', url: url(), token: org.ownerToken })
    assert.ok(!listed.text.includes(marker), 'list never carries a value')
    const got = await t().request({ method: 'GET', url: `${url()}/${secret.id}`, token: org.ownerToken })
    assert.ok(!got.text.includes(marker))
    const revealed = await reveal(secret.id, { reason: 'charge a customer' })
    assert.equal(revealed.status, 200)
    assert.equal(revealed.body.value, marker)
    const event = (await auditActions(t(), org.orgId)).find((e) => e.action === 'secret.reveal')
    assert.deepEqual(event?.details, { name: 'stripe/live', version: 1, reason: 'charge a customer' })
    const missingReason = await reveal(secret.id, {})
    assert.equal(missingReason.status, 400)
  })

  it('keeps versions, destroys one by crypto-erasure, deletes a secret with all its versions', async () => {
    const secret = await create({ name: 'rotating', type: 'generic', value: 'first value' })
    const second = await t().request({
      method: 'POST',
      url: `${url()}/${secret.id}/versions`,
      token: org.ownerToken,
      body: { value: 'second value' },
    })
    assert.equal(second.body.currentVersion, 2)
    assert.equal((await reveal(secret.id)).body.value, 'second value')
    assert.equal((await reveal(secret.id, { reason: 'old one', version: 1 })).body.value, 'first value')

    assert.equal(
      (await t().request({ method: 'DELETE', url: `${url()}/${secret.id}/versions/1`, token: org.ownerToken })).status,
      204,
    )
    const gone = await reveal(secret.id, { reason: 'old one', version: 1 })
    assert.equal(gone.status, 410)
    assert.equal(gone.body.code, 'SECRET_VERSION_DESTROYED')
    const row = await t()
      .db.kysely.selectFrom('secret_versions')
      .selectAll()
      .where('secret_id', '=', secret.id)
      .where('version', '=', 1)
      .executeTakeFirstOrThrow()
    assert.equal(row.wrapped_dek, null)
    assert.equal(row.ciphertext, null)
    const versions = await t().request({ method: 'GET', url: `${url()}/${secret.id}/versions`, token: org.ownerToken })
    assert.deepEqual(
      versions.body.versions.map((v: { version: number; destroyedAt: string | null }) => [
        v.version,
        v.destroyedAt !== null,
      ]),
      [
        [2, false],
        [1, true],
      ],
    )

    assert.equal(
      (await t().request({ method: 'DELETE', url: `${url()}/${secret.id}`, token: org.ownerToken })).status,
      204,
    )
    assert.equal((await reveal(secret.id)).status, 404)
    const left = await t()
      .db.kysely.selectFrom('secret_versions')
      .select('version')
      .where('secret_id', '=', secret.id)
      .execute()
    assert.equal(left.length, 0)
  })

  it('stores database credentials with non-secret metadata only', async () => {
    const secret = await create({ name: 'warehouse', type: 'database_credential', value: dbCredential })
    assert.deepEqual(secret.metadata, {
      host: 'db.example.test',
      port: 5432,
      database: 'app',
      user: 'reader',
      sslmode: 'require',
    })
    assert.deepEqual((await reveal(secret.id)).body.value, dbCredential)
    const mismatch = await t().request({
      method: 'POST',
      url: url(),
      token: org.ownerToken,
      body: { name: 'bad', type: 'database_credential', value: 'just a string' },
    })
    assert.equal(mismatch.status, 400)
    const mismatch2 = await t().request({
      method: 'POST',
      url: url(),
      token: org.ownerToken,
      body: { name: 'bad', type: 'api_key', value: dbCredential },
    })
    assert.equal(mismatch2.status, 400)
  })

  it('refuses an oversized value and a duplicate name with clear errors, storing nothing', async () => {
    const big = await t().request({
      method: 'POST',
      url: url(),
      token: org.ownerToken,
      body: { name: 'big', type: 'generic', value: 'x'.repeat(2000) },
    })
    assert.equal(big.status, 400)
    assert.match(big.body.detail, /at most 1024 bytes/)
    await create({ name: 'unique-name', type: 'generic', value: 'v' })
    const dup = await t().request({
      method: 'POST',
      url: url(),
      token: org.ownerToken,
      body: { name: 'unique-name', type: 'generic', value: 'w' },
    })
    assert.equal(dup.status, 409)
    const names = (await t().db.kysely.selectFrom('secrets').select('name').execute()).map((r) => r.name)
    assert.ok(!names.includes('big'))
  })

  it('leaves no plaintext value anywhere at rest: every table, and the database files (P1.3)', async () => {
    await create({ name: 'marker-scan', type: 'api_key', value: marker })
    const tables = await sql<{
      tablename: string
    }>`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`.execute(t().db.kysely)
    assert.ok(tables.rows.length >= 10)
    for (const { tablename } of tables.rows) {
      const hit = await sql<{
        n: number
      }>`SELECT count(*)::int AS n FROM ${sql.table(tablename)} AS t WHERE t::text LIKE ${`%${marker}%`} OR encode(convert_to(t::text, 'UTF8'), 'escape') LIKE ${`%${marker}%`}`.execute(
        t().db.kysely,
      )
      assert.equal(hit.rows[0]?.n, 0, `marker found in table ${tablename}`)
    }
    const needle = Buffer.from(marker)
    if (engine === 'pglite') {
      await sql`CHECKPOINT`.execute(t().db.kysely)
      const files = Buffer.from(await (await (t().db.pglite?.dumpDataDir('none') as Promise<Blob>)).arrayBuffer())
      assert.ok(files.length > 1_000_000, 'the dump holds the data files')
      assert.equal(files.indexOf(needle), -1, 'marker found in the PGlite data files')
    } else {
      // Flush shared buffers to the relation files; a failure here must fail the test.
      await sql`CHECKPOINT`.execute(t().db.kysely)
      const dataDir = (await sql<{ d: string }>`SELECT current_setting('data_directory') AS d`.execute(t().db.kysely))
        .rows[0]?.d as string
      const dbOid = (
        await sql<{ oid: number }>`SELECT oid FROM pg_database WHERE datname = current_database()`.execute(
          t().db.kysely,
        )
      ).rows[0]?.oid
      const dirs = [path.join(dataDir, 'base', String(dbOid)), path.join(dataDir, 'pg_wal')]
      let scanned = 0
      for (const dir of dirs) {
        const entries = readdirSync(dir)
          .map((f) => path.join(dir, f))
          .filter((f) => statSync(f).isFile())
        const recent = dir.endsWith('pg_wal')
          ? entries.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs).slice(0, 3)
          : entries
        for (const file of recent) {
          assert.equal(readFileSync(file).indexOf(needle), -1, `marker found in ${file}`)
          scanned++
        }
      }
      assert.ok(scanned > 10)
    }
  })

  it('fails closed, with an audit event, on tampered ciphertext, a swapped row and a wrong key', async () => {
    const a = await create({ name: 'tamper-a', type: 'generic', value: 'value a' })
    const b = await create({ name: 'tamper-b', type: 'generic', value: 'value b' })
    const k = t().db.kysely
    const failures = async () =>
      (await auditActions(t(), org.orgId)).filter((e) => e.action === 'secret.reveal' && e.outcome === 'failure').length

    // 1. One flipped bit in the ciphertext.
    const before1 = await failures()
    await sql`UPDATE secret_versions SET ciphertext = set_byte(ciphertext, 20, get_byte(ciphertext, 20) # 1) WHERE secret_id = ${a.id}`.execute(
      k,
    )
    const tampered = await reveal(a.id)
    assert.equal(tampered.status, 500)
    assert.equal(tampered.body.code, 'VAULT_INTEGRITY_FAILED')
    assert.ok(!tampered.text.includes('value'), 'no plaintext, not even a partial one')
    assert.equal(await failures(), before1 + 1)

    // 2. Another secret's ciphertext and data key pasted into this row (AAD binds them to their secret).
    await sql`UPDATE secret_versions AS dst SET ciphertext = src.ciphertext, wrapped_dek = src.wrapped_dek, kek_version = src.kek_version
              FROM secret_versions AS src WHERE src.secret_id = ${b.id} AND dst.secret_id = ${a.id}`.execute(k)
    const swapped = await reveal(a.id)
    assert.equal(swapped.body.code, 'VAULT_INTEGRITY_FAILED')
    assert.equal((await reveal(b.id)).body.value, 'value b', 'the source row is untouched')
    assert.equal(await failures(), before1 + 2)

    // 3. The same database under another root key.
    const other = await startTestApp(engine, t().db, {}, undefined)
    try {
      const wrongKey = await reveal(b.id, { reason: 'wrong key' }, other)
      assert.equal(wrongKey.status, 500)
      assert.equal(wrongKey.body.code, 'VAULT_INTEGRITY_FAILED')
    } finally {
      await other.app.close()
    }
  })

  it('never writes a secret value to the log', () => {
    const all = lines.join('')
    assert.ok(lines.length > 10)
    assert.ok(!all.includes(marker), 'marker in the log')
    assert.ok(!all.includes(dbCredential.password), 'password in the log')
  })
})
