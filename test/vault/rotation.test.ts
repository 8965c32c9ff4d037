import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { before, describe, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { bootstrapOverHttps, httpsJson, runToExit, spawnServer } from '../helpers/process.ts'
import type { JsonBody } from '../helpers/json.ts'

forEachEngine('org key rotation (P1.4)', (engine) => {
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000', CUSTODIAN_REWRAP_BATCH: '7' })
  let org: Org
  const ids: string[] = []
  const reveal = (id: string, version?: number) =>
    t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets/${id}/reveal`,
      token: org.ownerToken,
      body: { reason: 'rotation test', ...(version === undefined ? {} : { version }) },
    })

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Rotating Org', 'owner@rotate.test')
    for (let i = 0; i < 20; i++) {
      const r = await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
        body: { name: `s${i}`, type: 'generic', value: `value-${i}` },
      })
      ids.push(r.body.id)
    }
  })

  it('rotates at once, rewraps in batches with every secret readable throughout, then retires and erases the old key', async () => {
    const rotated = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/keys/rotate`,
      token: org.ownerToken,
    })
    assert.equal(rotated.status, 200, rotated.text)
    assert.equal(rotated.body.activeVersion, 2)
    assert.equal(rotated.body.pending, 20)
    assert.deepEqual(
      rotated.body.versions.map((v: { version: number; state: string }) => [v.version, v.state]),
      [
        [2, 'active'],
        [1, 'retiring'],
      ],
    )

    const fresh = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'after-rotation', type: 'generic', value: 'new' },
    })
    const freshRow = await t()
      .db.kysely.selectFrom('secret_versions')
      .select('kek_version')
      .where('secret_id', '=', fresh.body.id)
      .executeTakeFirstOrThrow()
    assert.equal(freshRow.kek_version, 2, 'new data keys use the new version at once')

    const rotation = t().app.services.rotation
    let remaining = 20
    const seen: number[] = []
    while (remaining > 0) {
      remaining = (await rotation.rewrapBatch(org.orgId)).remaining
      seen.push(remaining)
      for (const [i, id] of ids.entries())
        assert.equal((await reveal(id)).body.value, `value-${i}`, 'readable mid-rewrap')
    }
    assert.deepEqual(seen, [13, 6, 0])
    const status = (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/keys`, token: org.ownerToken })).body
    assert.deepEqual(
      status.versions.map((v: { version: number; state: string }) => [v.version, v.state]),
      [
        [2, 'active'],
        [1, 'retired'],
      ],
    )
    assert.equal(status.pending, 0)
    const old = await t()
      .db.kysely.selectFrom('org_keys')
      .selectAll()
      .where('org_id', '=', org.orgId)
      .where('version', '=', 1)
      .executeTakeFirstOrThrow()
    assert.equal(old.wrapped_key, null, 'the retired key is erased')
    const actions = (await auditActions(t(), org.orgId)).map((e) => e.action)
    assert.ok(actions.includes('org_key.rotate') && actions.includes('org_key.retire'))
  })

  it('makes a destroyed version unrecoverable from an old copy once its org key is retired', async () => {
    const secret = (
      await t().request({
        method: 'POST',
        url: `/v1/orgs/${org.orgId}/secrets`,
        token: org.ownerToken,
        body: { name: 'to-erase', type: 'api_key', value: 'erase-me' },
      })
    ).body
    const k = t().db.kysely
    // A "backup" of the row, taken before the erasure.
    const backup = await k
      .selectFrom('secret_versions')
      .selectAll()
      .where('secret_id', '=', secret.id)
      .executeTakeFirstOrThrow()
    await t().request({
      method: 'DELETE',
      url: `/v1/orgs/${org.orgId}/secrets/${secret.id}/versions/1`,
      token: org.ownerToken,
    })
    await t().request({ method: 'POST', url: `/v1/orgs/${org.orgId}/keys/rotate`, token: org.ownerToken })
    while ((await t().app.services.rotation.rewrapBatch(org.orgId)).remaining > 0);
    // Restore the backup copy: its data key is wrapped by a retired, erased org key.
    await sql`UPDATE secret_versions SET wrapped_dek = ${Buffer.from(backup.wrapped_dek as Uint8Array)}, ciphertext = ${Buffer.from(backup.ciphertext as Uint8Array)}, kek_version = ${backup.kek_version}, destroyed_at = NULL WHERE secret_id = ${secret.id}`.execute(
      k,
    )
    const attempt = await reveal(secret.id)
    assert.equal(attempt.status, 500)
    assert.equal(attempt.body.code, 'VAULT_INTEGRITY_FAILED')
    assert.ok(!attempt.text.includes('erase-me'))
  })
})

describe('rewrap survives kill -9 mid-way', () => {
  it('completes after a restart, every secret readable at every moment', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-rewrap-'))
    const env = {
      CUSTODIAN_DATA_DIR: dataDir,
      CUSTODIAN_REWRAP_BATCH: '5',
      CUSTODIAN_REWRAP_INTERVAL_MS: '100',
      CUSTODIAN_AUTH_RATE_LIMIT: '1000',
    }
    let server = await spawnServer(env)
    const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken)
    const { apiToken, orgId } = boot.body
    const ids: string[] = []
    for (let i = 0; i < 120; i++) {
      ids.push(
        (
          await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
            token: apiToken,
            body: { name: `k${i}`, type: 'generic', value: `v${i}` },
          })
        ).body.id,
      )
    }
    const readAll = async (port: number, sample: number[]) => {
      for (const i of sample) {
        const r = await httpsJson(port, 'POST', `/v1/orgs/${orgId}/secrets/${ids[i]}/reveal`, {
          token: apiToken,
          body: { reason: 'during rewrap' },
        })
        assert.equal(r.body.value, `v${i}`, `secret ${i} unreadable (${r.status})`)
      }
    }
    assert.equal(
      (await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/keys/rotate`, { token: apiToken })).body.pending,
      120,
    )
    let pending = 120
    while (pending > 80) {
      await readAll(server.httpsPort, [0, 59, 119])
      pending = (await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/keys`, { token: apiToken })).body.pending
    }
    assert.ok(pending > 0, 'killed mid-way')
    await server.kill()

    server = await spawnServer(env)
    try {
      let status: JsonBody = {}
      for (let attempt = 0; attempt < 200; attempt++) {
        await readAll(server.httpsPort, [attempt % 120])
        status = (await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${orgId}/keys`, { token: apiToken })).body
        if (status.versions.some((v: { state: string }) => v.state === 'retired')) break
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      assert.deepEqual(
        status.versions.map((v: { version: number; state: string }) => [v.version, v.state]),
        [
          [2, 'active'],
          [1, 'retired'],
        ],
      )
      await readAll(
        server.httpsPort,
        ids.map((_, i) => i),
      )
    } finally {
      await server.stop()
    }
  })
})

describe('custodian keys', () => {
  it('rotates an org key with a progress report, and rotates the root key (local provider)', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-keys-'))
    const env = { CUSTODIAN_DATA_DIR: dataDir }
    let server = await spawnServer(env)
    const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken)
    const { apiToken, orgId } = boot.body
    const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets`, {
      token: apiToken,
      body: { name: 'k', type: 'api_key', value: 'survives-root-rotation' },
    })
    await server.stop()

    const rotated = await runToExit(['bin/custodian.js', 'keys', 'rotate', '--org', orgId], env)
    assert.equal(rotated.code, 0, rotated.output)
    assert.match(rotated.output, /rewrapping data keys: 100% \(1\/1\)/)
    const oldRoot = readFileSync(path.join(dataDir, 'root.key'))
    const root = await runToExit(['bin/custodian.js', 'keys', 'rotate-root'], env)
    assert.equal(root.code, 0, root.output)
    assert.ok(!readFileSync(path.join(dataDir, 'root.key')).equals(oldRoot))
    assert.ok(readdirSync(dataDir).some((f) => f.startsWith('root.key.retired-')))

    server = await spawnServer(env)
    try {
      const revealed = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${orgId}/secrets/${secret.body.id}/reveal`, {
        token: apiToken,
        body: { reason: 'after root rotation' },
      })
      assert.equal(revealed.body.value, 'survives-root-rotation')
    } finally {
      await server.stop()
    }
  })
})
