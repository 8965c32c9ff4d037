/**
 * C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint) and C2SP tlog-cosignature
 * Ed25519 cosignatures (https://c2sp.org/tlog-cosignature, signature type 0x04), on top of
 * the signed notes of audit.note.ts:
 *
 *   checkpoint body     <origin>\n<size>\n<base64 root hash>\n[<extension line>\n…]
 *   cosignature         — <witness name> base64(key ID || u64 BE timestamp || Ed25519 signature)
 *   cosignature key ID  SHA-256(<witness name> || 0x0A || 0x04 || public key)[:4]
 *   cosigned message    cosignature/v1\ntime <timestamp>\n<checkpoint body>
 *
 * Written by hand for the reasons in audit.note.ts (no maintained npm package; Go's
 * golang.org/x/mod/sumdb/note checks the output in test/audit/tlog-interop.test.ts).
 */
import { verifyEd25519 } from '../../crypto/keys.ts'
import {
  NOTE_SIGNATURE_TYPE,
  ed25519NoteVerifier,
  openNote,
  parseVerifierKey,
  signatureLine,
  typedKeyId,
  type NoteVerifier,
  type OpenedNote,
} from './audit.note.ts'
import { HASH_SIZE } from './merkle.ts'

/** A checkpoint body: the log's origin, its tree size and root hash, and opaque extension lines. */
export interface Checkpoint {
  origin: string
  size: number
  rootHash: Buffer
  extensions: string[]
}

/** The checkpoint body text. Throws when a line would be empty or hold a newline, or the hash is not 32 bytes. */
export function formatCheckpoint(checkpoint: Checkpoint): string {
  const { origin, size, rootHash, extensions } = checkpoint
  if (origin === '' || /[\n]/.test(origin)) throw new Error('a checkpoint origin is one non-empty line')
  if (!Number.isSafeInteger(size) || size < 0) throw new Error('a checkpoint size is a non-negative integer')
  if (rootHash.length !== HASH_SIZE) throw new Error('a checkpoint root hash is 32 bytes')
  if (extensions.some((line) => line === '' || line.includes('\n')))
    throw new Error('checkpoint extension lines are non-empty lines')
  return [origin, String(size), rootHash.toString('base64'), ...extensions].map((line) => `${line}\n`).join('')
}

/**
 * Parses a checkpoint body (a note's text, ending in a newline): at least three non-empty
 * lines — origin, decimal size without leading zeros, standard base64 of a 32-byte root —
 * then extension lines. Throws, saying why, otherwise.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (!text.endsWith('\n')) throw new Error('a checkpoint ends with a newline')
  const lines = text.slice(0, -1).split('\n')
  if (lines.length < 3) throw new Error('a checkpoint has origin, size and root hash lines')
  const [origin, sizeLine, hashLine, ...extensions] = lines as [string, string, string, ...string[]]
  if (lines.some((line) => line === '')) throw new Error('checkpoint lines are non-empty')
  if (!/^(0|[1-9][0-9]{0,15})$/.test(sizeLine) || !Number.isSafeInteger(Number(sizeLine)))
    throw new Error(`checkpoint size "${sizeLine}" is not a decimal number without leading zeros`)
  const rootHash = Buffer.from(hashLine, 'base64')
  if (rootHash.length !== HASH_SIZE || rootHash.toString('base64') !== hashLine)
    throw new Error('checkpoint root hash line is not 32 bytes of standard base64')
  return { origin, size: Number(sizeLine), rootHash, extensions }
}

/** The key ID of an Ed25519 cosigner: SHA-256(name || 0x0A || 0x04 || public key)[:4]. */
export function cosignatureKeyId(name: string, rawPublicKey: Buffer): Buffer {
  return typedKeyId(name, NOTE_SIGNATURE_TYPE.cosignatureV1, rawPublicKey)
}

/** A cosigner's verifier key: `<name>+<hex key ID>+base64(0x04 || public key)`. */
export function cosignerVerifierKey(name: string, rawPublicKey: Buffer): string {
  const material = Buffer.concat([Buffer.from([NOTE_SIGNATURE_TYPE.cosignatureV1]), rawPublicKey])
  return `${name}+${cosignatureKeyId(name, rawPublicKey).toString('hex')}+${material.toString('base64')}`
}

/** The message an Ed25519 cosignature signs: `cosignature/v1\ntime <t>\n` then the checkpoint body. */
export function cosignedMessage(checkpointText: string, timestamp: number): Buffer {
  checkTimestamp(timestamp)
  return Buffer.from(`cosignature/v1\ntime ${timestamp}\n${checkpointText}`, 'utf8')
}

/**
 * Cosigns a checkpoint body as witness `name` at `timestamp` (POSIX seconds): the signature
 * line (without newline) to add to the checkpoint note.
 */
export function cosignCheckpoint(
  checkpointText: string,
  name: string,
  rawPublicKey: Buffer,
  sign: (message: Buffer) => Buffer,
  timestamp: number,
): string {
  parseCheckpoint(checkpointText)
  const time = Buffer.alloc(8)
  time.writeBigUInt64BE(BigInt(timestamp))
  const signature = sign(cosignedMessage(checkpointText, timestamp))
  return signatureLine(name, cosignatureKeyId(name, rawPublicKey), Buffer.concat([time, signature]))
}

/** A verifier for Ed25519 cosignatures (type 0x04) by witness `name` with a raw 32-byte public key. */
export function cosignatureVerifier(name: string, rawPublicKey: Buffer): NoteVerifier {
  if (rawPublicKey.length !== 32) throw new Error('an Ed25519 public key is 32 bytes')
  const key = rawPublicKey.toString('base64url')
  return {
    name,
    keyId: cosignatureKeyId(name, rawPublicKey),
    type: NOTE_SIGNATURE_TYPE.cosignatureV1,
    verify(text, signature) {
      if (signature.length !== 8 + 64) return false
      const timestamp = signature.readBigUInt64BE(0)
      if (timestamp > BigInt(Number.MAX_SAFE_INTEGER)) return false
      return verifyEd25519(key, cosignedMessage(text.toString('utf8'), Number(timestamp)), signature.subarray(8))
    },
  }
}

/** A note verifier from a verifier key: Ed25519 (0x01) or Ed25519 cosignature (0x04). */
export function verifierFromKey(vkey: string): NoteVerifier {
  const key = parseVerifierKey(vkey)
  if (key.type === NOTE_SIGNATURE_TYPE.ed25519) return ed25519NoteVerifier(key.name, key.publicKey)
  if (key.type === NOTE_SIGNATURE_TYPE.cosignatureV1) return cosignatureVerifier(key.name, key.publicKey)
  throw new Error(
    `verifier key ${key.name} has signature type 0x${key.type.toString(16)}, not Ed25519 or cosignature/v1`,
  )
}

/** A checkpoint opened with the log's key, and the witnesses that cosigned it. */
export interface OpenedCheckpointNote {
  checkpoint: Checkpoint
  text: string
  /** Cosigners (among those given) whose cosignature verified, with its timestamp. */
  cosignatures: { name: string; timestamp: number }[]
  note: OpenedNote
}

/**
 * Opens a checkpoint note: the log's signature (its key name must equal the origin, as the
 * audit log signs) must verify; cosignatures by the given witnesses are verified too (a
 * known one that fails rejects the note); other signatures are ignored. Throws, saying why.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  log: NoteVerifier,
  witnesses: readonly NoteVerifier[] = [],
): OpenedCheckpointNote {
  const opened = openNote(note, [log, ...witnesses])
  if (!opened.verified.some((v) => v.verifier === log)) throw new Error(`the log ${log.name} did not sign this note`)
  const checkpoint = parseCheckpoint(opened.text)
  if (checkpoint.origin !== log.name)
    throw new Error(`checkpoint origin ${checkpoint.origin} is not the log's key name ${log.name}`)
  const cosignatures = opened.verified
    .filter((v) => v.verifier !== log && v.verifier.type === NOTE_SIGNATURE_TYPE.cosignatureV1)
    .map((v) => ({ name: v.verifier.name, timestamp: Number(v.signature.signature.readBigUInt64BE(0)) }))
  return { checkpoint, text: opened.text, cosignatures, note: opened }
}

function checkTimestamp(timestamp: number): void {
  if (!Number.isSafeInteger(timestamp) || timestamp < 0) throw new Error('a cosignature timestamp is POSIX seconds')
}
