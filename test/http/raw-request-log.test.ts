import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { connect } from 'node:tls'
import { spawnServer } from '../helpers/process.ts'

/** Writes raw bytes over TLS and resolves with what the server answered before closing. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => socket.end(bytes))
    let answer = ''
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString()))
    socket.on('close', () => resolve(answer))
    // The server may reset the connection once it has answered a malformed request.
    socket.on('error', (error: NodeJS.ErrnoException) =>
      error.code === 'ECONNRESET' ? resolve(answer) : reject(error),
    )
  })
}

describe('malformed requests keep credentials out of the log (issue 11 K5)', () => {
  it('logs a request the HTTP parser refuses without its raw bytes, even at trace level', async () => {
    const token = `cst_api_${'0'.repeat(32)}_${'A'.repeat(43)}`
    const server = await spawnServer({
      CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-raw-')),
      CUSTODIAN_LOG_LEVEL: 'trace',
    })
    try {
      // A header name with a space, and a chunked body whose chunk size is not hex: both are
      // refused by Node's parser, which attaches the raw request to the error it logs.
      const badHeader = await rawExchange(
        server.httpsPort,
        `GET /v1/me HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\nBad Header: x\r\n\r\n`,
      )
      // Refused (or the connection reset first): either way, never served.
      assert.ok(badHeader === '' || badHeader.startsWith('HTTP/1.1 400'), badHeader)
      const body = JSON.stringify({ email: 'a@b.test', password: 'raw-password-in-a-bad-chunk' })
      await rawExchange(
        server.httpsPort,
        `POST /v1/login HTTP/1.1\r\nHost: localhost\r\nCookie: __Host-custodian_session=${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n${body}\r\n0\r\n\r\n`,
      )
    } finally {
      await server.stop()
    }
    const log = server.output()
    assert.match(log, /client error|rawPacket/, 'the refusal was logged')
    assert.ok(!log.includes('"type":"Buffer"'), 'no raw bytes logged')
    assert.ok(!log.includes(token.slice(8)), 'no token logged')
    assert.ok(!log.includes('raw-password-in-a-bad-chunk'), 'no password logged')
  })
})
