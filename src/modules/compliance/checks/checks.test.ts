import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { createServer as createHttpServer, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../../config.ts'
import { httpsOptions, loadOrCreateCertificate, type TlsMaterial } from '../../../http/tls.ts'
import { createRedirectServer } from '../../../http/redirect.ts'
import { PROMISES } from '../catalogue.ts'
import type { CheckContext, ComplianceEnvironment } from './check.ts'
import { CHECKS } from './index.ts'

/**
 * The checks that read only the process (its listeners, its routes): evaluated against real
 * servers on loopback that do and do not keep the promise, so each can be seen to fail.
 */
const config = loadConfig({ CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-checks-')) })

function environment(overrides: Partial<ComplianceEnvironment>): ComplianceEnvironment {
  return {
    config,
    engine: 'pglite',
    version: '0.0.0',
    publicUrl: 'https://localhost',
    rootKey: { kind: 'local', keyId: () => 'local:test', sealed: () => false },
    publicRoutes: () => [],
    listeners: () => null,
    checkedPromises: () => new Set(CHECKS.map((c) => c.promise)),
    catalogue: () => PROMISES,
    policyPromises: () => PROMISES.map((p) => p.id),
    auditStatus: () => Promise.reject(new Error('not used')),
    ...overrides,
  }
}

/** A context for checks that read no database. */
const contextWith = (env: ComplianceEnvironment): CheckContext =>
  ({ now: new Date(), orgId: '00000000-0000-4000-8000-000000000000', orgKind: 'provider', env }) as CheckContext

const evaluate = (id: string, env: ComplianceEnvironment) => {
  const definition = CHECKS.find((c) => c.id === id)
  assert.ok(definition, id)
  return definition.evaluate(contextWith(env))
}

const listen = (server: Server): Promise<number> =>
  new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)))

describe('checks that connect to the service itself (P4.1, P4.2) and read its routes (P2.2)', () => {
  let tls: TlsMaterial
  const servers: Server[] = []
  let modern: number
  let legacy: number
  let redirect: number
  let plain: number

  before(async () => {
    tls = await loadOrCreateCertificate(config)
    const hsts = (_req: unknown, res: import('node:http').ServerResponse) => {
      res.writeHead(200, { 'strict-transport-security': 'max-age=31536000; includeSubDomains' })
      res.end('{}')
    }
    const modernServer = createHttpsServer(httpsOptions(tls, 'TLSv1.2'), hsts)
    // A listener configured as the promise forbids: TLS 1.0 and 1.1 allowed, no HSTS.
    const legacyServer = createHttpsServer(
      { cert: tls.cert, key: tls.key, minVersion: 'TLSv1', ciphers: 'ALL:@SECLEVEL=0' },
      (_req, res) => res.end('{}'),
    )
    modern = await listen(modernServer)
    legacy = await listen(legacyServer)
    const redirectServer = createRedirectServer({ httpsPort: modern, publicUrl: undefined })
    redirect = await listen(redirectServer)
    const plainServer = createHttpServer((_req, res) => res.end('{"data":"served over plain HTTP"}'))
    plain = await listen(plainServer)
    servers.push(modernServer, legacyServer, redirectServer, plainServer)
  })
  after(() => {
    for (const server of servers) server.close()
  })

  const at = (httpsPort: number, httpPort: number | null) =>
    environment({ listeners: () => ({ host: '127.0.0.1', httpsPort, httpPort }) })

  it('P4.1: passes on a listener that refuses TLS 1.1 and negotiates 1.2+, fails on one that accepts TLS 1.1', async () => {
    const good = await evaluate('p4.1/tls-minimum', at(modern, null))
    assert.equal(good.verdict, 'pass', good.summary)
    assert.match(String(good.evidence.tls11), /^refused/)
    assert.match(String(good.evidence.negotiated), /^TLSv1\.[23]$/)
    const bad = await evaluate('p4.1/tls-minimum', at(legacy, null))
    assert.equal(bad.verdict, 'fail', bad.summary)
    assert.match(String(bad.evidence.tls11), /^accepted \(TLSv1(\.1)?\)$/)
    const absent = await evaluate('p4.1/tls-minimum', environment({}))
    assert.equal(absent.verdict, 'not_applicable', 'a process that does not listen')
  })

  it('P4.2: passes with a permanent redirect and a year of HSTS, fails when plain HTTP serves data or HSTS is missing', async () => {
    const good = await evaluate('p4.2/http-redirects', at(modern, redirect))
    assert.equal(good.verdict, 'pass', good.summary)
    assert.equal(good.evidence.httpStatus, 308)
    const served = await evaluate('p4.2/http-redirects', at(modern, plain))
    assert.equal(served.verdict, 'fail', served.summary)
    const noHsts = await evaluate('p4.2/http-redirects', at(legacy, null))
    assert.equal(noHsts.verdict, 'fail', noHsts.summary)
  })

  it('P2.2: passes when every open route is public by design, fails naming one that is not', async () => {
    // GET /metrics: only with CUSTODIAN_METRICS_TOKEN_FILE, behind that token.
    const designed = ['GET /healthz', 'POST /v1/login', 'GET /.well-known/security.txt', 'GET /trust', 'GET /metrics']
    const good = await evaluate('p2.2/deny-by-default', environment({ publicRoutes: () => designed }))
    assert.equal(good.verdict, 'pass', good.summary)
    const bad = await evaluate(
      'p2.2/deny-by-default',
      environment({ publicRoutes: () => [...designed, 'GET /v1/orgs/:orgId/secrets'] }),
    )
    assert.equal(bad.verdict, 'fail')
    assert.deepEqual(bad.evidence.unexpected, ['GET /v1/orgs/:orgId/secrets'])
  })

  it('P10.1, P10.2: fail when a stated promise has no check, or a promise has none', async () => {
    const checked = new Set(CHECKS.map((c) => c.promise))
    checked.delete('P7.7')
    const policy = await evaluate('p10.1/policy-backed', environment({ checkedPromises: () => checked }))
    assert.equal(policy.verdict, 'fail')
    assert.deepEqual(policy.evidence.unbacked, ['P7.7'])
    const frameworks = await evaluate('p10.2/frameworks-evidenced', environment({ checkedPromises: () => checked }))
    assert.equal(frameworks.verdict, 'fail')
    assert.deepEqual(frameworks.evidence.withoutCheck, ['P7.7'])
    assert.equal((await evaluate('p10.2/frameworks-evidenced', environment({}))).verdict, 'pass')
  })
})

describe('where the root key is held (P1.3)', () => {
  it('reports a KMS or HSM root key as held outside the host, and checks only the files that exist here', async () => {
    const { chmodSync, writeFileSync } = await import('node:fs')
    writeFileSync(config.auditKeyFile, Buffer.alloc(32), { mode: 0o600 })
    const kms = environment({
      rootKey: {
        kind: 'aws-kms',
        keyId: () => 'aws-kms:arn:aws:kms:eu-west-1:111122223333:key/1234abcd#material-1',
        sealed: () => false,
      },
    })
    const held = await evaluate('p1.3/key-material-private', kms)
    assert.equal(held.verdict, 'pass', held.summary)
    assert.match(
      held.summary,
      /held outside the host by a key management service \(aws-kms:arn:aws:kms:eu-west-1:111122223333:key\/1234abcd\)/,
    )
    assert.equal(held.evidence.heldOutsideHost, true)
    assert.deepEqual(held.evidence.modes, ['audit signing key: 600'])

    const hsm = await evaluate(
      'p1.3/key-material-private',
      environment({ rootKey: { kind: 'pkcs11', keyId: () => 'pkcs11:t/l:00', sealed: () => false } }),
    )
    assert.match(hsm.summary, /held outside the host by an HSM/)

    // The audit key is still a file on this host: an open mode fails the check whatever holds the root key.
    chmodSync(config.auditKeyFile, 0o644)
    const open = await evaluate('p1.3/key-material-private', kms)
    assert.equal(open.verdict, 'fail', open.summary)
    chmodSync(config.auditKeyFile, 0o600)

    const local = await evaluate('p1.3/key-material-private', environment({}))
    assert.equal(local.evidence.heldOutsideHost, false)
    assert.match(String((local.evidence.modes as string[])[0]), /^root key: /)
  })
})
