import assert from 'node:assert/strict'
import { X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import tls from 'node:tls'
import { bootstrapOverHttps, httpsJson, spawnServer, type ServerProcess } from '../helpers/process.ts'

/** P4.1–P4.3 against the real listeners of a running service. */
describe('transport security (P4.1, P4.2, P4.3)', () => {
  let server: ServerProcess
  let dataDir: string

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-tls-'))
    server = await spawnServer({
      CUSTODIAN_DATA_DIR: dataDir,
      CUSTODIAN_SECURITY_CONTACTS: 'mailto:security@example.test',
    })
  })
  after(async () => {
    await server?.stop()
  })

  function handshake(
    port: number,
    version: 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3',
  ): Promise<{ ok: true; protocol: string | null; cert: tls.PeerCertificate } | { ok: false; error: string }> {
    return new Promise((resolve) => {
      const socket = tls.connect({
        host: '127.0.0.1',
        port,
        minVersion: version,
        maxVersion: version,
        ciphers: 'DEFAULT@SECLEVEL=0',
        rejectUnauthorized: false,
        servername: 'localhost',
      })
      socket.once('secureConnect', () => {
        resolve({ ok: true, protocol: socket.getProtocol(), cert: socket.getPeerCertificate() })
        socket.end()
      })
      socket.once('error', (error) => resolve({ ok: false, error: error.message }))
    })
  }

  it('generates a self-signed certificate for localhost on first start and prints its fingerprint', async () => {
    const certPem = readFileSync(path.join(dataDir, 'tls', 'selfsigned-cert.pem'), 'utf8')
    const cert = new X509Certificate(certPem)
    assert.ok(cert.checkHost('localhost'))
    assert.ok(server.output().includes(`SHA-256 fingerprint: ${cert.fingerprint256}`))
    const served = await handshake(server.httpsPort, 'TLSv1.3')
    assert.ok(served.ok)
    assert.equal(served.cert.fingerprint256, cert.fingerprint256)
  })

  it("prints where its start's time went, just before Listening: (the bench reads it, docs/benchmarks.md)", () => {
    const lines = server.output().split('\n')
    const started = lines.findIndex((line) => line.startsWith('Started in '))
    assert.ok(started >= 0, server.output())
    assert.ok(lines[started + 1]?.startsWith('Listening: https://'), 'the next line is Listening:')
    const line = lines[started] as string
    const match =
      /^Started in (\d+\.\d\d) s \(modules (\d+\.\d\d) s, database (\d+\.\d\d) s, app (\d+\.\d\d) s, control (\d+\.\d\d) s, memory (\d+\.\d\d) s, rest (\d+\.\d\d) s\)$/.exec(
        line,
      )
    assert.ok(match !== null, line)
    const [total, ...steps] = match.slice(1).map(Number) as [number, ...number[]]
    // Each step rounded to 10 ms: their sum is the total within the six roundings.
    assert.ok(Math.abs(steps.reduce((sum, step) => sum + step, 0) - total) <= 0.04, line)
    assert.ok(steps.every((step) => step >= 0) && total > 0, line)
    // The database's step includes opening PGlite: never nothing.
    assert.ok((steps[1] as number) > 0, line)
  })

  it('accepts TLS 1.2 and 1.3', async () => {
    const v13 = await handshake(server.httpsPort, 'TLSv1.3')
    const v12 = await handshake(server.httpsPort, 'TLSv1.2')
    assert.ok(v13.ok && v13.protocol === 'TLSv1.3')
    assert.ok(v12.ok && v12.protocol === 'TLSv1.2')
  })

  it('refuses a TLS 1.1 client (which a TLS 1.1 server accepts, so the client is real)', async () => {
    const key = readFileSync(path.join(dataDir, 'tls', 'selfsigned-key.pem'))
    const cert = readFileSync(path.join(dataDir, 'tls', 'selfsigned-cert.pem'))
    const legacy = tls.createServer(
      { key, cert, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' },
      (s) => s.end(),
    )
    await new Promise<void>((resolve) => legacy.listen(0, '127.0.0.1', () => resolve()))
    try {
      const control = await handshake((legacy.address() as { port: number }).port, 'TLSv1.1')
      assert.ok(control.ok, `control handshake failed: ${JSON.stringify(control)}`)
      assert.equal(control.ok && control.protocol, 'TLSv1.1')
      const refused = await handshake(server.httpsPort, 'TLSv1.1')
      assert.equal(refused.ok, false)
    } finally {
      legacy.close()
    }
  })

  it('sends HSTS and the usual security headers over HTTPS', async () => {
    const response = await httpsJson(server.httpsPort, 'GET', '/healthz')
    assert.equal(response.status, 200)
    assert.match(String(response.headers['strict-transport-security']), /max-age=31536000; includeSubDomains/)
    assert.equal(response.headers['x-content-type-options'], 'nosniff')
    assert.equal(response.headers['x-frame-options'], 'DENY')
    assert.match(String(response.headers['content-security-policy']), /default-src 'none'/)
    assert.equal(response.headers['cache-control'], 'no-store')
  })

  it('answers every plain-HTTP request with 308 to HTTPS and serves nothing else', async () => {
    for (const [method, target] of [
      ['GET', '/healthz'],
      ['POST', '/v1/bootstrap'],
      ['DELETE', '/v1/orgs/x?y=1'],
      ['GET', '//evil.example/'],
    ] as const) {
      const response = await new Promise<{ status: number; location: string | undefined; body: string }>(
        (resolve, reject) => {
          const req = request(
            {
              host: '127.0.0.1',
              port: server.httpPort,
              method,
              path: target,
              headers: { host: `localhost:${server.httpPort}` },
            },
            (res) => {
              let body = ''
              res.on('data', (c: Buffer) => (body += c.toString()))
              res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }))
            },
          )
          req.on('error', reject)
          req.end(method === 'POST' ? '{"token":"x"}' : undefined)
        },
      )
      assert.equal(response.status, 308, `${method} ${target}`)
      const expectedPath = target.startsWith('//') ? '/' : target
      assert.equal(response.location, `https://localhost:${server.httpsPort}${expectedPath}`)
      assert.ok(!response.body.includes('{'), 'no API content over plain HTTP')
    }
  })

  it('P4.1, P4.2, P9.2: the running service’s own compliance checks connect to its listeners and pass', async () => {
    const boot = await bootstrapOverHttps(server.httpsPort, server.bootstrapToken)
    assert.equal(boot.status, 201, boot.text)
    const token = boot.body.apiToken as string
    const run = await httpsJson(server.httpsPort, 'POST', `/v1/orgs/${boot.body.orgId}/compliance/runs`, { token })
    assert.equal(run.status, 200, run.text)
    const standing = await httpsJson(server.httpsPort, 'GET', `/v1/orgs/${boot.body.orgId}/compliance`, { token })
    const checks = (
      standing.body.promises as {
        checks: { check: string; verdict: string; summary: string; evidence: Record<string, unknown> }[]
      }[]
    ).flatMap((p) => p.checks)
    const result = (id: string) => {
      const found = checks.find((c) => c.check === id)
      assert.ok(found, id)
      return found
    }
    const tlsMinimum = result('p4.1/tls-minimum')
    assert.equal(tlsMinimum.verdict, 'pass', tlsMinimum.summary)
    assert.equal(tlsMinimum.evidence.port, server.httpsPort)
    assert.match(String(tlsMinimum.evidence.tls11), /^refused/)
    assert.equal(tlsMinimum.evidence.negotiated, 'TLSv1.3')
    const redirects = result('p4.2/http-redirects')
    assert.equal(redirects.verdict, 'pass', redirects.summary)
    assert.equal(redirects.evidence.httpStatus, 308)
    assert.equal(redirects.evidence.httpPort, server.httpPort)
    const securityTxt = result('p9.2/security-txt')
    assert.equal(securityTxt.verdict, 'pass', securityTxt.summary)
    assert.equal(securityTxt.evidence.contacts, 1)
  })
})
