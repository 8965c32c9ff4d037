import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
} from 'node:crypto'
import { readFileSync } from 'node:fs'
import { contextAad, DecryptionError, open, seal } from '../../../crypto/aead.ts'
import type { RootKeyProvider } from '../../../crypto/providers/provider.ts'

/**
 * How a backup's file key (32 random bytes, one per backup) is kept in its manifest. Never
 * the key itself: only its wrapping, which names what can open it.
 *
 * - `root-key`: wrapped by the configured root-key provider with an AAD naming the backup
 *   ({@link backupKeyAad}); opening needs that root key (the same file, Shamir shares or HSM).
 * - `x25519`: sealed to a recipient's X25519 public key kept offline (RFC 7748 key agreement
 *   with an ephemeral key, HKDF-SHA256 (RFC 5869) to a wrapping key, AES-256-GCM) — the
 *   construction of age's X25519 recipients. Opening needs only the recipient's private key,
 *   so a backup opens on a machine without the original root key (its org keys still need
 *   the root key to reveal secrets; the recipient key lets the backup be checked, moved and
 *   restored first). Recipient keys are PEM files as `openssl genpkey -algorithm X25519`
 *   writes them (or `custodian backup keygen`).
 */
export type KeyWrap =
  | { type: 'root-key'; provider: RootKeyProvider['kind']; keyId: string; wrapped: string }
  | { type: 'x25519'; recipient: string; ephemeral: string; wrapped: string }

export const X25519_INFO = 'custodian-backup/v1 x25519'

/** The AAD binding a wrapped file key to its backup: it opens for no other backup. */
export function backupKeyAad(backupId: string): string {
  return contextAad({ purpose: 'backup-key', org: '-', object: backupId, version: 1 })
}

/** A recipient for `--recipient`: an X25519 public key (PEM, SPKI), or a private key whose public half is taken. */
export function readRecipient(file: string): KeyObject {
  const pem = readFileSync(file, 'utf8')
  const key = pem.includes('PRIVATE KEY') ? createPublicKey(createPrivateKey(pem)) : createPublicKey(pem)
  if (key.asymmetricKeyType !== 'x25519') throw new Error(`${file}: not an X25519 key (see docs/backup-format.md)`)
  return key
}

/** An identity for `--identity`: an X25519 private key (PEM, PKCS #8). */
export function readIdentity(file: string): KeyObject {
  const key = createPrivateKey(readFileSync(file, 'utf8'))
  if (key.asymmetricKeyType !== 'x25519') throw new Error(`${file}: not an X25519 private key`)
  return key
}

/** A new recipient key pair, PEM: the private key to keep offline, the public key to back up to. */
export function generateRecipientKeyPair(): { privateKeyPem: string; publicKeyPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  }
}

function rawX25519(key: KeyObject): Buffer {
  return Buffer.from(key.export({ format: 'jwk' }).x as string, 'base64url')
}

function x25519WrapKey(shared: Buffer, ephemeral: Buffer, recipient: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, Buffer.concat([ephemeral, recipient]), X25519_INFO, 32))
}

/** Wraps the file key for the manifest: to the recipient when one is given, else under the root key. */
export async function wrapFileKey(
  fileKey: Buffer,
  backupId: string,
  to: { rootKey: RootKeyProvider } | { recipient: KeyObject },
): Promise<KeyWrap> {
  if ('rootKey' in to) {
    const wrapped = await to.rootKey.wrap(fileKey, backupKeyAad(backupId))
    return {
      type: 'root-key',
      provider: to.rootKey.kind,
      keyId: to.rootKey.keyId(),
      wrapped: wrapped.toString('base64url'),
    }
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519')
  const ephemeral = rawX25519(publicKey)
  const recipient = rawX25519(to.recipient)
  const shared = diffieHellman({ privateKey, publicKey: to.recipient })
  const wrapKey = x25519WrapKey(shared, ephemeral, recipient)
  return {
    type: 'x25519',
    recipient: recipient.toString('base64url'),
    ephemeral: ephemeral.toString('base64url'),
    wrapped: seal(wrapKey, fileKey, backupKeyAad(backupId)).toString('base64url'),
  }
}

/** A file key that cannot be opened with what was given (wrong root key, wrong identity, none). */
export class BackupKeyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'BackupKeyError'
  }
}

/** Opens the file key of a backup; throws {@link BackupKeyError} naming what is missing or wrong. */
export async function unwrapFileKey(
  wrap: KeyWrap,
  backupId: string,
  have: { rootKey?: RootKeyProvider | undefined; identity?: KeyObject | undefined },
): Promise<Buffer> {
  if (wrap.type === 'root-key') {
    if (have.rootKey === undefined)
      throw new BackupKeyError(`the backup's key is wrapped by the root key ${wrap.keyId}, which is not available here`)
    if (have.rootKey.sealed()) throw new BackupKeyError('the root key is sealed: unseal it first')
    try {
      return await have.rootKey.unwrap(Buffer.from(wrap.wrapped, 'base64url'), backupKeyAad(backupId), wrap.keyId)
    } catch {
      throw new BackupKeyError(
        `the backup's key does not open under this root key (${have.rootKey.keyId()}); it was made under ${wrap.keyId}`,
      )
    }
  }
  if (have.identity === undefined)
    throw new BackupKeyError('the backup is encrypted to a recipient key: give its private key with --identity')
  const recipient = rawX25519(createPublicKey(have.identity))
  if (recipient.toString('base64url') !== wrap.recipient)
    throw new BackupKeyError('the backup is encrypted to another recipient key than this identity')
  const ephemeralRaw = Buffer.from(wrap.ephemeral, 'base64url')
  const ephemeral = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: wrap.ephemeral }, format: 'jwk' })
  const shared = diffieHellman({ privateKey: have.identity, publicKey: ephemeral })
  try {
    return open(
      x25519WrapKey(shared, ephemeralRaw, recipient),
      Buffer.from(wrap.wrapped, 'base64url'),
      backupKeyAad(backupId),
    )
  } catch (error) {
    if (error instanceof DecryptionError) throw new BackupKeyError('the backup’s key does not open with this identity')
    throw error
  }
}
