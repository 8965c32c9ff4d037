import assert from 'node:assert/strict'
import { connect, type AddressInfo } from 'node:net'
import { connect as connectTls } from 'node:tls'
import { after, it } from 'node:test'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { startTestApp } from '../helpers/app.ts'
import { startVaultListener } from '../helpers/vault-listener.ts'

/**
 * A request that reaches a closing listener (SIGTERM: `close()` called, the requests under way
 * finishing) is refused with 503 SERVICE_UNAVAILABLE as problem+json, with `Connection: close`,
 * `Retry-After` and the security headers every answer carries — not Fastify's own fixed JSON
 * body without them. The request already under way finishes as usual.
 */
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

/** Reads everything the server sends until it closes the connection. */
function collect(socket: ReturnType<typeof connect> | ReturnType<typeof connectTls>): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = ''
    socket.on('data', (chunk: Buffer) => (text += chunk.toString('latin1')))
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
  })
}

forEachEngine('a closing listener', (engine) => {
  it('refuses a request that arrives while it closes with 503 problem+json, Connection: close and its headers; the one under way finishes', async () => {
    const db = await createTestDatabase(engine)
    databases.push(db)
    const { app } = await startTestApp(engine, db)
    await app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = app.server.address() as AddressInfo
    const socket = connect(port, '127.0.0.1')
    await new Promise<void>((resolve) => socket.once('connect', resolve))
    const answers = collect(socket)
    // The first request is under way: its body is not all sent yet.
    const body = JSON.stringify({ name: 'late', type: 'generic', value: 'v' })
    socket.write(
      `POST /v1/orgs/00000000-0000-4000-8000-000000000000/secrets HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
    )
    await new Promise((resolve) => setTimeout(resolve, 100))
    const closed = app.close()
    await new Promise((resolve) => setTimeout(resolve, 100))
    // The rest of the first body, and a second request pipelined behind it.
    socket.write(`${body.slice(5)}GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n`)
    const text = await answers
    await closed

    const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/)
    assert.equal(responses.length, 2, text)
    assert.match(responses[0] ?? '', /^HTTP\/1\.1 401 /, 'the request under way is answered as usual (no credentials)')
    const refused = responses[1] ?? ''
    assert.match(refused, /^HTTP\/1\.1 503 /)
    const [head = '', payload = ''] = refused.split('\r\n\r\n')
    assert.match(head, /^content-type: application\/problem\+json/im)
    assert.match(head, /^connection: close/im)
    assert.match(head, /^retry-after: \d+/im)
    assert.match(head, /^x-content-type-options: nosniff/im)
    assert.match(head, /^content-security-policy: default-src 'none'/im)
    const problem = JSON.parse(payload) as { status: number; code: string; detail: string }
    assert.equal(problem.status, 503)
    assert.equal(problem.code, 'SERVICE_UNAVAILABLE')
    assert.match(problem.detail, /shutting down/)
  })

  it("the Vault-compatible listener refuses it likewise, in Vault's error format", async () => {
    const db = await createTestDatabase(engine)
    databases.push(db)
    const t = await startTestApp(engine, db)
    const vault = await startVaultListener(t, { sealed: () => false })
    try {
      const port = Number(new URL(vault.address).port)
      const socket = connectTls({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false })
      await new Promise<void>((resolve) => socket.once('secureConnect', resolve))
      const answers = collect(socket)
      const body = JSON.stringify({ data: { value: 'v' } })
      socket.write(
        `POST /v1/secret/data/late HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
      )
      await new Promise((resolve) => setTimeout(resolve, 100))
      const closed = vault.listener.close()
      await new Promise((resolve) => setTimeout(resolve, 100))
      socket.write(`${body.slice(5)}GET /v1/sys/health HTTP/1.1\r\nHost: localhost\r\n\r\n`)
      const text = await answers
      await closed
      const responses = text.split(/(?=HTTP\/1\.1 \d{3} )/)
      assert.equal(responses.length, 2, text)
      assert.doesNotMatch(responses[0] ?? '', /^HTTP\/1\.1 503 /, 'the request under way is answered as usual')
      const [head = '', payload = ''] = (responses[1] ?? '').split('\r\n\r\n')
      assert.match(head, /^HTTP\/1\.1 503 /)
      assert.match(head, /^connection: close/im)
      const answer = JSON.parse(payload) as { errors: string[] }
      assert.ok(Array.isArray(answer.errors), payload)
      assert.match(answer.errors.join(' '), /shutting down/)
    } finally {
      await t.app.close()
    }
  })
})
