import {
  constants,
  createCipheriv,
  createDecipheriv,
  createHash,
  privateEncrypt,
  randomBytes,
  type KeyObject,
} from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { generate } from 'selfsigned'

/**
 * Contract tests for the KMS providers: a local HTTP(S) server on 127.0.0.1 that checks
 * every request an official SDK sends against the recorded request shape in
 * test/fixtures/kms/<service>.json (method, path, the headers that matter, every body
 * field) and answers the recorded response shape. The cryptography behind the answers is
 * real — AES-256-GCM keys per key version, the AAD bound — so tampering, a wrong AAD and
 * a rotated key behave as the service documents, not as a test wishes.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }

export interface RecordedRequest {
  method: string
  /** A template: `{{name}}` captures one path segment or query value. */
  path: string
  /** Lower-case header names; values are templates (`{{*}}`: present, any value). */
  headers?: Record<string, string>
  /** JSON body template: every key must be present and no other. */
  body?: Json
}

export interface RecordedResponse {
  status: number
  headers?: Record<string, string>
  body?: Json
}

export interface Fixture {
  source: string
  exchanges: Record<string, { request: RecordedRequest; response: RecordedResponse }>
  errors: Record<string, RecordedResponse>
}

export function loadFixture(name: string): Fixture {
  return JSON.parse(
    readFileSync(path.join(import.meta.dirname, '..', 'fixtures', 'kms', `${name}.json`), 'utf8'),
  ) as Fixture
}

export interface Seen {
  method: string
  path: string
  headers: IncomingMessage['headers']
  body: string
}

/** Matches `actual` against a template, filling `captured`; returns the first difference or undefined. */
export function mismatch(
  expected: Json | undefined,
  actual: unknown,
  captured: Record<string, string>,
  at = '$',
): string | undefined {
  if (typeof expected === 'string') {
    const whole = /^\{\{(\*|[\w.-]+)\}\}$/.exec(expected)
    if (whole !== null) {
      if (actual === undefined || actual === null) return `${at}: missing`
      if (whole[1] !== '*') {
        const value = typeof actual === 'string' ? actual : JSON.stringify(actual)
        const before = captured[whole[1] as string]
        if (before !== undefined && before !== value) return `${at}: ${value} is not the ${whole[1]} ${before}`
        captured[whole[1] as string] = value
      }
      return undefined
    }
    if (expected.includes('{{')) {
      const names: string[] = []
      const pattern = expected
        .split(/(\{\{[\w.*-]+\}\})/)
        .map((part) => {
          const name = /^\{\{([\w.*-]+)\}\}$/.exec(part)?.[1]
          if (name === undefined) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
          names.push(name)
          return name === '*' ? '.*' : '(.*?)'
        })
        .join('')
      const match = typeof actual === 'string' ? new RegExp(`^${pattern}$`).exec(actual) : null
      if (match === null) return `${at}: ${JSON.stringify(actual)} does not match ${expected}`
      for (const [i, name] of names.filter((n) => n !== '*').entries())
        captured[name] = decodeURIComponent(match[i + 1] as string)
      return undefined
    }
    return actual === expected ? undefined : `${at}: ${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`
  }
  if (expected === undefined) return undefined
  if (expected === null || typeof expected !== 'object')
    return actual === expected ? undefined : `${at}: ${JSON.stringify(actual)} is not ${JSON.stringify(expected)}`
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual) || actual.length !== expected.length) return `${at}: not an array of ${expected.length}`
    for (const [i, item] of expected.entries()) {
      const diff = mismatch(item, actual[i], captured, `${at}[${i}]`)
      if (diff !== undefined) return diff
    }
    return undefined
  }
  if (actual === null || typeof actual !== 'object') return `${at}: not an object`
  const extra = Object.keys(actual).filter((k) => !(k in expected))
  if (extra.length > 0) return `${at}: unexpected field(s) ${extra.join(', ')}`
  for (const [key, value] of Object.entries(expected)) {
    const diff = mismatch(value, (actual as Record<string, unknown>)[key], captured, `${at}.${key}`)
    if (diff !== undefined) return diff
  }
  return undefined
}

/** Replaces every `{{name}}` in a response template with `values[name]`. */
export function fill(template: Json | undefined, values: Record<string, Json>): Json | undefined {
  if (typeof template === 'string') {
    const whole = /^\{\{([\w.-]+)\}\}$/.exec(template)
    if (whole !== null) return values[whole[1] as string] ?? null
    return template.replace(/\{\{([\w.-]+)\}\}/g, (_, name: string) =>
      JSON.stringify(values[name] ?? '').replace(/^"|"$/g, ''),
    )
  }
  if (Array.isArray(template)) return template.map((t) => fill(t, values) as Json)
  if (template !== null && typeof template === 'object')
    return Object.fromEntries(Object.entries(template).map(([k, v]) => [k, fill(v, values) as Json]))
  return template
}

/** What a KMS does with keys: AES-256-GCM per version, a primary version, rotation. */
export class SimulatedKey {
  readonly versions = new Map<string, Buffer>()
  primary: string
  constructor(first: string) {
    this.primary = first
    this.versions.set(first, randomBytes(32))
  }
  rotate(next: string): void {
    this.versions.set(next, randomBytes(32))
    this.primary = next
  }
  /** [version length][version][iv][ciphertext][tag] */
  encrypt(plain: Buffer, aad: Buffer): Buffer {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.versions.get(this.primary) as Buffer, iv)
    cipher.setAAD(aad)
    const body = Buffer.concat([cipher.update(plain), cipher.final()])
    const label = Buffer.from(this.primary)
    return Buffer.concat([Buffer.from([label.length]), label, iv, body, cipher.getAuthTag()])
  }
  /** The plaintext and the version that made it, or undefined when it does not authenticate. */
  decrypt(blob: Buffer, aad: Buffer): { plain: Buffer; version: string } | undefined {
    const length = blob[0] ?? 0
    const version = blob.subarray(1, 1 + length).toString()
    const key = this.versions.get(version)
    if (key === undefined || blob.length < 1 + length + 28) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, blob.subarray(1 + length, 13 + length))
      decipher.setAAD(aad)
      decipher.setAuthTag(blob.subarray(blob.length - 16))
      const plain = Buffer.concat([decipher.update(blob.subarray(13 + length, blob.length - 16)), decipher.final()])
      return { plain, version }
    } catch {
      return undefined
    }
  }
}

/**
 * What Key Vault's `sign` does with PS256 (RFC 7518 §3.5): RSASSA-PSS over a SHA-256
 * digest the caller computed, MGF1-SHA-256, a 32-byte salt — EMSA-PSS-ENCODE of RFC 8017
 * §9.1.1 (from its step 2, the digest being given) and the raw RSA private operation.
 */
export function signPs256Digest(privateKey: KeyObject, digest: Buffer): Buffer {
  const modulusBits = privateKey.asymmetricKeyDetails?.modulusLength
  if (modulusBits === undefined || digest.length !== 32) throw new Error('PS256 needs an RSA key and a SHA-256 digest')
  const sha256 = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest()
  const emBits = modulusBits - 1
  const emLength = Math.ceil(emBits / 8)
  const salt = randomBytes(32)
  const h = sha256(Buffer.alloc(8), digest, salt)
  const db = Buffer.concat([Buffer.alloc(emLength - 32 - 32 - 2), Buffer.from([1]), salt])
  const mask = Buffer.alloc(db.length)
  for (let counter = 0, at = 0; at < mask.length; counter++, at += 32) {
    const c = Buffer.alloc(4)
    c.writeUInt32BE(counter)
    sha256(h, c).copy(mask, at)
  }
  for (let i = 0; i < db.length; i++) db[i] = (db[i] as number) ^ (mask[i] as number)
  db[0] = (db[0] as number) & (0xff >> (8 * emLength - emBits))
  const em = Buffer.concat([db, h, Buffer.from([0xbc])])
  const k = Math.ceil(modulusBits / 8)
  return privateEncrypt(
    { key: privateKey, padding: constants.RSA_NO_PADDING },
    Buffer.concat([Buffer.alloc(k - em.length), em]),
  )
}

export type Handler = (
  seen: Seen,
  answer: (name: string, values: Record<string, Json>) => RecordedResponse,
) => RecordedResponse | Promise<RecordedResponse>

export interface ReplayServer {
  url: string
  port: number
  /** Every request, in order. */
  seen: Seen[]
  /** Requests that did not match their recording (a test asserts this is empty). */
  mismatches: string[]
  /** While set, every request is answered with this recorded error (the KMS is down). */
  outage: RecordedResponse | undefined
  /** Checks a request against the named recorded exchange; returns what it captured. */
  expect(name: string, seen: Seen): Record<string, string>
  close(): Promise<void>
}

/**
 * Starts the replay server. With `caFile`, it serves HTTPS with a fresh self-signed
 * certificate for 127.0.0.1 written there.
 */
export async function startReplay(
  fixture: Fixture,
  handler: Handler,
  options: { caFile?: string } = {},
): Promise<ReplayServer> {
  const seen: Seen[] = []
  const mismatches: string[] = []
  const replay: ReplayServer = {
    url: '',
    port: 0,
    seen,
    mismatches,
    outage: undefined,
    expect(name, request) {
      const recorded = fixture.exchanges[name]
      if (recorded === undefined) throw new Error(`no recorded exchange ${name}`)
      const captured: Record<string, string> = {}
      const problems: (string | undefined)[] = [
        request.method === recorded.request.method ? undefined : `method ${request.method}`,
        mismatch(recorded.request.path, request.path, captured, 'path'),
        ...Object.entries(recorded.request.headers ?? {}).map(([header, value]) =>
          mismatch(value, request.headers[header], captured, `header ${header}`),
        ),
      ]
      if (recorded.request.body !== undefined) {
        let parsed: unknown
        try {
          parsed = JSON.parse(request.body)
        } catch {
          parsed = undefined
        }
        problems.push(mismatch(recorded.request.body, parsed, captured, 'body'))
      }
      const found = problems.filter((p) => p !== undefined)
      if (found.length > 0) mismatches.push(`${name}: ${found.join('; ')}`)
      return captured
    },
    close: async () => {},
  }
  const answer = (name: string, values: Record<string, Json>): RecordedResponse => {
    const recorded = fixture.exchanges[name]?.response ?? fixture.errors[name]
    if (recorded === undefined) throw new Error(`no recorded response ${name}`)
    return {
      status: recorded.status,
      ...(recorded.headers === undefined ? {} : { headers: recorded.headers }),
      ...(recorded.body === undefined ? {} : { body: fill(recorded.body, values) }),
    }
  }
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const request: Seen = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      }
      seen.push(request)
      void (async () => {
        let response: RecordedResponse
        try {
          response = replay.outage ?? (await handler(request, answer))
        } catch (error) {
          mismatches.push(`handler: ${(error as Error).message}`)
          response = { status: 599, body: { error: (error as Error).message } }
        }
        const body = response.body === undefined ? '' : JSON.stringify(response.body)
        res.writeHead(response.status, { 'content-type': 'application/json', ...response.headers })
        res.end(body)
      })()
    })
  }
  let server
  if (options.caFile !== undefined) {
    const tls = await generate([{ name: 'commonName', value: `kms replay ${process.pid}` }], {
      keySize: 2048,
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 7, ip: '127.0.0.1' },
            { type: 2, value: 'localhost' },
          ],
        },
      ],
    } as never)
    writeFileSync(options.caFile, tls.cert)
    server = createHttpsServer({ cert: tls.cert, key: tls.private }, listener)
  } else {
    server = createHttpServer(listener)
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  replay.port = (server.address() as AddressInfo).port
  replay.url = `${options.caFile === undefined ? 'http' : 'https'}://127.0.0.1:${replay.port}`
  replay.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    })
  return replay
}
