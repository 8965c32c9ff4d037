import { readFileSync, statSync } from 'node:fs'
import { Agent, fetch } from 'undici'
import { DecryptionError } from '../aead.ts'
import { isUnavailableStatus, KmsUnavailableError, type KmsClient } from './kms.ts'

/**
 * The `transit` provider: a Vault-compatible Transit secrets engine (HashiCorp Vault,
 * OpenBao) holds the root key. Wrapping is `POST /v1/<mount>/encrypt/<key>` with the AAD
 * as `associated_data`, unwrapping `POST /v1/<mount>/decrypt/<key>` — Transit's HTTP API,
 * spoken directly because neither project ships a maintained Node client for it.
 *
 * The key must be an AEAD type (`aes256-gcm96`, the default, or `chacha20-poly1305`):
 * only those bind `associated_data` (an RSA key would silently ignore it). Every probe
 * reads the key (`GET /v1/<mount>/keys/<key>`) and keeps the provider sealed, saying why,
 * for any other type or a `derived` key (which would need a `context`).
 *
 * The token is read from a file (mode 0600) at every call, so an agent that renews it
 * (Vault Agent's auto-auth sink) is followed without a restart. There is no default
 * token and no environment fallback (`VAULT_TOKEN` is not read).
 */
export interface TransitOptions {
  /** `https://vault.example:8200` — no trailing path. */
  address: string
  /** The engine's mount path, e.g. `transit`. */
  mount: string
  /** The key's name in the engine. */
  keyName: string
  /** File holding the token (mode 0600). */
  tokenFile: string
  /** Vault Enterprise / OpenBao namespace, sent as X-Vault-Namespace. */
  namespace?: string | undefined
  /** PEM CA bundle trusted for the Transit endpoint instead of the system's. */
  caFile?: string | undefined
  /** Per-call timeout (ms). */
  timeoutMs?: number
}

/** Transit key types that bind `associated_data` (AEAD) with a 256-bit key. */
const AEAD_TYPES = new Set(['aes256-gcm96', 'chacha20-poly1305'])

export function createTransitClient(options: TransitOptions): KmsClient {
  const base = `${options.address.replace(/\/+$/, '')}/v1/${options.mount}`
  const name = encodeURIComponent(options.keyName)
  const dispatcher = new Agent(
    options.caFile === undefined ? {} : { connect: { ca: readFileSync(options.caFile, 'utf8') } },
  )
  const timeoutMs = options.timeoutMs ?? 10_000

  function token(): string {
    let mode: number
    try {
      mode = statSync(options.tokenFile).mode
    } catch {
      throw new KmsUnavailableError('transit', `the token file ${options.tokenFile} cannot be read`)
    }
    if ((mode & 0o077) !== 0)
      throw new KmsUnavailableError(
        'transit',
        `the token file ${options.tokenFile} is readable by group or others; run chmod 600 on it`,
      )
    const value = readFileSync(options.tokenFile, 'utf8').trim()
    if (value === '') throw new KmsUnavailableError('transit', `the token file ${options.tokenFile} is empty`)
    return value
  }

  async function call(
    operation: 'encrypt' | 'decrypt' | 'keys',
    body?: Record<string, string>,
  ): Promise<Record<string, unknown>> {
    const headers: Record<string, string> = {
      'x-vault-token': token(),
      'x-vault-request': 'true',
    }
    if (body !== undefined) headers['content-type'] = 'application/json'
    if (options.namespace !== undefined) headers['x-vault-namespace'] = options.namespace
    let response: Awaited<ReturnType<typeof fetch>>
    try {
      response = await fetch(`${base}/${operation}/${name}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        dispatcher,
        signal: AbortSignal.timeout(timeoutMs),
      })
    } catch (error) {
      throw new KmsUnavailableError('transit', `${operation} did not get an answer (${describe(error)})`)
    }
    const text = await response.text()
    let parsed: { data?: Record<string, unknown>; errors?: unknown } = {}
    try {
      parsed = JSON.parse(text) as typeof parsed
    } catch {
      // Not JSON (a proxy's page): only the status speaks.
    }
    if (response.ok && parsed.data !== undefined) return parsed.data
    // Vault's error body is {"errors": [...]}; its messages name the failure, never the payload.
    const errors = Array.isArray(parsed.errors) ? parsed.errors.filter((e) => typeof e === 'string').join('; ') : ''
    const reason = `${operation} answered ${response.status}${errors === '' ? '' : ` (${errors.slice(0, 200)})`}`
    if (isUnavailableStatus(response.status) || response.ok) throw new KmsUnavailableError('transit', reason)
    if (operation === 'decrypt') throw new DecryptionError(`the Transit engine refused to decrypt: ${reason}`)
    throw new KmsUnavailableError('transit', reason)
  }

  return {
    kind: 'transit',
    keyName: `${options.address.replace(/\/+$/, '')}/${options.mount}/${options.keyName}`,
    async refresh() {
      const data = await call('keys')
      const type = typeof data.type === 'string' ? data.type : 'unknown'
      if (!AEAD_TYPES.has(type))
        throw new KmsUnavailableError(
          'transit',
          `the Transit key ${options.keyName} is of type ${type.slice(0, 40)}, not aes256-gcm96 or chacha20-poly1305: it would not bind associated_data`,
        )
      if (data.derived !== false)
        throw new KmsUnavailableError(
          'transit',
          `the Transit key ${options.keyName} is derived; create it without derived=true`,
        )
    },
    async encrypt(plaintext, aad) {
      const data = await call('encrypt', {
        plaintext: plaintext.toString('base64'),
        associated_data: Buffer.from(aad, 'utf8').toString('base64'),
      })
      const ciphertext = data.ciphertext
      const match = typeof ciphertext === 'string' ? /^vault:(v\d+):/.exec(ciphertext) : null
      if (match === null) throw new KmsUnavailableError('transit', 'encrypt answered without a vault:vN: ciphertext')
      return { ciphertext: Buffer.from(ciphertext as string, 'utf8'), version: match[1] as string }
    },
    async decrypt(ciphertext, aad, version) {
      if (!/^v[1-9]\d{0,9}$/.test(version)) throw new DecryptionError('not a Transit key version')
      const text = ciphertext.toString('utf8')
      if (!text.startsWith(`vault:${version}:`))
        throw new DecryptionError(`the ciphertext is not from key version ${version}`)
      const data = await call('decrypt', {
        ciphertext: text,
        associated_data: Buffer.from(aad, 'utf8').toString('base64'),
      })
      if (typeof data.plaintext !== 'string') throw new KmsUnavailableError('transit', 'decrypt answered no plaintext')
      return Buffer.from(data.plaintext, 'base64')
    },
    close() {
      void dispatcher.close()
    },
  }
}

/** A network error's code (ECONNREFUSED, CERT_HAS_EXPIRED…), never its full text. */
export function describe(error: unknown): string {
  let current: unknown = error
  for (let depth = 0; depth < 4 && current instanceof Error; depth++) {
    const code = (current as NodeJS.ErrnoException).code
    if (typeof code === 'string') return code
    if (current.name === 'TimeoutError') return 'timed out'
    current = current.cause
  }
  return error instanceof Error ? error.name : 'error'
}
