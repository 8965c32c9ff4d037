import { randomBytes } from 'node:crypto'
import pkcs11js from 'pkcs11js'
import { DecryptionError } from '../aead.ts'
import type { RootKeyProvider } from './provider.ts'

/**
 * The `pkcs11` provider: the root key is an AES-256 key generated inside an HSM (any
 * PKCS#11 token; tested with SoftHSM2). It is created sensitive and non-extractable, so
 * it never leaves the HSM: wrapping and unwrapping an org key is an AES-GCM encryption
 * or decryption performed by the HSM, with the AAD bound in.
 *
 * Wrapped format: byte 0x01, the 12-byte IV, then ciphertext and 16-byte tag as the HSM
 * returns them. The key id names the token, the key label and the key's random CKA_ID,
 * so a key replaced under the same label is detected, not silently used.
 *
 * PKCS#11 calls here are synchronous; they happen only when an org key is first
 * unwrapped in a process (org keys are cached), so they do not sit on the request path.
 */
export interface Pkcs11Options {
  module: string
  tokenLabel: string
  pin: string
  keyLabel: string
}

export interface Pkcs11Provider extends RootKeyProvider {
  kind: 'pkcs11'
  close(): void
  /**
   * Root-key rotation: the current key is relabelled `<label>.retired-<time>` (kept, so
   * what it wrapped still opens) and a new key is generated under the configured label;
   * new wraps use it at once. Rewrapping the org keys is the caller's next step.
   */
  rotate(): void
  /**
   * An interrupted rotation (`rotate()` ran, the rewrap never committed): makes the key named
   * `keyName` — one of this token's, under the configured label when it was current — the
   * current key again, and relabels the unused newer one `<label>.abandoned-<time>` (kept).
   * Returns false, changing nothing, when `keyName` is not such a key on this token.
   */
  restore(keyName: string): boolean
}

const FORMAT = 1
const IV_BYTES = 12

export class HsmError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HsmError'
  }
}

/**
 * Opens a logged-in session on the token and finds the root key; creates it when
 * `create` is set and none exists under that label.
 */
export function createPkcs11Provider(options: Pkcs11Options, create: boolean): Pkcs11Provider {
  const { p11, release } = acquireModule(options.module)
  let session: Buffer | undefined
  try {
    const slot = findSlot(p11, options.tokenLabel)
    session = p11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION)
    try {
      p11.C_Login(session, pkcs11js.CKU_USER, options.pin)
    } catch (error) {
      if (!String((error as Error).message).includes('CKR_USER_ALREADY_LOGGED_IN')) {
        throw new HsmError(`cannot log in to token ${options.tokenLabel}: wrong PIN or locked token`, { cause: error })
      }
    }
    const found =
      findKey(p11, session, options.keyLabel) ?? (create ? generateKey(p11, session, options.keyLabel) : undefined)
    if (found === undefined)
      throw new HsmError(`no key labelled ${options.keyLabel} on token ${options.tokenLabel}; run \`custodian init\``)
    let key: Buffer = found
    const openSession = session
    const idOf = (handle: Buffer) =>
      Buffer.from(
        p11.C_GetAttributeValue(openSession, handle, [{ type: pkcs11js.CKA_ID }])[0]?.value as Buffer,
      ).toString('hex')
    const keyIdOf = (handle: Buffer) => `pkcs11:${options.tokenLabel}/${options.keyLabel}:${idOf(handle)}`
    let keyId = keyIdOf(key)
    // Keys by CKA_ID: a key wrapped by an earlier (rotated) root key still opens.
    const byId = new Map<string, Buffer>([[idOf(key), key]])
    const keyFor = (wrappedBy: string): Buffer => {
      const match = /^pkcs11:(.+)\/(.+):([0-9a-f]+)$/.exec(wrappedBy)
      if (match === null || match[1] !== options.tokenLabel)
        throw new DecryptionError(`key was wrapped by root key ${wrappedBy}, not one on token ${options.tokenLabel}`)
      const id = match[3] as string
      let handle = byId.get(id)
      if (handle === undefined) {
        p11.C_FindObjectsInit(openSession, [
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
          { type: pkcs11js.CKA_ID, value: Buffer.from(id, 'hex') },
        ])
        handle = p11.C_FindObjects(openSession, 1)[0]
        p11.C_FindObjectsFinal(openSession)
        if (handle === undefined)
          throw new DecryptionError(`root key ${wrappedBy} is not on token ${options.tokenLabel}`)
        byId.set(id, handle)
      }
      return handle
    }

    const gcm = (iv: Buffer, aad: string) => ({
      mechanism: pkcs11js.CKM_AES_GCM,
      parameter: {
        type: pkcs11js.CK_PARAMS_AES_GCM,
        iv,
        aad: Buffer.from(aad, 'utf8'),
        ivBits: IV_BYTES * 8,
        tagBits: 128,
      },
    })

    return {
      kind: 'pkcs11',
      keyId: () => keyId,
      keyName: () => keyId,
      sealed: () => false,
      async wrap(plain, aad) {
        const iv = randomBytes(IV_BYTES)
        p11.C_EncryptInit(openSession, gcm(iv, aad), key)
        const out = p11.C_Encrypt(openSession, plain, Buffer.alloc(plain.length + 16))
        return Buffer.concat([Buffer.from([FORMAT]), iv, out])
      },
      async unwrap(wrapped, aad, wrappedBy) {
        const handle = keyFor(wrappedBy)
        const data = Buffer.from(wrapped)
        if (data.length < 1 + IV_BYTES + 16 || data[0] !== FORMAT)
          throw new DecryptionError('unknown wrapped-key format')
        try {
          p11.C_DecryptInit(openSession, gcm(data.subarray(1, 1 + IV_BYTES), aad), handle)
          return Buffer.from(p11.C_Decrypt(openSession, data.subarray(1 + IV_BYTES), Buffer.alloc(data.length)))
        } catch {
          throw new DecryptionError()
        }
      },
      rotate() {
        p11.C_SetAttributeValue(openSession, key, [
          { type: pkcs11js.CKA_LABEL, value: `${options.keyLabel}.retired-${Date.now()}` },
        ])
        key = generateKey(p11, openSession, options.keyLabel)
        byId.set(idOf(key), key)
        keyId = keyIdOf(key)
      },
      restore(name) {
        const match = /^pkcs11:(.+)\/(.+):([0-9a-f]+)$/.exec(name)
        if (match === null || match[1] !== options.tokenLabel || match[2] !== options.keyLabel) return false
        let handle: Buffer
        try {
          handle = keyFor(name)
        } catch {
          return false
        }
        if (idOf(handle) === idOf(key)) return true
        p11.C_SetAttributeValue(openSession, key, [
          { type: pkcs11js.CKA_LABEL, value: `${options.keyLabel}.abandoned-${Date.now()}` },
        ])
        p11.C_SetAttributeValue(openSession, handle, [{ type: pkcs11js.CKA_LABEL, value: options.keyLabel }])
        key = handle
        keyId = keyIdOf(key)
        return true
      },
      close() {
        try {
          p11.C_CloseSession(openSession)
        } finally {
          release()
        }
      },
    }
  } catch (error) {
    try {
      if (session !== undefined) p11.C_CloseSession(session)
    } finally {
      release()
    }
    throw error
  }
}

/**
 * A PKCS#11 module is initialized once per process; providers sharing it (several apps
 * in one test process, or a CLI command beside the server's code) count their uses, and
 * the last to close finalizes it. Login state is per token and shared by its sessions.
 */
const modules = new Map<string, { p11: pkcs11js.PKCS11; users: number }>()

function acquireModule(path: string): { p11: pkcs11js.PKCS11; release: () => void } {
  let entry = modules.get(path)
  if (entry === undefined) {
    const p11 = new pkcs11js.PKCS11()
    try {
      p11.load(path)
    } catch (error) {
      throw new HsmError(`cannot load the PKCS#11 module ${path}`, { cause: error })
    }
    p11.C_Initialize()
    entry = { p11, users: 0 }
    modules.set(path, entry)
  }
  entry.users++
  const held = entry
  let released = false
  return {
    p11: held.p11,
    release() {
      if (released) return
      released = true
      held.users--
      if (held.users === 0) {
        modules.delete(path)
        held.p11.C_Finalize()
      }
    },
  }
}

function findSlot(p11: pkcs11js.PKCS11, label: string): Buffer {
  for (const slot of p11.C_GetSlotList(true)) {
    if (p11.C_GetTokenInfo(slot).label.trim() === label) return slot
  }
  throw new HsmError(`no PKCS#11 token labelled ${label}`)
}

function findKey(p11: pkcs11js.PKCS11, session: Buffer, label: string): Buffer | undefined {
  p11.C_FindObjectsInit(session, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_LABEL, value: label },
  ])
  const found = p11.C_FindObjects(session, 2)
  p11.C_FindObjectsFinal(session)
  if (found.length > 1) throw new HsmError(`several keys are labelled ${label}; label the root key uniquely`)
  return found[0]
}

function generateKey(p11: pkcs11js.PKCS11, session: Buffer, label: string): Buffer {
  return p11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_LABEL, value: label },
    { type: pkcs11js.CKA_ID, value: randomBytes(16) },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: false },
    { type: pkcs11js.CKA_ENCRYPT, value: true },
    { type: pkcs11js.CKA_DECRYPT, value: true },
    { type: pkcs11js.CKA_WRAP, value: false },
    { type: pkcs11js.CKA_UNWRAP, value: false },
  ])
}
