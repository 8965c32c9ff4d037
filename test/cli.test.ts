import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import pg from 'pg'
import { postgresAvailable, TEST_DB_PREFIX } from './helpers/db.ts'
import { bootstrapOverHttps, httpsJson, runToExit, spawnServer } from './helpers/process.ts'

const cli = (args: string[], env: Record<string, string>) => runToExit(['bin/custodian.js', ...args], env)

function download(port: number, urlPath: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path: urlPath, rejectUnauthorized: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => (text += c.toString()))
      res.on('end', () => resolve(text))
    }).on('error', reject)
  })
}

describe('the custodian command', () => {
  it('init --json prints a bootstrap token; the service accepts it; audit verify passes, then fails on tampering', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-cli-'))
    const env = { CUSTODIAN_DATA_DIR: dataDir }
    const init = await cli(['init', '--json'], env)
    assert.equal(init.code, 0, init.output)
    const { bootstrapToken } = JSON.parse(init.output) as { bootstrapToken: string }
    assert.match(bootstrapToken, /^cst_boot_/)

    const server = await spawnServer(env)
    let orgId: string
    let apiToken: string
    let exported: string
    try {
      assert.ok(server.output().includes('a bootstrap token was issued earlier'), 'a restart does not retire the pending token')
      const boot = await bootstrapOverHttps(server.httpsPort, bootstrapToken)
      assert.equal(boot.status, 201, boot.text)
      ;({ orgId, apiToken } = boot.body)
      await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, { token: apiToken, body: { name: 'app', role: 'admin' } })
      await new Promise((resolve) => setTimeout(resolve, 500))
      exported = await download(server.httpsPort, `/v1/orgs/${orgId}/audit/export`, apiToken)
    } finally {
      assert.equal(await server.stop(), 0, 'graceful shutdown exits 0')
    }

    const again = await cli(['init', '--json'], env)
    assert.deepEqual(JSON.parse(again.output), { bootstrapped: true })
    const reissue = await cli(['bootstrap-token'], env)
    assert.notEqual(reissue.code, 0)
    assert.match(reissue.output, /ALREADY_BOOTSTRAPPED/)

    const verified = await cli(['audit', 'verify'], env)
    assert.equal(verified.code, 0, verified.output)
    assert.match(verified.output, new RegExp(`OK   org ${orgId}`))

    const token = await cli(['token', 'create', '--org', orgId, '--service-account', 'app', '--name', 'deploy', '--scopes', 'org:read', '--json'], env)
    assert.equal(token.code, 0, token.output)
    const created = JSON.parse(token.output) as { token: string; scopes: string[] }
    assert.deepEqual(created.scopes, ['org:read'])

    const exportFile = path.join(dataDir, 'export.jsonl')
    writeFileSync(exportFile, exported)
    const keys = exported.split('\n')[0] as string
    const publicKey = (JSON.parse(keys) as { keys: { publicKey: string }[] }).keys[0]?.publicKey as string
    const offline = await cli(['audit', 'verify', '--file', exportFile, '--public-key', publicKey], {})
    assert.equal(offline.code, 0, offline.output)
    writeFileSync(exportFile, exported.replace('"org.create"', '"org.delete"'))
    const altered = await cli(['audit', 'verify', '--file', exportFile, '--public-key', publicKey], {})
    assert.equal(altered.code, 1)
    assert.match(altered.output, /FAIL/)

    // Tamper with the database itself, then verify.
    const { PGlite } = await import('@electric-sql/pglite')
    const pglite = await PGlite.create({ dataDir: path.join(dataDir, 'pgdata') })
    await pglite.query(`UPDATE audit_events SET action = 'tampered' WHERE seq = 2 AND org_id = $1`, [orgId])
    await pglite.close()
    const tampered = await cli(['audit', 'verify', '--json'], env)
    assert.equal(tampered.code, 1)
    const results = JSON.parse(tampered.output) as { ok: boolean; problems: { kind: string; seq: number }[] }[]
    assert.ok(results[0]?.problems.some((p) => p.kind === 'hash_mismatch' && p.seq === 2))
    assert.ok(readFileSync(path.join(dataDir, 'root.key')).length === 32)
  })

  it('reports bad configuration one line per value and exits 2', async () => {
    const result = await cli(['migrate'], { CUSTODIAN_HTTPS_PORT: 'x', CUSTODIAN_TLS_MIN_VERSION: 'SSLv3' })
    assert.equal(result.code, 2)
    assert.match(result.output, /CUSTODIAN_HTTPS_PORT: must be a whole number/)
    assert.match(result.output, /CUSTODIAN_TLS_MIN_VERSION: must be one of/)
  })

  it('migrates a PostgreSQL database', { skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set' }, async () => {
    const base = new URL(process.env.TEST_DATABASE_URL as string)
    const admin = new pg.Client({ connectionString: base.toString() })
    await admin.connect()
    const name = `${TEST_DB_PREFIX}cli_${process.pid}`
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin.query(`CREATE DATABASE ${name}`)
    try {
      base.pathname = `/${name}`
      const env = { DATABASE_URL: base.toString(), CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-cli-pg-')) }
      const first = await cli(['migrate'], env)
      assert.equal(first.code, 0, first.output)
      assert.match(first.output, /Applied: 0001_foundation/)
      assert.match((await cli(['migrate'], env)).output, /Schema is current/)
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  })
})

