import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs'
import { open } from 'node:fs/promises'
import path from 'node:path'
import { rawEd25519PublicKey } from '../crypto/keys.ts'
import { cosignerVerifierKey } from '../modules/audit/tlog-checkpoint.ts'

/**
 * The witness's own identity: a name (a C2SP key name, e.g. `witness.example.com/w1`) and an
 * Ed25519 key that makes C2SP tlog-cosignature/v1 cosignatures (type 0x04). Kept in its
 * directory:
 *
 *   witness.key    the private key, PKCS#8 PEM, mode 0600 — the one file that must stay secret
 *   witness.json   {"name", "verifierKey"}: public, what logs and verifiers configure
 *
 * `init` never replaces an existing key: a new key is a new witness, and every cosignature
 * of the old one would stop verifying under the key people configured.
 */
export interface WitnessKey {
  name: string
  rawPublicKey: Buffer
  /** `<name>+<hex key ID>+base64(0x04 || public key)` (C2SP tlog-cosignature). */
  verifierKey: string
  sign(message: Buffer): Buffer
}

const KEY_FILE = 'witness.key'
const IDENTITY_FILE = 'witness.json'

/** Whether a name is a C2SP key name: non-empty, no white space, no plus sign. */
export function validWitnessName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name)
}

/**
 * Creates the directory (mode 0700) and a new witness key in it; returns the verifier key.
 * Throws when the name is not a key name or the directory already holds a key.
 */
export async function initWitness(dir: string, name: string): Promise<WitnessKey> {
  if (!validWitnessName(name)) throw new Error(`witness name "${name}" is empty or has a space or plus sign`)
  mkdirSync(dir, { recursive: true, mode: 0o700 })
  if (existsSync(path.join(dir, KEY_FILE)))
    throw new Error(`${path.join(dir, KEY_FILE)} exists: this directory already holds a witness key (never replaced)`)
  const { privateKey } = generateKeyPairSync('ed25519')
  const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString()
  const key = witnessKeyOf(name, privateKey)
  await writeDurably(path.join(dir, KEY_FILE), pem, 0o600)
  await writeDurably(
    path.join(dir, IDENTITY_FILE),
    `${JSON.stringify({ name, verifierKey: key.verifierKey }, null, 2)}\n`,
    0o644,
  )
  return key
}

/** Loads the witness key of a directory made by `initWitness`. Throws, saying why, when it is missing, shared or mismatched. */
export function loadWitnessKey(dir: string): WitnessKey {
  const keyFile = path.join(dir, KEY_FILE)
  if (!existsSync(keyFile))
    throw new Error(`no witness key in ${dir}: run \`custodian witness init --name <name> --dir ${dir}\``)
  if ((statSync(keyFile).mode & 0o077) !== 0)
    throw new Error(`${keyFile} is readable by group or others; chmod 600 it (and consider the key exposed)`)
  const identity = JSON.parse(readFileSync(path.join(dir, IDENTITY_FILE), 'utf8')) as {
    name?: unknown
    verifierKey?: unknown
  }
  if (typeof identity.name !== 'string' || !validWitnessName(identity.name))
    throw new Error(`${path.join(dir, IDENTITY_FILE)} has no valid witness name`)
  const privateKey = createPrivateKey(readFileSync(keyFile, 'utf8'))
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error(`${keyFile} is not an Ed25519 key`)
  const key = witnessKeyOf(identity.name, privateKey)
  if (identity.verifierKey !== key.verifierKey)
    throw new Error(`${path.join(dir, IDENTITY_FILE)} names another key than ${keyFile}`)
  return key
}

function witnessKeyOf(name: string, privateKey: KeyObject): WitnessKey {
  const rawPublicKey = rawEd25519PublicKey(createPublicKey(privateKey))
  return {
    name,
    rawPublicKey,
    verifierKey: cosignerVerifierKey(name, rawPublicKey),
    sign: (message) => sign(null, message, privateKey),
  }
}

async function writeDurably(file: string, content: string, mode: number): Promise<void> {
  const handle = await open(file, 'wx', mode)
  try {
    await handle.writeFile(content, 'utf8')
    await handle.sync()
  } finally {
    await handle.close()
  }
  const directory = await open(path.dirname(file), 'r')
  try {
    await directory.sync()
  } finally {
    await directory.close()
  }
}
