import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { before, describe, it } from 'node:test'
import {
  createShamirProvider,
  initShamir,
  InvalidSharesError,
  readShamirMeta,
} from '../../src/crypto/providers/shamir.ts'
import { forEachEngine } from '../helpers/db.ts'
import { auditActions, bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { bootstrapOverHttps, httpsJson, runToExit, spawnServer } from '../helpers/process.ts'

const metaFile = () => path.join(mkdtempSync(path.join(tmpdir(), 'shamir-')), 'root-key.shamir.json')

describe('Shamir-sealed root key (provider)', () => {
  it('unseals with any threshold of shares, never with fewer, and stores no share', async () => {
    const file = metaFile()
    const { shares } = await initShamir(file, 5, 3)
    assert.equal(shares.length, 5)
    const stored = readFileSync(file, 'utf8')
    for (const share of shares) assert.ok(!stored.includes(share.slice(10, 30)))
    await assert.rejects(initShamir(file, 5, 3), InvalidSharesError)

    const provider = createShamirProvider(readShamirMeta(file))
    assert.equal(provider.sealed(), true)
    await assert.rejects(provider.wrap(Buffer.alloc(32), 'x'), /sealed/)
    assert.deepEqual(await provider.submitShare(shares[4] as string), { sealed: true, progress: 1, threshold: 3 })
    assert.deepEqual(
      await provider.submitShare(shares[4] as string),
      { sealed: true, progress: 1, threshold: 3 },
      'a repeated share does not count twice',
    )
    await provider.submitShare(shares[1] as string)
    assert.equal((await provider.submitShare(shares[2] as string)).sealed, false)
    const wrapped = await provider.wrap(Buffer.alloc(32, 7), 'aad')
    assert.deepEqual(await provider.unwrap(wrapped, 'aad', provider.keyId()), Buffer.alloc(32, 7))

    provider.seal()
    assert.equal(provider.sealed(), true)
    await assert.rejects(provider.unwrap(wrapped, 'aad', provider.keyId()), /sealed/)
  })

  it('refuses shares of another key, and starts over', async () => {
    const mine = await initShamir(metaFile(), 3, 2)
    const theirs = await initShamir(metaFile(), 3, 2)
    const provider = createShamirProvider(mine.meta)
    await provider.submitShare(mine.shares[0] as string)
    // Either the shares rebuild another key, or (when two shares happen to share an
    // x-coordinate) they do not combine at all; both are refused and the count restarts.
    await assert.rejects(
      provider.submitShare(theirs.shares[1] as string),
      (error: unknown) => error instanceof InvalidSharesError && /different key|do not combine/.test(error.message),
    )
    assert.deepEqual(provider.progress(), { sealed: true, progress: 0, threshold: 2 })
    await assert.rejects(provider.submitShare('not-a-share'), InvalidSharesError)
    await provider.submitShare(mine.shares[2] as string)
    assert.equal((await provider.submitShare(mine.shares[0] as string)).sealed, false)
  })
})

forEachEngine('sealed vault over the API (P1.1)', (engine) => {
  let shares: string[] = []
  const t = useTestApp(engine, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }, undefined, async () => {
    const init = await initShamir(metaFile(), 3, 2)
    shares = init.shares
    return createShamirProvider(init.meta)
  })
  let provider: Org
  let customer: Org

  const createSecret = () =>
    t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets`,
      token: customer.ownerToken,
      body: { name: `s-${Date.now()}-${Math.random()}`, type: 'api_key', value: 'sealed-value' },
    })
  const unseal = (share: string) => t().request({ method: 'POST', url: '/v1/vault/unseal', body: { share } })

  before(async () => {
    // The operator's second factor needs the root key (its seed is wrapped by it): set up
    // unsealed, then seal again for the tests.
    await unseal(shares[0] as string)
    await unseal(shares[1] as string)
    provider = await bootstrapProvider(t())
    customer = await createCustomerOrg(t(), provider, 'Sealed Org', 'owner@sealed.test')
    assert.equal((await t().request({ method: 'POST', url: '/v1/vault/seal', token: provider.ownerToken })).status, 200)
  })

  it('refuses secret operations with 503 while sealed, and unseals with the threshold of shares', async () => {
    assert.deepEqual((await t().request({ method: 'GET', url: '/v1/vault/status' })).body, {
      provider: 'shamir',
      sealed: true,
      progress: 0,
      threshold: 2,
    })
    const notReady = await t().request({ method: 'GET', url: '/readyz' })
    assert.equal(notReady.status, 503)
    assert.equal(notReady.body.checks.keys, 'sealed')
    const refused = await createSecret()
    assert.equal(refused.status, 503)
    assert.equal(refused.body.code, 'VAULT_SEALED')
    assert.ok(Number(refused.headers['retry-after']) > 0)

    const bad = await unseal('cst_share_AAAA')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.code, 'UNSEAL_SHARES_INVALID')
    assert.equal((await unseal(shares[0] as string)).body.progress, 1)
    assert.equal((await unseal(shares[2] as string)).body.sealed, false)
    const ready = await t().request({ method: 'GET', url: '/readyz' })
    assert.equal(ready.status, 200, ready.text)

    const created = await createSecret()
    assert.equal(created.status, 201)
    const revealed = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets/${created.body.id}/reveal`,
      token: customer.ownerToken,
      body: { reason: 'after unseal' },
    })
    assert.equal(revealed.body.value, 'sealed-value')
  })

  it('lets only the provider seal it again, which drops the keys at once', async () => {
    const customerTry = await t().request({ method: 'POST', url: '/v1/vault/seal', token: customer.ownerToken })
    assert.equal(customerTry.status, 403)
    const sealed = await t().request({ method: 'POST', url: '/v1/vault/seal', token: provider.ownerToken })
    assert.equal(sealed.status, 200)
    assert.equal(sealed.body.sealed, true)
    const secrets = await t().request({
      method: 'GET',
      url: `/v1/orgs/${customer.orgId}/secrets`,
      token: customer.ownerToken,
    })
    const revealed = await t().request({
      method: 'POST',
      url: `/v1/orgs/${customer.orgId}/secrets/${secrets.body.secrets[0].id}/reveal`,
      token: customer.ownerToken,
      body: { reason: 'after seal' },
    })
    assert.equal(revealed.status, 503)
    assert.equal(revealed.body.code, 'VAULT_SEALED')
  })

  it('audits unseal and seal in the provider’s log, without any share', async () => {
    const events = await auditActions(t(), provider.orgId)
    const actions = events.map((e) => e.action)
    for (const action of ['vault.unseal.share', 'vault.unseal', 'vault.seal'])
      assert.ok(actions.includes(action), action)
    const all = JSON.stringify(events)
    for (const share of shares) assert.ok(!all.includes(share.slice(10)), 'a share reached the audit log')
  })
})

describe('custodian init and unseal with a Shamir root key', () => {
  it('splits at init, starts sealed, unseals from standard input, then serves secrets', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-shamir-'))
    const env = { CUSTODIAN_DATA_DIR: dataDir, CUSTODIAN_ROOT_KEY_PROVIDER: 'shamir' }
    const init = await runToExit(['bin/custodian.js', 'init', '--json', '--shares', '3', '--threshold', '2'], env)
    assert.equal(init.code, 0, init.output)
    const { bootstrapToken, unsealShares } = JSON.parse(init.output) as {
      bootstrapToken: string
      unsealShares: string[]
    }
    assert.equal(unsealShares.length, 3)
    const server = await spawnServer(env)
    let secretUrl: string
    let apiToken: string
    try {
      assert.equal((await httpsJson(server.httpsPort, 'GET', '/v1/vault/status')).body.sealed, true)
      const unseal = await runToExit(
        ['bin/custodian.js', 'unseal', '--url', `https://localhost:${server.httpsPort}`],
        env,
        30_000,
        `${unsealShares[1]}\n${unsealShares[2]}\n`,
      )
      assert.equal(unseal.code, 0, unseal.output)
      assert.match(unseal.output, /share accepted: 1\/2\nunsealed/)
      const boot = await bootstrapOverHttps(server.httpsPort, bootstrapToken)
      const secret = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${boot.body.orgId}/secrets`, {
        token: boot.body.apiToken,
        body: { name: 'k', type: 'api_key', value: 'shamir-protected' },
      })
      assert.equal(secret.status, 201, secret.text)
      const revealed = await httpsJson(
        server.httpsPort,
        'POST',
        `/v1/orgs/${boot.body.orgId}/secrets/${secret.body.id}/reveal`,
        { token: boot.body.apiToken, body: { reason: 'e2e' } },
      )
      assert.equal(revealed.body.value, 'shamir-protected')
      secretUrl = `/v1/orgs/${boot.body.orgId}/secrets/${secret.body.id}/reveal`
      apiToken = boot.body.apiToken
    } finally {
      await server.stop()
    }

    // Root rotation: the current shares in, new shares out; only the new ones unseal.
    const rotated = await runToExit(
      ['bin/custodian.js', 'keys', 'rotate-root', '--shares', '3', '--threshold', '2'],
      env,
      30_000,
      `${unsealShares[0]}\n${unsealShares[2]}\n`,
    )
    assert.equal(rotated.code, 0, rotated.output)
    const newShares = [...rotated.output.matchAll(/share \d: (cst_share_\S+)/g)].map((m) => m[1] as string)
    assert.equal(newShares.length, 3)
    const again = await spawnServer(env)
    try {
      const old = await httpsJson(again.httpsPort, 'POST', '/v1/vault/unseal', { body: { share: unsealShares[0] } })
      await httpsJson(again.httpsPort, 'POST', '/v1/vault/unseal', { body: { share: unsealShares[1] } })
      assert.equal(old.status, 200)
      assert.equal(
        (await httpsJson(again.httpsPort, 'GET', '/v1/vault/status')).body.sealed,
        true,
        'old shares do not unseal',
      )
      await httpsJson(again.httpsPort, 'POST', '/v1/vault/unseal', { body: { share: newShares[1] } })
      assert.equal(
        (await httpsJson(again.httpsPort, 'POST', '/v1/vault/unseal', { body: { share: newShares[2] } })).body.sealed,
        false,
      )
      const revealed = await httpsJson(again.httpsPort, 'POST', secretUrl, {
        token: apiToken,
        body: { reason: 'after root rotation' },
      })
      assert.equal(revealed.body.value, 'shamir-protected')
    } finally {
      await again.stop()
    }
  })
})
