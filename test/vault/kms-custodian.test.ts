import assert from 'node:assert/strict'
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { DecryptionError } from '../../src/crypto/aead.ts'
import { openKmsProvider, type KmsProvider } from '../../src/crypto/providers/kms.ts'
import { createTransitClient } from '../../src/crypto/providers/transit.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapOverHttps, httpsJson, spawnServer, type ServerProcess } from '../helpers/process.ts'
import { startVaultListener, type VaultListenerUnderTest } from '../helpers/vault-listener.ts'

// The `transit` root-key provider (src/crypto/providers/transit.ts) for real, not on recorded
// requests: its Transit engine is another Custodian's Vault-compatible listener, a real
// process started with CUSTODIAN_VAULT_API_PORT (issue 16's open item, issue 17).
const AAD = 'custodian/v1|purpose=org-kek|org=org-a|object=org-a|version=1'

let kmsServer: ServerProcess
let vaultPort: number
let caFile: string
let kmsOrgId: string
let kmsOwnerToken: string
let serviceToken: string

/** A request to the KMS Custodian's Vault listener, as the service account. */
async function vaultCall(method: string, url: string, body?: unknown) {
  const { Agent, fetch } = await import('undici')
  const { readFileSync } = await import('node:fs')
  const dispatcher = new Agent({ connect: { ca: readFileSync(caFile, 'utf8') } })
  try {
    const response = await fetch(`https://localhost:${vaultPort}${url}`, {
      method,
      headers: { 'x-vault-token': serviceToken, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      dispatcher,
    })
    return { status: response.status, body: (await response.json()) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
  } finally {
    await dispatcher.close()
  }
}

before(async () => {
  kmsServer = await spawnServer({
    CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-kms-custodian-')),
    CUSTODIAN_VAULT_API_PORT: '0',
  })
  const out = kmsServer.output()
  vaultPort = Number(/^Vault-compatible API: https:\/\/[^:]+:(\d+)/m.exec(out)?.[1])
  caFile = /Generated a self-signed TLS certificate for localhost: (\S+)/.exec(out)?.[1] as string
  assert.ok(vaultPort > 0 && caFile !== undefined, out)
  const boot = await bootstrapOverHttps(kmsServer.httpsPort, kmsServer.bootstrapToken)
  assert.equal(boot.status, 201, boot.text)
  kmsOrgId = boot.body.orgId
  kmsOwnerToken = boot.body.apiToken
  const account = await httpsJson(kmsServer.httpsPort, 'POST', `/v1/orgs/${kmsOrgId}/service-accounts`, {
    token: kmsOwnerToken,
    body: { name: 'custodian-root-keys', role: 'admin' },
  })
  assert.equal(account.status, 201, account.text)
  const token = await httpsJson(kmsServer.httpsPort, 'POST', `/v1/orgs/${kmsOrgId}/tokens`, {
    token: kmsOwnerToken,
    body: { name: 'custodian-root-keys', expiresInDays: 1, serviceAccountId: account.body.id },
  })
  assert.equal(token.status, 201, token.text)
  serviceToken = token.body.token
})
after(async () => {
  await kmsServer.stop()
})

forEachEngine('a root key held by another Custodian’s Transit (issue 16)', (engine) => {
  const keyName = `custodian-root-${engine}`
  const tokenDir = mkdtempSync(path.join(tmpdir(), 'custodian-kms-token-'))
  const tokenFile = path.join(tokenDir, 'token')
  let provider: KmsProvider
  let org: Org
  let vault: VaultListenerUnderTest
  const writeToken = (value: string) => {
    writeFileSync(tokenFile, value)
    chmodSync(tokenFile, 0o600)
  }

  before(async () => {
    const created = await vaultCall('POST', `/v1/transit/keys/${keyName}`, {})
    assert.equal(created.status, 200, JSON.stringify(created.body))
    writeToken(serviceToken)
  })
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => {
    provider = await openKmsProvider(
      createTransitClient({
        address: `https://localhost:${vaultPort}`,
        mount: 'transit',
        keyName,
        tokenFile,
        caFile,
      }),
      { retryMs: 3_600_000, checkMs: 3_600_000 },
    )
    return provider
  })
  before(async () => {
    const owner = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), owner, 'Behind Custodian', 'owner@behind-custodian.test')
    vault = await startVaultListener(t(), provider)
  })
  after(async () => {
    await vault.close()
    provider.close()
  })
  const reveal = (id: string) =>
    t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets/${id}/reveal`,
      token: org.ownerToken,
      body: { reason: 'root key in another Custodian' },
    })

  it('starts on it: org keys are wrapped there, secrets seal and reveal, each wrap in the other’s audit log', async () => {
    assert.equal(provider.sealed(), false, provider.unavailableReason() ?? '')
    assert.equal(provider.keyId(), `transit:https://localhost:${vaultPort}/transit/${keyName}#v1`)
    const created = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'behind-custodian', type: 'api_key', value: 'held-by-another-custodian' },
    })
    assert.equal(created.status, 201, created.text)
    const row = await t()
      .db.kysely.selectFrom('org_keys')
      .select('root_key_id')
      .where('org_id', '=', org.orgId)
      .executeTakeFirstOrThrow()
    assert.equal(row.root_key_id, provider.keyId())
    assert.equal((await reveal(created.body.id as string)).body.value, 'held-by-another-custodian')

    const events = await httpsJson(
      kmsServer.httpsPort,
      'GET',
      `/v1/orgs/${kmsOrgId}/audit/events?target=${keyName}&limit=500`,
      {
        token: kmsOwnerToken,
      },
    )
    assert.equal(events.status, 200, events.text)
    const uses = (events.body.events as { action: string; target: { id: string } | null }[]).filter(
      (e) => e.target?.id === keyName,
    )
    assert.ok(uses.some((e) => e.action === 'transit.encrypt'))
    assert.ok(uses.some((e) => e.action === 'transit.decrypt'))
  })

  it('unwraps only with the same associated_data', async () => {
    const key = Buffer.alloc(32, 9)
    const wrapped = await provider.wrap(key, AAD)
    const keyId = provider.keyId()
    assert.deepEqual(await provider.unwrap(wrapped, AAD, keyId), key)
    await assert.rejects(provider.unwrap(wrapped, AAD.replace('org-a', 'org-b'), keyId), DecryptionError)
    // The other Custodian itself refuses it: 400 in Vault's shape.
    // The wrapped bytes: a format byte, the version's label (`v1`), then the Transit ciphertext.
    const ciphertext = wrapped.subarray(2 + (wrapped[1] as number)).toString()
    assert.match(ciphertext, /^vault:v1:/)
    assert.equal(
      (
        await vaultCall('POST', `/v1/transit/decrypt/${keyName}`, {
          ciphertext,
          associated_data: Buffer.from(AAD).toString('base64'),
        })
      ).body.data.plaintext,
      key.toString('base64'),
    )
    const refused = await vaultCall('POST', `/v1/transit/decrypt/${keyName}`, {
      ciphertext,
      associated_data: Buffer.from(AAD.replace('org-a', 'org-b')).toString('base64'),
    })
    assert.equal(refused.status, 400)
    assert.equal(typeof refused.body.errors[0], 'string')
    assert.equal(provider.sealed(), false, 'a refused ciphertext is not an outage')
  })

  it('fails closed while the other Custodian refuses its token — sealed, 503 in both APIs — and recovers', async () => {
    const created = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'during-refusal', type: 'api_key', value: 'not-while-refused' },
    })
    assert.equal(created.status, 201, created.text)
    const admin = org.ownerToken
    const viaVault = async (method: string, url: string, body?: unknown) => {
      const { Agent, fetch } = await import('undici')
      const { readFileSync } = await import('node:fs')
      const dispatcher = new Agent({ connect: { ca: readFileSync(vault.caFile, 'utf8') } })
      try {
        const response = await fetch(`${vault.address}${url}`, {
          method,
          headers: { 'x-vault-token': admin, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
          dispatcher,
        })
        return { status: response.status, body: (await response.json()) as Record<string, any> } // eslint-disable-line @typescript-eslint/no-explicit-any
      } finally {
        await dispatcher.close()
      }
    }
    assert.equal((await viaVault('POST', '/v1/transit/keys/app-data', {})).status, 200)
    const plaintext = Buffer.from('app data').toString('base64')
    assert.equal((await viaVault('POST', '/v1/transit/encrypt/app-data', { plaintext })).status, 200)

    writeToken(`cst_api_${'0'.repeat(32)}_${'A'.repeat(43)}`)
    assert.equal(await provider.probe(), false)
    assert.match(provider.unavailableReason() ?? '', /403/)
    const refused = await reveal(created.body.id as string)
    assert.equal(refused.status, 503, refused.text)
    assert.equal(refused.body.code, 'VAULT_SEALED')
    const health = await viaVault('GET', '/v1/sys/health')
    assert.equal(health.status, 503)
    assert.equal(health.body.sealed, true)
    assert.equal((await viaVault('GET', '/v1/sys/seal-status')).body.sealed, true)
    const sealedEncrypt = await viaVault('POST', '/v1/transit/encrypt/app-data', { plaintext })
    assert.equal(sealedEncrypt.status, 503, JSON.stringify(sealedEncrypt.body))
    assert.equal(sealedEncrypt.body.errors[0], 'Vault is sealed')
    // The native API alike: a transit key opened before the outage is not used during it.
    const native = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/transit/keys/app-data/encrypt`,
      token: admin,
      body: { plaintext },
    })
    assert.equal(native.status, 503, native.text)
    assert.equal(native.body.code, 'VAULT_SEALED')

    writeToken(serviceToken)
    assert.equal(await provider.probe(), true)
    assert.equal((await reveal(created.body.id as string)).body.value, 'not-while-refused')
    assert.equal((await viaVault('GET', '/v1/sys/health')).status, 200)
  })

  it('follows a rotation in the other Custodian: new wraps under v2, old ones still open', async () => {
    const key = Buffer.alloc(32, 3)
    const old = await provider.wrap(key, AAD)
    const oldId = provider.keyId()
    assert.equal((await vaultCall('POST', `/v1/transit/keys/${keyName}/rotate`, {})).status, 200)
    assert.equal(await provider.probe(), true)
    assert.equal(provider.keyId(), oldId.replace(/#v1$/, '#v2'))
    const fresh = await provider.wrap(key, AAD)
    assert.match(fresh.subarray(2 + (fresh[1] as number)).toString(), /^vault:v2:/)
    assert.deepEqual(await provider.unwrap(old, AAD, oldId), key)
    assert.deepEqual(await provider.unwrap(fresh, AAD, provider.keyId()), key)
  })
})
