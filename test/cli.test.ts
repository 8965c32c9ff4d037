import assert from 'node:assert/strict'
import { noteVerifierKey } from '../src/modules/audit/audit.note.ts'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { get } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import pg from 'pg'
import { postgresAvailable, TEST_DB_PREFIX } from './helpers/db.ts'
import { bootstrapOverHttps, httpsJson, runToExit, spawnServer } from './helpers/process.ts'
import { MIGRATIONS } from '../src/db/migrate.ts'

const cli = (args: string[], env: Record<string, string>) => runToExit(['bin/custodian.js', ...args], env)

function download(port: number, urlPath: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    get(
      {
        host: '127.0.0.1',
        port,
        path: urlPath,
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => resolve(text))
      },
    ).on('error', reject)
  })
}

/** A line per migration, with its time, between an announcement and a total (stdout). */
function assertMigrationProgress(output: string): void {
  const names = Object.keys(MIGRATIONS)
  assert.match(output, new RegExp(`Database: applying ${names.length} migrations`))
  for (const name of names) assert.match(output, new RegExp(`migration ${name} applied in \\d+ ms`), name)
  assert.match(output, new RegExp(`Database: ${names.length} migrations committed in [\\d.]+ s`))
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
    let keptNote: string
    try {
      assert.ok(
        server.output().includes('a bootstrap token was issued earlier'),
        'a restart does not retire the pending token',
      )
      const boot = await bootstrapOverHttps(server.httpsPort, bootstrapToken)
      assert.equal(boot.status, 201, boot.text)
      ;({ orgId, apiToken } = boot.body)
      await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
        token: apiToken,
        body: { name: 'app', role: 'admin' },
      })
      await new Promise((resolve) => setTimeout(resolve, 500))
      // A checkpoint a customer keeps outside Custodian (K9).
      keptNote = await download(server.httpsPort, `/v1/orgs/${orgId}/audit/checkpoints/latest?format=note`, apiToken)
      assert.match(
        keptNote,
        new RegExp(`^localhost/audit/${orgId}\n\\d+\n[A-Za-z0-9+/]{43}=\n\n— localhost/audit/${orgId} `),
      )
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
    // It says which database it checked (a shell without the service's DATABASE_URL checks the data directory's).
    assert.ok(verified.output.split('\n').includes(`Database: the embedded database in ${dataDir}`), verified.output)

    const token = await cli(
      [
        'token',
        'create',
        '--org',
        orgId,
        '--service-account',
        'app',
        '--name',
        'deploy',
        '--scopes',
        'org:read',
        '--json',
      ],
      env,
    )
    assert.equal(token.code, 0, token.output)
    const created = JSON.parse(token.output) as { token: string; scopes: string[] }
    assert.deepEqual(created.scopes, ['org:read'])

    const exportFile = path.join(dataDir, 'export.jsonl')
    writeFileSync(exportFile, exported)
    const keys = exported.split('\n')[0] as string
    const publicKey = (JSON.parse(keys) as { keys: { publicKey: string }[] }).keys[0]?.publicKey as string
    const offline = await cli(['audit', 'verify', '--file', exportFile, '--public-key', publicKey], {})
    assert.equal(offline.code, 0, offline.output)
    // A receipt of one event, written from the database and checked offline with the log's verifier key (issue 21).
    const firstEvent = JSON.parse(exported.split('\n')[1] as string) as { event: { id: string } }
    const receiptFile = path.join(dataDir, 'receipt.json')
    const proved = await cli(['audit', 'prove', '--event', firstEvent.event.id, '--out', receiptFile], env)
    assert.equal(proved.code, 0, proved.output)
    const vkey = noteVerifierKey(`localhost/audit/${orgId}`, Buffer.from(publicKey, 'base64url'))
    const receiptOk = await cli(['audit', 'verify-receipt', receiptFile, '--key', vkey], {})
    assert.equal(receiptOk.code, 0, receiptOk.output)
    assert.match(receiptOk.output, new RegExp(`OK  event seq 1 of org ${orgId}`))
    const unknownEvent = await cli(['audit', 'prove', '--event', '00000000-0000-4000-8000-000000000000'], env)
    assert.equal(unknownEvent.code, 1)
    assert.match(unknownEvent.output, /no such event/)
    const keptFile = path.join(dataDir, 'kept.note')
    writeFileSync(keptFile, keptNote)
    const againstKept = await cli(
      ['audit', 'verify', '--file', exportFile, '--public-key', publicKey, '--checkpoint', keptFile],
      {},
    )
    assert.equal(againstKept.code, 0, againstKept.output)
    assert.match(againstKept.output, /1 kept checkpoint\b/)
    // Without a pinned key the file's own key proves nothing: refused unless asked for (K9).
    const unpinned = await cli(['audit', 'verify', '--file', exportFile], {})
    assert.equal(unpinned.code, 1)
    assert.match(unpinned.output, /no pinned key/)
    assert.equal((await cli(['audit', 'verify', '--file', exportFile, '--trust-embedded-key'], {})).code, 0)
    // An export without any checkpoint is refused unless --allow-unsigned.
    const unsignedFile = path.join(dataDir, 'unsigned.jsonl')
    writeFileSync(
      unsignedFile,
      exported
        .split('\n')
        .filter((line) => !line.includes('"kind":"checkpoint"'))
        .join('\n'),
    )
    const unsigned = await cli(['audit', 'verify', '--file', unsignedFile, '--public-key', publicKey], {})
    assert.equal(unsigned.code, 1)
    assert.match(unsigned.output, /unsigned/)
    assert.equal(
      (await cli(['audit', 'verify', '--file', unsignedFile, '--public-key', publicKey, '--allow-unsigned'], {})).code,
      0,
    )
    // Cut the export's tail with its checkpoints: only the kept checkpoint can tell (K9).
    const size = Number(keptNote.split('\n')[1])
    const cutFile = path.join(dataDir, 'cut.jsonl')
    writeFileSync(
      cutFile,
      exported
        .split('\n')
        .filter((line) => {
          if (line.trim() === '') return false
          const r = JSON.parse(line) as { event?: { seq: number }; checkpoint?: { seq: number } }
          return (r.event?.seq ?? 0) < size && (r.checkpoint?.seq ?? 0) < size
        })
        .join('\n'),
    )
    const cutAllowed = await cli(
      ['audit', 'verify', '--file', cutFile, '--public-key', publicKey, '--allow-unsigned'],
      {},
    )
    assert.equal(cutAllowed.code, 0, cutAllowed.output)
    const cutKept = await cli(
      ['audit', 'verify', '--file', cutFile, '--public-key', publicKey, '--allow-unsigned', '--checkpoint', keptFile],
      {},
    )
    assert.equal(cutKept.code, 1, cutKept.output)
    assert.match(cutKept.output, /truncated: the chain ends at seq \d+ but a checkpoint kept elsewhere covers seq/)
    writeFileSync(exportFile, exported.replace('"org.create"', '"org.delete"'))
    const altered = await cli(['audit', 'verify', '--file', exportFile, '--public-key', publicKey], {})
    assert.equal(altered.code, 1)
    assert.match(altered.output, /FAIL/)

    // Tamper with the database itself, then verify.
    const { PGlite } = await import('@electric-sql/pglite')
    const pglite = await PGlite.create({ dataDir: path.join(dataDir, 'pgdata') })
    await pglite.query(
      `UPDATE audit_events SET action = 'tampered' WHERE id = (SELECT id FROM audit_chain WHERE seq = 2 AND org_id = $1)`,
      [orgId],
    )
    await pglite.close()
    const tampered = await cli(['audit', 'verify', '--json'], env)
    assert.equal(tampered.code, 1)
    const results = JSON.parse(tampered.output) as { ok: boolean; problems: { kind: string; seq: number }[] }[]
    assert.ok(results[0]?.problems.some((p) => p.kind === 'hash_mismatch' && p.seq === 2))
    assert.ok(readFileSync(path.join(dataDir, 'root.key')).length === 32)

    // Cut the database's tail together with the checkpoints above it: the kept checkpoint fails it (K9).
    const db = await PGlite.create({ dataDir: path.join(dataDir, 'pgdata') })
    const cut = await db.query<{ id: number }>(`DELETE FROM audit_chain WHERE org_id = $1 AND seq >= $2 RETURNING id`, [
      orgId,
      size,
    ])
    await db.query(`DELETE FROM audit_events WHERE id = ANY($1::bigint[])`, [cut.rows.map((row) => row.id)])
    await db.query(`DELETE FROM audit_checkpoints WHERE org_id = $1 AND seq >= $2`, [orgId, size])
    await db.query(
      `UPDATE audit_heads SET seq = $2 - 1, checkpoint_seq = LEAST(checkpoint_seq, $2 - 1) WHERE org_id = $1`,
      [orgId, size],
    )
    await db.close()
    const cutDb = await cli(['audit', 'verify', '--org', orgId, '--checkpoint', keptFile], env)
    assert.equal(cutDb.code, 1, cutDb.output)
    assert.match(cutDb.output, /truncated: the chain ends at seq \d+ but a checkpoint kept elsewhere covers seq/)
  })

  it('reports bad configuration one line per value and exits 2', async () => {
    const result = await cli(['migrate'], { CUSTODIAN_HTTPS_PORT: 'x', CUSTODIAN_TLS_MIN_VERSION: 'SSLv3' })
    assert.equal(result.code, 2)
    assert.match(result.output, /CUSTODIAN_HTTPS_PORT: must be a whole number/)
    assert.match(result.output, /CUSTODIAN_TLS_MIN_VERSION: must be one of/)
  })

  it('prints each migration with its time on a first start, before listening, and nothing on the next (PGlite)', async () => {
    // Without the migrated template: the database is created empty and every migration applied.
    const env = {
      CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-first-start-')),
      CUSTODIAN_PGLITE_TEMPLATE: 'off',
    }
    // A first start on a busy machine can take longer than the helper's default minute.
    const first = await spawnServer(env, 300_000)
    try {
      const output = first.output()
      assertMigrationProgress(output.slice(0, output.indexOf('Listening:')))
    } finally {
      // Progress is the point here, not shutdown (tested above); a kill is also what a
      // person does to a start that looks hung.
      await first.kill()
    }
    const second = await spawnServer(env, 300_000)
    try {
      assert.doesNotMatch(second.output(), /migration/)
    } finally {
      await second.kill()
    }
    const migrated = await cli(['migrate'], env)
    assert.match(migrated.output, /Schema is current/)
  })

  it('starts a first time from the migrated template: says so, applies nothing more, and the schema is current (PGlite)', async () => {
    const env = { CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-template-start-')) }
    const first = await spawnServer(env)
    try {
      const output = first.output()
      assert.match(
        output,
        new RegExp(`from the migrated template .* \\(${Object.keys(MIGRATIONS).length} migrations\\)`),
        output,
      )
      assert.doesNotMatch(output, /migration \d{4}_\w+ applied/)
    } finally {
      // The copy is the point here, not shutdown (tested above).
      await first.kill()
    }
    const migrated = await cli(['migrate'], env)
    assert.match(migrated.output, /Schema is current/)
  })

  it('migrates a PostgreSQL database', {
    skip: postgresAvailable() ? false : 'TEST_DATABASE_URL not set',
  }, async () => {
    const base = new URL(process.env.TEST_DATABASE_URL as string)
    const admin = new pg.Client({ connectionString: base.toString() })
    await admin.connect()
    const name = `${TEST_DB_PREFIX}cli_${process.pid}`
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin.query(`CREATE DATABASE ${name}`)
    try {
      base.pathname = `/${name}`
      const env = {
        DATABASE_URL: base.toString(),
        CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-cli-pg-')),
      }
      const first = await cli(['migrate'], env)
      assert.equal(first.code, 0, first.output)
      assertMigrationProgress(first.output)
      assert.match((await cli(['migrate'], env)).output, /Schema is current/)
    } finally {
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await admin.end()
    }
  })
})
