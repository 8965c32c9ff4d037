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

// Signed notes in general (https://c2sp.org/signed-note): several signatures, verifier keys.

/** Signature types of C2SP signed-note this code knows: Ed25519 (0x01) and tlog-cosignature Ed25519 (0x04). */
export const NOTE_SIGNATURE_TYPE = { ed25519: 0x01, cosignatureV1: 0x04 } as const

/** Verifiers MUST accept at least 16 signatures; more than this many is treated as malformed (as Go's note.Open does). */
const MAX_SIGNATURES = 100

/** A signature line of a note: `— <name> base64(key ID || signature)`. */
export interface NoteSignature {
  name: string
  /** The 4-byte key ID. */
  keyId: Buffer
  /** The bytes after the key ID. */
  signature: Buffer
  /** The whole line, without its newline. */
  line: string
}

/** A note split into its text (ending in a newline) and signatures, not yet verified. */
export interface ParsedNote {
  text: string
  signatures: NoteSignature[]
}

/**
 * Splits a signed note into text and signature lines by the C2SP rules: valid UTF-8 with
 * no control character but newline, the text ends at the last blank line, then one or more
 * lines `— <name> <base64>` whose name has no space or plus and whose base64 (standard,
 * padded) holds a key ID and at least one byte. Throws, saying why, otherwise.
 */
export function parseNote(note: string | Uint8Array): ParsedNote {
  const text = typeof note === 'string' ? note : decodeUtf8(note)
  // Lone surrogates cannot be encoded as UTF-8; control characters other than newline are refused.
  if (!text.isWellFormed() || hasControlCharacter(text))
    throw new Error('a signed note is UTF-8 with no control character but newline')
  const split = text.lastIndexOf('\n\n')
  if (split < 0) throw new Error('not a signed note (no blank line before the signatures)')
  const body = text.slice(0, split + 1)
  const block = text.slice(split + 2)
  if (block === '' || !block.endsWith('\n')) throw new Error('a signed note ends with signature lines')
  const signatures: NoteSignature[] = []
  for (const line of block.slice(0, -1).split('\n')) {
    if (signatures.length === MAX_SIGNATURES) throw new Error(`more than ${MAX_SIGNATURES} signatures`)
    if (!line.startsWith(SIGNATURE_PREFIX)) throw new Error('malformed signature line')
    const rest = line.slice(SIGNATURE_PREFIX.length)
    const space = rest.indexOf(' ')
    const name = space < 0 ? rest : rest.slice(0, space)
    const encoded = space < 0 ? '' : rest.slice(space + 1)
    const bytes = decodeBase64Strict(encoded)
    if (!validName(name) || bytes === undefined || bytes.length < 5) throw new Error('malformed signature line')
    signatures.push({ name, keyId: bytes.subarray(0, 4), signature: bytes.subarray(4), line })
  }
  return { text: body, signatures }
}

/** A key that may have signed a note: its name, key ID and how it checks a signature. */
export interface NoteVerifier {
  name: string
  keyId: Buffer
  type: number
  /** Whether `signature` (the bytes after the key ID) is this key's over the note text. */
  verify(text: Buffer, signature: Buffer): boolean
}

/** A verified note: its text, the signatures by known keys (all verified) and the others (ignored). */
export interface OpenedNote {
  text: string
  verified: { verifier: NoteVerifier; signature: NoteSignature }[]
  unknown: NoteSignature[]
}

/**
 * Opens a signed note with known verifiers (C2SP signed-note "Signatures"): signatures by
 * unknown keys (name or key ID not both known) are ignored; a signature by a known key
 * that does not verify rejects the note; a note no known key signed is rejected. Repeated
 * signatures by one key count once. Throws, saying why, on rejection.
 */
export function openNote(note: string | Uint8Array, verifiers: readonly NoteVerifier[]): OpenedNote {
  const parsed = parseNote(note)
  const text = Buffer.from(parsed.text, 'utf8')
  const opened: OpenedNote = { text: parsed.text, verified: [], unknown: [] }
  for (const signature of parsed.signatures) {
    const verifier = verifiers.find((v) => v.name === signature.name && v.keyId.equals(signature.keyId))
    if (verifier === undefined) {
      opened.unknown.push(signature)
      continue
    }
    if (!verifier.verify(text, signature.signature))
      throw new Error(`the signature by ${signature.name} (key ${signature.keyId.toString('hex')}) does not verify`)
    if (!opened.verified.some((v) => v.verifier === verifier)) opened.verified.push({ verifier, signature })
  }
  if (opened.verified.length === 0) throw new Error('no known key signed this note')
  return opened
}

/** A verifier for Ed25519 note signatures (type 0x01) by `name` with a raw 32-byte public key. */
export function ed25519NoteVerifier(name: string, rawPublicKey: Buffer): NoteVerifier {
  if (!validName(name)) throw new Error(`key name "${name}" is empty or has a space or plus sign`)
  if (rawPublicKey.length !== 32) throw new Error('an Ed25519 public key is 32 bytes')
  const key = rawPublicKey.toString('base64url')
  return {
    name,
    keyId: noteKeyHash(name, rawPublicKey),
    type: NOTE_SIGNATURE_TYPE.ed25519,
    verify: (text, signature) => signature.length === 64 && verifyEd25519(key, text, signature),
  }
}

/** A parsed verifier key `<name>+<hex key ID>+<base64(type || public key)>`. */
export interface VerifierKey {
  name: string
  keyId: Buffer
  type: number
  publicKey: Buffer
}

/**
 * Parses a C2SP verifier key and checks that its key ID is SHA-256(name || 0x0A || type ||
 * public key)[:4]; Ed25519 (0x01) and Ed25519 cosignature (0x04) keys need 32 bytes.
 * Throws, saying why, otherwise.
 */
export function parseVerifierKey(vkey: string): VerifierKey {
  const match = /^([^+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(vkey.trim())
  const material = match === null ? undefined : decodeBase64Strict(match[3] as string)
  if (match === null || material === undefined || material.length < 2 || !validName(match[1] as string))
    throw new Error('a verifier key is <name>+<8 hex digits>+<base64(type || key)>')
  const name = match[1] as string
  const type = material[0] as number
  const publicKey = material.subarray(1)
  if ((type === NOTE_SIGNATURE_TYPE.ed25519 || type === NOTE_SIGNATURE_TYPE.cosignatureV1) && publicKey.length !== 32)
    throw new Error('an Ed25519 verifier key holds a 32-byte public key')
  const keyId = typedKeyId(name, type, publicKey)
  if (keyId.toString('hex') !== match[2]) throw new Error(`the key ID of ${name} does not match its key`)
  return { name, keyId, type, publicKey }
}

/** SHA-256(name || 0x0A || type || public key)[:4]: the key ID of any C2SP signature type. */
export function typedKeyId(name: string, type: number, publicKey: Buffer): Buffer {
  return createHash('sha256')
    .update(name, 'utf8')
    .update(Buffer.from([0x0a, type]))
    .update(publicKey)
    .digest()
    .subarray(0, 4)
}

/** A note signature line (without newline) for a signature already made: `— <name> base64(key ID || signature)`. */
export function signatureLine(name: string, keyId: Buffer, signature: Buffer): string {
  if (!validName(name)) throw new Error(`key name "${name}" is empty or has a space or plus sign`)
  return `${SIGNATURE_PREFIX}${name} ${Buffer.concat([keyId, signature]).toString('base64')}`
}

/** Adds signature lines to a signed note (e.g. witness cosignatures), dropping lines it already has. */
export function addSignatureLines(note: string, lines: readonly string[]): string {
  const parsed = parseNote(note)
  const have = new Set(parsed.signatures.map((s) => s.line))
  const added = lines.filter((line) => !have.has(line) && have.add(line))
  for (const line of added) parseNote(`x\n\n${line}\n`)
  return `${note}${added.map((line) => `${line}\n`).join('')}`
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code < 0x20 && code !== 0x0a) return true
  }
  return false
}

function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch {
    throw new Error('a signed note is UTF-8 with no control character but newline')
  }
}

/** Standard padded base64 only: Buffer.from would silently skip stray characters. */
function decodeBase64Strict(text: string): Buffer | undefined {
  if (text === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined
  const bytes = Buffer.from(text, 'base64')
  return bytes.toString('base64') === text ? bytes : undefined
}
