import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { ed25519FromSeed } from '../../crypto/keys.ts'
import { addSignatureLines, checkpointOrigin, checkpointText, signNote } from './audit.note.ts'
import { cosignCheckpoint, cosignerVerifierKey } from './tlog-checkpoint.ts'
import { createWitnessReader, MAX_CHECKPOINT_BYTES } from './audit.witness-read.ts'

/**
 * `custodian audit verify --ask-witnesses` reads what witnesses hold: a witness is not
 * trusted to behave, only to have cosigned. One server on 127.0.0.1 plays a good witness
 * and each kind of bad one, by path prefix.
 */
const raw = (key: { publicKey: string }) => Buffer.from(key.publicKey, 'base64url')

describe('reading the checkpoints witnesses cosigned (issue 21)', () => {
  const log = ed25519FromSeed(randomBytes(32))
  const witnessKey = ed25519FromSeed(randomBytes(32))
  const otherKey = ed25519FromSeed(randomBytes(32))
  const orgId = '11111111-2222-4333-8444-555555555555'
  const origin = checkpointOrigin('custodian.test', orgId)
  const text = checkpointText(origin, 7, randomBytes(32))
  const signed = signNote(text, origin, raw(log), (m) => log.sign(m))
  const cosigned = (key: { publicKey: string; sign(m: Buffer): Buffer } = witnessKey, name = 'witness.test/good') =>
    addSignatureLines(signed, [cosignCheckpoint(text, name, raw(key), (m) => key.sign(m), 1_800_000_000)])
  let server: Server
  let base = ''
  const asked: string[] = []

  before(async () => {
    server = createServer((request: IncomingMessage, response: ServerResponse) => {
      const kind = (request.url ?? '').split('/')[1] ?? ''
      asked.push(kind)
      if (kind === 'good') response.end(cosigned())
      else if (kind === 'uncosigned') response.end(signed)
      else if (kind === 'stranger') response.end(cosigned(otherKey))
      else if (kind === 'missing') {
        response.statusCode = 404
        response.end('{}')
      } else if (kind === 'huge') {
        // An endless 200 body: the reader must stop at its cap.
        const chunk = Buffer.alloc(16 * 1024, 0x61)
        const write = () => {
          while (response.write(chunk)) if (response.destroyed) return
          response.once('drain', write)
        }
        write()
      } else if (kind === 'drip') {
        response.writeHead(200, { 'content-type': 'text/plain' })
        const timer = setInterval(() => response.write('a'), 100)
        response.on('close', () => clearInterval(timer))
      } else if (kind === 'slow') {
        const timer = setTimeout(() => response.end(cosigned()), 5_000)
        response.on('close', () => clearTimeout(timer))
      } else if (kind === 'redirect') {
        response.statusCode = 302
        response.setHeader('location', `${base}/good/x`)
        response.end()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  const reader = (...kinds: string[]) =>
    createWitnessReader({
      fetch: fetch,
      witnesses: kinds.map((kind) => ({
        url: `${base}/${kind}`,
        name: `witness.test/${kind}`,
        verifierKey: cosignerVerifierKey(`witness.test/${kind}`, raw(witnessKey)),
      })),
      originHost: 'custodian.test',
      publicKeys: [log.publicKey],
      timeoutMs: 500,
    })

  it('takes a checkpoint signed by the log and cosigned by the witness’s own key', async () => {
    const good = createWitnessReader({
      fetch: fetch,
      witnesses: [
        {
          url: `${base}/good`,
          name: 'witness.test/good',
          verifierKey: cosignerVerifierKey('witness.test/good', raw(witnessKey)),
        },
      ],
      originHost: 'custodian.test',
      publicKeys: [log.publicKey],
      timeoutMs: 500,
    })
    const answer = await good.ask(orgId)
    assert.deepEqual(answer.problems, [])
    assert.equal(answer.notes.length, 1)
  })

  it('refuses a note without the witness’s cosignature, or with another key’s, and says which witness', async () => {
    const answer = await reader('uncosigned', 'stranger').ask(orgId)
    assert.deepEqual(answer.notes, [])
    assert.deepEqual(
      answer.problems.map((p) => p.witness),
      ['witness.test/uncosigned', 'witness.test/stranger'],
    )
    for (const p of answer.problems) assert.match(p.message, /no cosignature of its own key|not signed by this log/)
  })

  it('reports a witness with no checkpoint of the log, and does not follow a redirect', async () => {
    const answer = await reader('missing', 'redirect').ask(orgId)
    assert.deepEqual(answer.notes, [])
    assert.match(answer.problems[0]?.message ?? '', /holds no checkpoint of this log/)
    assert.match(answer.problems[1]?.message ?? '', /answered 302|unreachable/)
  })

  it('stops reading an answer larger than a checkpoint can be', async () => {
    const before = process.memoryUsage().rss
    const answer = await reader('huge').ask(orgId)
    assert.match(answer.problems[0]?.message ?? '', new RegExp(`more than ${MAX_CHECKPOINT_BYTES} bytes`))
    assert.ok(process.memoryUsage().rss - before < 64 * 1024 * 1024, 'the body was not read on')
  })

  it('gives up on a witness that answers too slowly (headers or body) once, and does not ask it again for later orgs', async () => {
    const r = reader('drip', 'slow', 'good')
    const began = performance.now()
    const first = await r.ask(orgId)
    assert.ok(performance.now() - began < 3_000, 'two timeouts of 500 ms, not the witnesses’ pace')
    assert.match(first.problems[0]?.message ?? '', /no answer within 500 ms/)
    assert.match(first.problems[1]?.message ?? '', /no answer within 500 ms/)
    assert.equal(first.notes.length, 1, 'the good witness still answers')
    const count = asked.filter((k) => k === 'drip' || k === 'slow').length
    const second = await r.ask(orgId)
    assert.equal(asked.filter((k) => k === 'drip' || k === 'slow').length, count, 'not asked again')
    assert.match(second.problems[0]?.message ?? '', /^not asked: no answer within 500 ms for an earlier org$/)
  })
})
