import assert from 'node:assert/strict'
import { before, describe, it } from 'node:test'
import pkcs11js from 'pkcs11js'
import { DecryptionError } from '../../src/crypto/aead.ts'
import { createPkcs11Provider, HsmError } from '../../src/crypto/providers/pkcs11.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { createSoftHsmToken } from '../helpers/softhsm.ts'

const token = createSoftHsmToken()
const options = { module: token.module, tokenLabel: token.tokenLabel, pin: token.pin, keyLabel: 'custodian-root' }

describe('HSM root key over PKCS#11 (SoftHSM2)', () => {
  it('creates the root key in the HSM, sensitive and not extractable, and wraps with it there', async () => {
    const provider = createPkcs11Provider(options, true)
    try {
      assert.match(provider.keyId(), /^pkcs11:custodian-test\/custodian-root:[0-9a-f]{32}$/)
      const wrapped = await provider.wrap(Buffer.alloc(32, 9), 'org-kek aad')
      assert.deepEqual(await provider.unwrap(wrapped, 'org-kek aad', provider.keyId()), Buffer.alloc(32, 9))
      await assert.rejects(provider.unwrap(wrapped, 'another org', provider.keyId()), DecryptionError)
      const altered = Buffer.from(wrapped)
      altered[20] = (altered[20] as number) ^ 1
      await assert.rejects(provider.unwrap(altered, 'org-kek aad', provider.keyId()), DecryptionError)
    } finally {
      provider.close()
    }

    // Inspect the key object with a separate session: its value cannot be read out.
    const p11 = new pkcs11js.PKCS11()
    p11.load(token.module)
    p11.C_Initialize()
    try {
      const slot = p11
        .C_GetSlotList(true)
        .find((s) => p11.C_GetTokenInfo(s).label.trim() === token.tokenLabel) as Buffer
      const session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION)
      p11.C_Login(session, pkcs11js.CKU_USER, token.pin)
      p11.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_LABEL, value: 'custodian-root' }])
      const [key] = p11.C_FindObjects(session, 1)
      p11.C_FindObjectsFinal(session)
      const attributes = p11.C_GetAttributeValue(session, key as Buffer, [
        { type: pkcs11js.CKA_SENSITIVE },
        { type: pkcs11js.CKA_EXTRACTABLE },
      ])
      assert.deepEqual(
        attributes.map((a) => Buffer.from(a.value)[0]),
        [1, 0],
      )
      assert.throws(
        () => p11.C_GetAttributeValue(session, key as Buffer, [{ type: pkcs11js.CKA_VALUE }]),
        /CKR_ATTRIBUTE_SENSITIVE/,
      )
      p11.C_Logout(session)
      p11.C_CloseSession(session)
    } finally {
      p11.C_Finalize()
    }
  })

  it('finds the same key on the next start, and refuses a wrong PIN or a missing key', async () => {
    const first = createPkcs11Provider(options, false)
    const wrapped = await first.wrap(Buffer.alloc(32, 3), 'aad')
    const id = first.keyId()
    first.close()
    const second = createPkcs11Provider(options, false)
    try {
      assert.equal(second.keyId(), id)
      assert.deepEqual(await second.unwrap(wrapped, 'aad', id), Buffer.alloc(32, 3))
    } finally {
      second.close()
    }
    assert.throws(() => createPkcs11Provider({ ...options, pin: '000000' }, false), HsmError)
    assert.throws(() => createPkcs11Provider({ ...options, keyLabel: 'absent' }, false), /no key labelled absent/)
    assert.throws(() => createPkcs11Provider({ ...options, tokenLabel: 'absent' }, false), /no PKCS#11 token/)
  })
})

forEachEngine('secrets under an HSM root key (P1.1)', (engine) => {
  const t = useTestApp(engine, {}, undefined, async () => createPkcs11Provider(options, true))
  let org: Org

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'HSM Org', 'owner@hsm.test')
  })

  it('stores and reveals a secret end to end with the org key wrapped in the HSM', async () => {
    const created = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'hsm-backed', type: 'api_key', value: 'behind-the-hsm' },
    })
    assert.equal(created.status, 201, created.text)
    const keyRow = await t()
      .db.kysely.selectFrom('org_keys')
      .selectAll()
      .where('org_id', '=', org.orgId)
      .executeTakeFirstOrThrow()
    assert.match(keyRow.root_key_id, /^pkcs11:/)
    const revealed = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets/${created.body.id}/reveal`,
      token: org.ownerToken,
      body: { reason: 'hsm e2e' },
    })
    assert.equal(revealed.body.value, 'behind-the-hsm')
  })
})

describe('custodian with CUSTODIAN_ROOT_KEY_PROVIDER=pkcs11', () => {
  it('creates the key in the HSM at init, serves secrets, and finds the same key after a restart', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const path = await import('node:path')
    const { bootstrapOverHttps, httpsJson, runToExit, spawnServer } = await import('../helpers/process.ts')
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-hsm-'))
    const pinFile = path.join(dataDir, 'hsm.pin')
    writeFileSync(pinFile, `${token.pin}\n`, { mode: 0o600 })
    const env = {
      CUSTODIAN_DATA_DIR: dataDir,
      CUSTODIAN_ROOT_KEY_PROVIDER: 'pkcs11',
      CUSTODIAN_PKCS11_MODULE: token.module,
      CUSTODIAN_PKCS11_TOKEN_LABEL: token.tokenLabel,
      CUSTODIAN_PKCS11_PIN_FILE: pinFile,
      CUSTODIAN_PKCS11_KEY_LABEL: 'custodian-e2e',
      SOFTHSM2_CONF: token.conf,
    }
    const init = await runToExit(['bin/custodian.js', 'init', '--json'], env)
    assert.equal(init.code, 0, init.output)
    const { bootstrapToken } = JSON.parse(init.output) as { bootstrapToken: string }
    let server = await spawnServer(env)
    let secretUrl: string
    let apiToken: string
    try {
      const boot = await bootstrapOverHttps(server.httpsPort, bootstrapToken)
      apiToken = boot.body.apiToken
      const created = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${boot.body.orgId}/secrets`, {
        token: apiToken,
        body: { name: 'k', type: 'api_key', value: 'hsm-e2e-value' },
      })
      assert.equal(created.status, 201, created.text)
      secretUrl = `/v1/orgs/${boot.body.orgId}/secrets/${created.body.id}/reveal`
    } finally {
      await server.stop()
    }
    server = await spawnServer(env)
    try {
      const revealed = await httpsJson(server.httpsPort, 'POST', secretUrl, {
        token: apiToken,
        body: { reason: 'after restart' },
      })
      assert.equal(revealed.body.value, 'hsm-e2e-value')
    } finally {
      await server.stop()
    }

    // Root-key rotation in the HSM: a new key under the label, org keys rewrapped.
    const rotated = await runToExit(['bin/custodian.js', 'keys', 'rotate-root'], env)
    assert.equal(rotated.code, 0, rotated.output)
    const newId = /rewrapped under (pkcs11:\S+)\./.exec(rotated.output)?.[1]
    assert.ok(newId)
    server = await spawnServer(env)
    try {
      const revealed = await httpsJson(server.httpsPort, 'POST', secretUrl, {
        token: apiToken,
        body: { reason: 'after root rotation' },
      })
      assert.equal(revealed.body.value, 'hsm-e2e-value')
    } finally {
      await server.stop()
    }
    const badPin = await runToExit(['src/main.ts'], {
      ...env,
      CUSTODIAN_PKCS11_PIN_FILE: '',
      CUSTODIAN_PKCS11_PIN: '111111',
      CUSTODIAN_HTTPS_PORT: '0',
      CUSTODIAN_HTTP_PORT: '0',
    })
    assert.notEqual(badPin.code, 0)
    assert.match(badPin.output, /cannot log in to token/)
    assert.ok(!badPin.output.includes('111111'), 'the PIN is not echoed')
  })
})
