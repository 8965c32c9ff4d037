import { createHash } from 'node:crypto'
import { verifyEd25519 } from '../../crypto/keys.ts'

/**
 * Checkpoints as C2SP signed notes (https://c2sp.org/signed-note) whose text is a C2SP
 * tlog-checkpoint (https://c2sp.org/tlog-checkpoint), so standard tools
 * (golang.org/x/mod/sumdb/note, witnesses) read them:
 *
 *   <origin>\n<size>\n<base64 hash>\n\n— <key name> <base64(key hash || Ed25519 signature)>\n
 *
 * The origin and the key name are both `<host>/audit/<org id>`. The hash line is the
 * audit chain's `hash_size` (docs/audit-format.md), not yet a Merkle root.
 *
 * Written by hand: the format is a few lines and no maintained npm package implements it
 * (the reference is Go's sumdb/note, which a test checks these notes against).
 */

const ED25519_ALGORITHM = 0x01
const SIGNATURE_PREFIX = '\u2014 '

/** Key hash of an Ed25519 note key: the first 4 bytes of SHA-256(name || 0x0A || 0x01 || public key). */
export function noteKeyHash(name: string, rawPublicKey: Buffer): Buffer {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, ED25519_ALGORITHM]))
    .update(rawPublicKey)
    .digest()
    .subarray(0, 4)
}

/** The verifier key in the signed-note text form: `<name>+<hex key hash>+<base64(0x01 || public key)>`. */
export function noteVerifierKey(name: string, rawPublicKey: Buffer): string {
  return `${name}+${noteKeyHash(name, rawPublicKey).toString('hex')}+${Buffer.concat([Buffer.from([ED25519_ALGORITHM]), rawPublicKey]).toString('base64')}`
}

/** `<host>/audit/<org id>`: the origin line and the key name of an org's checkpoints. */
export function checkpointOrigin(host: string, orgId: string): string {
  return `${host}/audit/${orgId}`
}

/** The org id an origin names (its last path segment), or undefined if it is not an audit origin. */
export function orgOfOrigin(origin: string): string | undefined {
  const match = /\/audit\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/.exec(origin)
  return match?.[1]
}

export function checkpointText(origin: string, size: number, hash: Buffer): string {
  if (!validName(origin)) throw new Error('a checkpoint origin has no spaces or plus signs')
  return `${origin}\n${size}\n${hash.toString('base64')}\n`
}

/** Signs a note text (ending in a newline) with an Ed25519 key under `name`. */
export function signNote(text: string, name: string, rawPublicKey: Buffer, sign: (message: Buffer) => Buffer): string {
  const signature = sign(Buffer.from(text, 'utf8'))
  return `${text}\n${SIGNATURE_PREFIX}${name} ${Buffer.concat([noteKeyHash(name, rawPublicKey), signature]).toString('base64')}\n`
}

export interface OpenedCheckpoint {
  origin: string
  org: string
  size: number
  /** The hash line, decoded: 32 bytes, hex. */
  hash: string
  note: string
}

/**
 * Opens a checkpoint note with a trusted Ed25519 key: a signature line whose key name is
 * the origin, whose key hash matches that name and key, and whose signature over the text
 * verifies. Other lines (cosignatures) are ignored. Throws, saying why, otherwise.
 */
export function openCheckpointNote(note: string, rawPublicKey: Buffer): OpenedCheckpoint {
  const split = note.lastIndexOf('\n\n')
  if (split < 0 || !note.endsWith('\n')) throw new Error('not a signed note (no blank line before the signatures)')
  const text = note.slice(0, split + 1)
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw new Error('not a checkpoint (needs origin, size and hash lines)')
  const [origin, sizeLine, hashLine] = lines as [string, string, string]
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine)) throw new Error(`checkpoint size "${sizeLine}" is not a decimal number`)
  const hash = Buffer.from(hashLine, 'base64')
  if (hash.length !== 32 || hash.toString('base64') !== hashLine)
    throw new Error('checkpoint hash line is not 32 bytes of standard base64')
  const org = orgOfOrigin(origin)
  if (org === undefined) throw new Error(`origin ${origin} is not <host>/audit/<org id>`)
  const keyHash = noteKeyHash(origin, rawPublicKey)
  let verified = false
  for (const line of note.slice(split + 2, -1).split('\n')) {
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new Error('malformed signature line')
    const [name, encoded, extra] = line.slice(SIGNATURE_PREFIX.length).split(' ')
    if (name === undefined || encoded === undefined || extra !== undefined) throw new Error('malformed signature line')
    if (name !== origin) continue
    const bytes = Buffer.from(encoded, 'base64')
    if (bytes.length !== 4 + 64 || !bytes.subarray(0, 4).equals(keyHash)) continue
    if (verifyEd25519(rawPublicKey.toString('base64url'), Buffer.from(text, 'utf8'), bytes.subarray(4))) verified = true
  }
  if (!verified) throw new Error(`no valid signature by ${origin} under the trusted key`)
  return { origin, org, size: Number(sizeLine), hash: hash.toString('hex'), note }
}

/**
 * Splits a file holding one or more notes (as a file witness appends them, or notes saved
 * one after another) into notes: a note ends with its signature lines, at a blank line or
 * at a line that is not a signature.
 */
export function splitNotes(content: string): string[] {
  const notes: string[] = []
  let current: string[] = []
  let inSignatures = false
  const flush = () => {
    if (current.length > 0) notes.push(`${current.join('\n')}\n`)
    current = []
    inSignatures = false
  }
  for (const line of content.replace(/\r\n/g, '\n').split('\n')) {
    if (inSignatures) {
      if (line.startsWith(SIGNATURE_PREFIX)) {
        current.push(line)
        continue
      }
      flush()
      if (line === '') continue
    }
    if (line === '') {
      if (current.length > 0) {
        current.push('')
        inSignatures = true
      }
      continue
    }
    current.push(line)
  }
  flush()
  return notes
}

function validName(name: string): boolean {
  return name.length > 0 && !/[\s+]/u.test(name)
}

export interface KeptCheckpoints {
  opened: OpenedCheckpoint[]
  /** Notes that name an org but do not open under any trusted key (or are malformed). */
  rejected: { org: string | undefined; reason: string }[]
}

/**
 * Opens checkpoints kept outside Custodian with the trusted keys (raw Ed25519, base64url).
 * A note that opens under none of them is rejected, not ignored: a kept checkpoint that
 * cannot be checked must not pass silently.
 */
export function openKeptCheckpoints(notes: readonly string[], publicKeys: Iterable<string>): KeptCheckpoints {
  const keys = [...publicKeys].map((k) => Buffer.from(k, 'base64url'))
  const result: KeptCheckpoints = { opened: [], rejected: [] }
  for (const note of notes) {
    const org = orgOfOrigin(note.split('\n', 1)[0] ?? '')
    let reason = 'no trusted key'
    let opened: OpenedCheckpoint | undefined
    for (const key of keys) {
      try {
        opened = openCheckpointNote(note, key)
        break
      } catch (error) {
        reason = (error as Error).message
      }
    }
    if (opened === undefined) result.rejected.push({ org, reason })
    else result.opened.push(opened)
  }
  return result
}
