import assert from 'node:assert/strict'
import { createServer, type Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { openDatabase } from '../../src/db/connect.ts'
import { toAppError } from '../../src/http/problem.ts'

/**
 * A PostgreSQL host that stops answering without refusing — what the service meets while
 * a failover moves a virtual IP, or across a network partition — must not hold requests
 * forever: waiting for a connection is bounded, and the failure reads as the database
 * being unavailable (503 SERVICE_UNAVAILABLE), like a refused connection.
 */
describe('PostgreSQL connections to a host that never answers', () => {
  // A listener that accepts TCP connections and never says a word: the startup message
  // goes unanswered, as with a server that hangs or a peer lost behind a partition.
  const sockets = new Set<Socket>()
  const silent = createServer((socket) => {
    sockets.add(socket)
    socket.on('error', () => {})
  })
  let port = 0
  before(async () => {
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    port = (silent.address() as { port: number }).port
  })
  after(async () => {
    for (const socket of sockets) socket.destroy()
    await new Promise<void>((resolve) => silent.close(() => resolve()))
  })

  it('give up after the connect timeout, as the database being unavailable (503)', { timeout: 120_000 }, async () => {
    const error = await openDatabase({
      databaseUrl: `postgres://custodian@127.0.0.1:${port}/custodian`,
      connectTimeoutMs: 500,
    }).then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(error instanceof Error, 'the open fails instead of waiting forever')
    assert.ok(sockets.size > 0, 'it did reach the listener')
    const problem = toAppError(error)
    assert.equal(problem.code, 'SERVICE_UNAVAILABLE')
    assert.equal(problem.status, 503)
  })
})
