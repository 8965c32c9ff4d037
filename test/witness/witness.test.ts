import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { createHash, randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createOutboundFetch, type OutboundFetch } from '../../src/http/outbound.ts'
import { noteVerifierKey, signNote } from '../../src/modules/audit/audit.note.ts'
import { EMPTY_TREE_HASH, leafHash } from '../../src/modules/audit/merkle.ts'
import {
  cosignerVerifierKey,
  formatCheckpoint,
  openCheckpoint,
  verifierFromKey,
} from '../../src/modules/audit/tlog-checkpoint.ts'
import { proveConsistency, tileHashReader, treeHash } from '../../src/modules/audit/tlog-tiles.ts'
import { addCheckpoint, type AddCheckpointResult } from '../../src/modules/audit/tlog-witness-client.ts'
import { formatAddCheckpointRequest } from '../../src/modules/audit/tlog-witness-request.ts'
import { startHttpsReceiver } from '../helpers/https-receiver.ts'
import { runToExit } from '../helpers/process.ts'
import { MemoryTlog } from '../helpers/tlog-memory.ts'
import { spawnWitness, type WitnessProcess } from '../helpers/witness-process.ts'

/**
 * The witness (`custodian witness serve`, a real process over HTTPS on 127.0.0.1) driven by
 * the client library over real checkpoints: trees built with the tiles library, notes signed
 * with an Ed25519 log key. The promise under test: the witness cosigns only checkpoints that
 * extend what it cosigned, and never forgets what it cosigned — not even across kill -9.
 */

const root = mkdtempSync(path.join(tmpdir(), 'custodian-witness-'))
const cli = (args: string[]) => runToExit(['bin/custodian.js', ...args], {})

/** A log: a tree in memory, the log's key, checkpoints signed under origin = key name. */
class TestLog {
  readonly tlog = new MemoryTlog()
  readonly origin: string
  readonly signer: ReturnType<typeof ed25519FromSeed>
  readonly salt: string
  readonly rawKey: Buffer
  readonly vkey: string
  constructor(origin: string, signer = ed25519FromSeed(Buffer.alloc(32, 7)), salt = 'a') {
    this.origin = origin
    this.signer = signer
    this.salt = salt
    this.rawKey = Buffer.from(signer.publicKey, 'base64url')
    this.vkey = noteVerifierKey(origin, this.rawKey)
  }
  async grow(to: number): Promise<void> {
    const leaves = []
    for (let i = this.tlog.size; i < to; i++) leaves.push(leafHash(Buffer.from(`${this.salt}:${i}`)))
    if (leaves.length > 0) await this.tlog.append(leaves)
  }
  async root(size: number): Promise<Buffer> {
    return size === 0 ? EMPTY_TREE_HASH : treeHash(size, tileHashReader(this.tlog))
  }
  async checkpoint(size: number): Promise<string> {
    await this.grow(size)
    const text = formatCheckpoint({ origin: this.origin, size, rootHash: await this.root(size), extensions: [] })
    return signNote(text, this.origin, this.rawKey, (m) => this.signer.sign(m))
  }
  async proof(from: number, to: number): Promise<Buffer[]> {
    await this.grow(to)
    return from === 0 || from === to ? [] : proveConsistency(from, to, tileHashReader(this.tlog))
  }
}

const origin = `custodian.test/audit/${randomUUID()}`
const log = new TestLog(origin)
const dir = path.join(root, 'w1')
let witnessKey: string
let witness: WitnessProcess
let fetch: OutboundFetch

function submit(
  note: string,
  oldSize: number,
  proof: readonly Buffer[],
  key = witnessKey,
): Promise<AddCheckpointResult> {
  return addCheckpoint({ url: witness.url, witnessVerifierKey: key, note, oldSize, proof, fetch })
}

/** Grows the log to `size` and submits its checkpoint from `from` with a valid proof. */
async function extend(from: number, size: number): Promise<AddCheckpointResult> {
  return submit(await log.checkpoint(size), from, await log.proof(from, size))
}

/** The size the witness holds for the log, asked as the spec suggests: old size 0, expect 409. */
async function witnessSize(of: TestLog = log): Promise<number> {
  const result = await submit(await of.checkpoint(Math.max(of.tlog.size, 1)), 0, [])
  assert.equal(result.kind, 'conflict', JSON.stringify(result))
  return (result as { witnessSize: number }).witnessSize
}

function post(body: string): Promise<Response> {
  return fetch(`${witness.url}/add-checkpoint`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
}

function assertCosigned(result: AddCheckpointResult, size: number): string {
  assert.equal(result.kind, 'cosigned', JSON.stringify(result))
  const { note, cosignatures } = result
  assert.equal(cosignatures.length, 1)
  const opened = openCheckpoint(note, verifierFromKey(log.vkey), [verifierFromKey(witnessKey)])
  assert.equal(opened.checkpoint.size, size)
  assert.equal(opened.cosignatures.length, 1)
  assert.ok(Math.abs((opened.cosignatures[0]?.timestamp ?? 0) - Date.now() / 1000) < 120, 'timestamp is now')
  return note
}

let goBinary: string
function goOpens(note: string, vkey: string, cosigners: string[]): { verified: string[]; error?: string } {
  const result = spawnSync(goBinary, [], {
    input: JSON.stringify({ vkey, cosigners, notes: [note] }),
    encoding: 'utf8',
  })
  if (result.status !== 0) throw new Error(`Go checker failed: ${result.stderr}`)
  return (JSON.parse(result.stdout) as { notes: { verified: string[]; error?: string }[] }).notes[0] as never
}

before(async () => {
  goBinary = path.join(root, 'tlog-interop')
  const built = spawnSync(
    'go',
    ['build', '-o', goBinary, path.join(import.meta.dirname, '..', 'interop', 'go', 'main.go')],
    {
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: '/usr/share/gocode',
        GOCACHE: path.join(root, 'gocache'),
        GOFLAGS: '',
      },
      encoding: 'utf8',
    },
  )
  if (built.status !== 0) throw new Error(`building the Go reference checker failed: ${built.stderr}`)

  const init = await cli(['witness', 'init', '--name', 'witness.test/w1', '--dir', dir, '--json'])
  assert.equal(init.code, 0, init.output)
  witnessKey = (JSON.parse(init.output) as { verifierKey: string }).verifierKey
  witness = await spawnWitness(['--dir', dir, '--log', log.vkey, '--port', '0'])
  fetch = createOutboundFetch({ caFile: path.join(dir, 'tls', 'selfsigned-cert.pem'), allow: ['127.0.0.0/8'] })
})

after(async () => {
  await witness.stop()
})

describe('custodian witness init', () => {
  it('keeps the private key in a 0600 file, prints the cosigner verifier key, and never replaces the key', async () => {
    assert.equal(statSync(path.join(dir, 'witness.key')).mode & 0o777, 0o600)
    assert.match(witnessKey, /^witness\.test\/w1\+[0-9a-f]{8}\+[A-Za-z0-9+/]+=*$/)
    assert.equal(verifierFromKey(witnessKey).type, 0x04)
    const again = await cli(['witness', 'init', '--name', 'witness.test/w1', '--dir', dir])
    assert.equal(again.code, 1)
    assert.match(again.output, /already holds a witness key/)
    const shown = await cli(['witness', 'key', '--dir', dir])
    assert.equal(shown.output.trim(), witnessKey)
    assert.doesNotMatch(witness.output(), /PRIVATE KEY/)
  })

  it('refuses a second witness on the same state directory', async () => {
    const second = await cli(['witness', 'serve', '--dir', dir, '--log', log.vkey, '--port', '0'])
    assert.equal(second.code, 1)
    assert.match(second.output, /another witness \(pid \d+\) serves/)
  })
})

describe('custodian witness serve, driven by the tlog-witness client', () => {
  let size = 0

  it('cosigns a first checkpoint from size 0, and Go opens the cosignature with the witness key', async () => {
    const note = assertCosigned(await extend(0, 5), 5)
    size = 5
    const go = goOpens(note, log.vkey, [witnessKey])
    assert.equal(go.error, undefined)
    assert.deepEqual(
      go.verified,
      [log.vkey, witnessKey].map((k) => k.split('+').slice(0, 2).join('+')),
    )
  })

  it('cosigns growth proved consistent, across tile boundaries', async () => {
    for (const next of [6, 8, 255, 256, 257, 700]) {
      assertCosigned(await extend(size, next), next)
      size = next
    }
    // The same checkpoint again: same size, same root, empty proof.
    assertCosigned(await extend(size, size), size)
  })

  it('answers 409 with its size to a stale old size; the resend from that size is cosigned', async () => {
    const note = await log.checkpoint(750)
    const stale = await submit(note, 256, await log.proof(256, 750))
    assert.deepEqual(stale, { kind: 'conflict', witnessSize: 700 })
    const response = await post(formatAddCheckpointRequest({ oldSize: 256, proof: await log.proof(256, 750), note }))
    assert.equal(response.status, 409)
    assert.equal(response.headers.get('content-type'), 'text/x.tlog.size')
    assert.equal(await response.text(), '700\n')
    assertCosigned(await submit(note, 700, await log.proof(700, 750)), 750)
    size = 750
  })

  it('answers 422 to a wrong consistency proof, and keeps its state', async () => {
    const note = await log.checkpoint(800)
    const proof = await log.proof(size, 800)
    const flipped = proof.map((h, i) => (i === 0 ? Buffer.from(h.map((b, j) => (j === 0 ? b ^ 1 : b))) : h))
    assert.equal((await submit(note, size, flipped)).kind, 'inconsistent')
    assert.equal((await submit(note, size, proof.slice(1))).kind, 'inconsistent')
    assert.equal((await submit(note, size, [...proof, proof[0] as Buffer])).kind, 'inconsistent')
    assert.equal(await witnessSize(), size)
  })

  it('refuses a fork (same size, other root; a larger tree not extending its own) and a smaller size', async () => {
    const fork = new TestLog(origin, log.signer, 'b')
    const forked = await submit(await fork.checkpoint(size), size, [])
    assert.equal(forked.kind, 'inconsistent')
    assert.match((forked as { message: string }).message, /another root/)
    assert.equal((await submit(await fork.checkpoint(900), size, await fork.proof(size, 900))).kind, 'inconsistent')
    // Smaller: from its own size the checkpoint is below the old size (400); from the smaller size, 409.
    const smaller = await log.checkpoint(100)
    assert.deepEqual(await submit(smaller, 100, []), { kind: 'conflict', witnessSize: size })
    const below = await post(formatAddCheckpointRequest({ oldSize: size, proof: [], note: smaller }))
    assert.equal(below.status, 400)
    assert.equal(await witnessSize(), size)
  })

  it('refuses a checkpoint signed by an unknown key (403) and an origin it does not witness (404)', async () => {
    const impostor = new TestLog(origin, ed25519FromSeed(Buffer.alloc(32, 8)))
    await impostor.grow(log.tlog.size)
    const refused = await submit(await impostor.checkpoint(size + 10), size, await impostor.proof(size, size + 10))
    assert.equal(refused.kind, 'refused')
    assert.equal((refused as { status: number }).status, 403)
    // A known key's signature that fails to verify: 403 too.
    const good = await log.checkpoint(size)
    const broken = good.replace(/(— \S+ )(\S+)/, (_a, p: string, s: string) => {
      const bytes = Buffer.from(s, 'base64')
      bytes[10] = (bytes[10] as number) ^ 1
      return `${p}${bytes.toString('base64')}`
    })
    assert.equal(((await submit(broken, size, [])) as { status: number }).status, 403)
    const stranger = new TestLog(`custodian.test/audit/${randomUUID()}`)
    const unknown = await submit(await stranger.checkpoint(3), 0, [])
    assert.deepEqual(
      { kind: unknown.kind, status: (unknown as { status: number }).status },
      { kind: 'refused', status: 404 },
    )
  })

  it('serialises concurrent requests for one log: exactly one of them is cosigned', async () => {
    const a = await log.checkpoint(size + 10)
    const proofA = await log.proof(size, size + 10)
    const b = await log.checkpoint(size + 20)
    const proofB = await log.proof(size, size + 20)
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? submit(a, size, proofA) : submit(b, size, proofB))),
    )
    const cosigned = results.filter((r) => r.kind === 'cosigned')
    assert.equal(cosigned.length, 1, JSON.stringify(results.map((r) => r.kind)))
    const won = openCheckpoint((cosigned[0] as { note: string }).note, verifierFromKey(log.vkey)).checkpoint.size
    for (const r of results) if (r.kind !== 'cosigned') assert.deepEqual(r, { kind: 'conflict', witnessSize: won })
    size = won
    assert.equal(await witnessSize(), size)
  })

  it('serves its latest cosigned checkpoint at /<origin hash>/checkpoint', async () => {
    const hash = createHash('sha256').update(origin).digest('hex')
    const response = await fetch(`${witness.url}/${hash}/checkpoint`, { method: 'GET', headers: {} })
    assert.equal(response.status, 200)
    const opened = openCheckpoint(await response.text(), verifierFromKey(log.vkey), [verifierFromKey(witnessKey)])
    assert.equal(opened.checkpoint.size, size)
    assert.equal(opened.cosignatures.length, 1)
    const none = await fetch(`${witness.url}/${'0'.repeat(64)}/checkpoint`, { method: 'GET', headers: {} })
    assert.equal(none.status, 404)
  })

  it('answers 400 to malformed bodies and 413 to oversized ones', async () => {
    const note = await log.checkpoint(size)
    const hash = Buffer.alloc(32, 1).toString('base64')
    const bad = [
      '',
      'old 0',
      `old 0\n${note}`,
      `old 05\n\n${note}`,
      `old -1\n\n${note}`,
      `Old 0\n\n${note}`,
      `old 0 \n\n${note}`,
      `old ${size}\n${hash.slice(1)}\n\n${note}`,
      `old ${size}\n${hash}x\n\n${note}`,
      `old ${size}\n${`${hash}\n`.repeat(64)}\n${note}`,
      `old ${size}\n\n`,
      `old ${size}\n\nnot a note\n`,
      `old ${size}\n\n${note.replace('\n\n', '\n\u0007\n\n')}`,
      `old ${size + 1}\n\n${note}`,
    ]
    for (const body of bad) assert.equal((await post(body)).status, 400, JSON.stringify(body))
    // A signed note whose text is not a checkpoint: signature accepted, then 400.
    const notCheckpoint = signNote(`${origin}\nten\nroot\n`, origin, log.rawKey, (m) => log.signer.sign(m))
    assert.equal((await post(`old 0\n\n${notCheckpoint}`)).status, 400)
    const huge = await post(`old 0\n${'A'.repeat(70_000)}`)
    assert.equal(huge.status, 413)
    assert.equal(await witnessSize(), size)
  })

  it('keeps what it cosigned across kill -9 mid-run: never regresses, the same refusals hold', async () => {
    let acked = size
    let inFlight = size
    let stop = false
    let finished = false
    const run = (async () => {
      while (!stop) {
        const next = acked + 3
        inFlight = next
        const result = await extend(acked, next)
        if (result.kind !== 'cosigned') return result
        acked = next
      }
      return undefined
    })().finally(() => (finished = true))
    while (acked < size + 3 * 20 && !finished) await new Promise((resolve) => setTimeout(resolve, 5))
    await witness.kill()
    stop = true
    const last = await run
    assert.ok(last === undefined || last.kind === 'transport-error', JSON.stringify(last))

    witness = await spawnWitness(['--dir', dir, '--log', log.vkey, '--port', '0'])
    const held = await witnessSize()
    assert.ok(
      held === acked || held === inFlight,
      `witness holds ${held}; acknowledged ${acked}, in flight ${inFlight}`,
    )
    size = held
    // A checkpoint of the acknowledged size, another root: refused. Smaller: refused. Stale: 409.
    const fork = new TestLog(origin, log.signer, 'c')
    assert.equal((await submit(await fork.checkpoint(size), size, [])).kind, 'inconsistent')
    assert.deepEqual(await submit(await log.checkpoint(acked - 3), acked - 3, []), {
      kind: 'conflict',
      witnessSize: size,
    })
    assert.equal((await submit(await log.checkpoint(size + 5), size, [Buffer.alloc(32)])).kind, 'inconsistent')
    assertCosigned(await extend(size, size + 5), size + 5)
    size += 5
  })
})

describe('the tlog-witness client against other answers', () => {
  it('refuses a 200 without a valid cosignature by the configured key, and a 409 without a size', async () => {
    const note = await log.checkpoint(log.tlog.size)
    // The real witness, but another witness key configured: its cosignature is by an unknown key.
    const otherVkey = cosignerVerifierKey(
      'witness.test/w2',
      Buffer.from(ed25519FromSeed(Buffer.alloc(32, 5)).publicKey, 'base64url'),
    )
    const mismatch = await submit(note, log.tlog.size, [], otherVkey)
    assert.equal(mismatch.kind, 'invalid-response', JSON.stringify(mismatch))

    const receiver = await startHttpsReceiver(path.join(root, 'receiver-ca.pem'), (_r, i) => (i === 0 ? 200 : 409))
    try {
      const viaReceiver = (key: string) =>
        addCheckpoint({
          url: receiver.url.replace('localhost', '127.0.0.1'),
          witnessVerifierKey: key,
          note,
          oldSize: 0,
          proof: [],
          fetch: createOutboundFetch({ caFile: receiver.caFile, allow: ['127.0.0.0/8'] }),
        })
      assert.deepEqual((await viaReceiver(witnessKey)).kind, 'invalid-response')
      assert.deepEqual((await viaReceiver(witnessKey)).kind, 'invalid-response')
      assert.equal(receiver.received[0]?.path, '/add-checkpoint')
      assert.equal(receiver.received[0]?.body, `old 0\n\n${note}`)
    } finally {
      await receiver.close()
    }
  })

  it('reports transport errors: the destination guard, a closed port; refuses plain HTTP URLs', async () => {
    const note = await log.checkpoint(log.tlog.size)
    const guarded = await addCheckpoint({
      url: witness.url,
      witnessVerifierKey: witnessKey,
      note,
      oldSize: 0,
      proof: [],
      fetch: createOutboundFetch({ caFile: path.join(dir, 'tls', 'selfsigned-cert.pem') }),
    })
    assert.equal(guarded.kind, 'transport-error')
    assert.match((guarded as { message: string }).message, /loopback/)
    const closed = await addCheckpoint({
      url: 'https://127.0.0.1:1',
      witnessVerifierKey: witnessKey,
      note,
      oldSize: 0,
      proof: [],
      fetch,
    })
    assert.equal(closed.kind, 'transport-error')
    await assert.rejects(
      addCheckpoint({ url: 'http://127.0.0.1:1', witnessVerifierKey: witnessKey, note, oldSize: 0, proof: [], fetch }),
      TypeError,
    )
    await assert.rejects(
      addCheckpoint({ url: witness.url, witnessVerifierKey: log.vkey, note, oldSize: 0, proof: [], fetch }),
      /not a tlog-cosignature\/v1 key/,
    )
  })
})

describe('custodian witness serve --http', () => {
  it('serves plain HTTP behind a TLS proxy, with the same checks', async () => {
    const httpDir = path.join(root, 'w-http')
    const init = await cli(['witness', 'init', '--name', 'witness.test/plain', '--dir', httpDir])
    assert.equal(init.code, 0, init.output)
    const logsFile = path.join(root, 'logs.txt')
    writeFileSync(logsFile, `# logs\n\n${log.vkey}\n`)
    const plain = await spawnWitness(['--dir', httpDir, '--logs-file', logsFile, '--http', '--port', '0'])
    try {
      assert.match(plain.url, /^http:\/\//)
      const note = await log.checkpoint(4)
      const body = formatAddCheckpointRequest({ oldSize: 0, proof: [], note })
      const first = await globalThis.fetch(`${plain.url}/add-checkpoint`, { method: 'POST', body })
      assert.equal(first.status, 200)
      const vkey = readFileSync(path.join(httpDir, 'witness.json'), 'utf8')
      const cosigned = `${note}${await first.text()}`
      const opened = openCheckpoint(cosigned, verifierFromKey(log.vkey), [
        verifierFromKey((JSON.parse(vkey) as { verifierKey: string }).verifierKey),
      ])
      assert.equal(opened.cosignatures.length, 1)
      const again = await globalThis.fetch(`${plain.url}/add-checkpoint`, { method: 'POST', body })
      assert.equal(again.status, 409)
      assert.equal(await again.text(), '4\n')
    } finally {
      await plain.stop()
    }
  })
})
