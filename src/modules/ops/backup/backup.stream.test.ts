import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { generateKeyPairSync } from 'node:crypto'
import { createLocalProvider } from '../../../crypto/providers/local.ts'
import { BackupKeyError, unwrapFileKey, wrapFileKey } from './backup.keys.ts'
import { CHUNK_BYTES, decryptStream, encryptStream, PayloadIntegrityError, TAG_BYTES } from './backup.stream.ts'

async function run(stream: NodeJS.ReadWriteStream, input: Buffer): Promise<Buffer> {
  const parts: Buffer[] = []
  for await (const chunk of Readable.from([input]).pipe(stream)) parts.push(chunk as Buffer)
  return Buffer.concat(parts)
}

const key = randomBytes(32)
const SEALED = CHUNK_BYTES + TAG_BYTES

describe('backup payload: chunked AEAD (STREAM over AES-256-GCM)', () => {
  it('P8.1: round-trips empty, one-chunk, exact-chunk and multi-chunk payloads', async () => {
    for (const size of [0, 1, CHUNK_BYTES - 1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 7]) {
      const plain = randomBytes(size)
      const sealed = await run(encryptStream(key), plain)
      assert.equal(sealed.length, size + Math.max(1, Math.ceil(size / CHUNK_BYTES)) * TAG_BYTES, `size ${size}`)
      assert.deepEqual(await run(decryptStream(key), sealed), plain)
    }
  })

  it('P8.1: refuses a reordered, truncated, extended or altered payload, and the wrong key', async () => {
    const sealed = await run(encryptStream(key), randomBytes(3 * CHUNK_BYTES + 100))
    const chunks = [0, 1, 2].map((i) => sealed.subarray(i * SEALED, (i + 1) * SEALED))
    const last = sealed.subarray(3 * SEALED)
    const cases: Record<string, Buffer> = {
      reordered: Buffer.concat([chunks[1] as Buffer, chunks[0] as Buffer, chunks[2] as Buffer, last]),
      'cut after a whole chunk': Buffer.concat(chunks),
      'cut mid-chunk': sealed.subarray(0, sealed.length - 5),
      'last chunk dropped and a middle one repeated': Buffer.concat([...chunks, chunks[2] as Buffer]),
      extended: Buffer.concat([sealed, Buffer.from('more')]),
      'one bit flipped': Buffer.from(sealed).fill((sealed[70_000] as number) ^ 1, 70_000, 70_001),
    }
    for (const [name, bytes] of Object.entries(cases))
      await assert.rejects(run(decryptStream(key), bytes), PayloadIntegrityError, name)
    await assert.rejects(run(decryptStream(randomBytes(32)), sealed), PayloadIntegrityError)
  })

  it('P8.1: the file key opens only under its root key, its backup id, or its recipient identity', async () => {
    const fileKey = randomBytes(32)
    const root = createLocalProvider(randomBytes(32))
    const wrapped = await wrapFileKey(fileKey, 'backup-a', { rootKey: root })
    assert.deepEqual(await unwrapFileKey(wrapped, 'backup-a', { rootKey: root }), fileKey)
    await assert.rejects(unwrapFileKey(wrapped, 'backup-b', { rootKey: root }), BackupKeyError)
    await assert.rejects(
      unwrapFileKey(wrapped, 'backup-a', { rootKey: createLocalProvider(randomBytes(32)) }),
      BackupKeyError,
    )

    const recipient = generateKeyPairSync('x25519')
    const sealedTo = await wrapFileKey(fileKey, 'backup-a', { recipient: recipient.publicKey })
    assert.doesNotMatch(JSON.stringify(sealedTo), new RegExp(fileKey.toString('base64url')))
    assert.deepEqual(await unwrapFileKey(sealedTo, 'backup-a', { identity: recipient.privateKey }), fileKey)
    await assert.rejects(
      unwrapFileKey(sealedTo, 'backup-a', { identity: generateKeyPairSync('x25519').privateKey }),
      /another recipient key/,
    )
    await assert.rejects(unwrapFileKey(sealedTo, 'backup-a', { rootKey: root }), /--identity/)
    await assert.rejects(unwrapFileKey(sealedTo, 'backup-b', { identity: recipient.privateKey }), BackupKeyError)
  })
})
