import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { combine, split } from 'shamir-secret-sharing'
import { SealedError, type RootKeyProvider } from './provider.ts'
import { sameKeyId, wrapKeyFrom, type WrapKey } from './wrap-key.ts'

/**
 * The `shamir` provider: the root key is never stored. At init it is split into M shares
 * of which any N rebuild it (Shamir's scheme, from `shamir-secret-sharing`, an
 * independently audited implementation). The service starts sealed; secret operations
 * answer 503 until N shares have been submitted, and an operator can seal it again,
 * which drops every key from memory. Each process is sealed and unsealed on its own.
 *
 * What is stored (`root-key.shamir.json`): the threshold, the number of shares and the
 * key's check value — never the key or a share.
 */
export interface ShamirMeta {
  version: 1
  threshold: number
  shares: number
  keyId: string
}

export interface UnsealProgress {
  sealed: boolean
  progress: number
  threshold: number
}

export interface ShamirProvider extends RootKeyProvider {
  kind: 'shamir'
  /** Adds one share; at the threshold, rebuilds and checks the key. */
  submitShare(share: string): Promise<UnsealProgress>
  seal(): void
  progress(): UnsealProgress
}

export class InvalidSharesError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InvalidSharesError'
  }
}

const SHARE_PREFIX = 'cst_share_'

/** Creates a root key, writes its metadata, and returns the shares (shown once, never stored). */
export async function initShamir(
  metaFile: string,
  shares: number,
  threshold: number,
): Promise<{ meta: ShamirMeta; shares: string[] }> {
  if (
    !Number.isInteger(threshold) ||
    !Number.isInteger(shares) ||
    threshold < 2 ||
    shares < threshold ||
    shares > 255
  ) {
    throw new InvalidSharesError('need 2 <= threshold <= shares <= 255')
  }
  if (existsSync(metaFile))
    throw new InvalidSharesError(`${metaFile} exists: this installation already has a Shamir root key`)
  const rootKey = randomBytes(32)
  // The library accepts plain Uint8Arrays only (not Buffer subclasses).
  const parts = await split(new Uint8Array(rootKey), shares, threshold)
  const wrapKey = wrapKeyFrom(rootKey, 'shamir')
  const meta: ShamirMeta = { version: 1, threshold, shares, keyId: wrapKey.keyId }
  wrapKey.destroy()
  rootKey.fill(0)
  writeFileSync(metaFile, `${JSON.stringify(meta, null, 2)}\n`, { mode: 0o600, flag: 'wx' })
  return { meta, shares: parts.map((p) => `${SHARE_PREFIX}${Buffer.from(p).toString('base64url')}`) }
}

export function readShamirMeta(metaFile: string): ShamirMeta {
  const meta = JSON.parse(readFileSync(metaFile, 'utf8')) as ShamirMeta
  // The file is untrusted until these checks pass, whatever its declared type says.
  if (
    (meta.version as unknown) !== 1 ||
    !Number.isInteger(meta.threshold) ||
    typeof (meta.keyId as unknown) !== 'string'
  ) {
    throw new Error(`${metaFile} is not a Custodian Shamir metadata file`)
  }
  return meta
}

export function createShamirProvider(meta: ShamirMeta): ShamirProvider {
  let wrapKey: WrapKey | undefined
  let pending: Uint8Array[] = []

  const progress = (): UnsealProgress => ({
    sealed: wrapKey === undefined,
    progress: pending.length,
    threshold: meta.threshold,
  })
  const unsealed = (): WrapKey => {
    if (wrapKey === undefined) throw new SealedError()
    return wrapKey
  }

  return {
    kind: 'shamir',
    keyId: () => meta.keyId,
    keyName: () => meta.keyId,
    sealed: () => wrapKey === undefined,
    progress,
    async wrap(key, aad) {
      return unsealed().wrap(key, aad)
    },
    async unwrap(wrapped, aad, keyId) {
      return unsealed().unwrap(wrapped, aad, keyId)
    },
    async submitShare(share) {
      if (wrapKey !== undefined) return progress()
      if (!share.startsWith(SHARE_PREFIX))
        throw new InvalidSharesError('not an unseal share (they start with cst_share_)')
      const bytes = Buffer.from(share.slice(SHARE_PREFIX.length), 'base64url')
      if (bytes.length !== 33) throw new InvalidSharesError('malformed unseal share')
      if (pending.some((p) => Buffer.compare(Buffer.from(p), bytes) === 0)) return progress()
      pending.push(new Uint8Array(bytes))
      if (pending.length < meta.threshold) return progress()
      const shares = pending
      pending = []
      let rootKey: Uint8Array
      try {
        rootKey = await combine(shares)
      } catch {
        throw new InvalidSharesError('the shares do not combine; start again')
      }
      const candidate = wrapKeyFrom(rootKey, 'shamir')
      rootKey.fill(0)
      if (!sameKeyId(candidate.keyId, meta.keyId)) {
        candidate.destroy()
        throw new InvalidSharesError('the shares rebuilt a different key: at least one share is wrong; start again')
      }
      wrapKey = candidate
      return progress()
    },
    seal() {
      wrapKey?.destroy()
      wrapKey = undefined
      pending = []
    },
  }
}
