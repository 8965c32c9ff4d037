import { readFileSync } from 'node:fs'
import {
  ed25519NoteVerifier,
  NOTE_SIGNATURE_TYPE,
  parseVerifierKey,
  type NoteVerifier,
} from '../modules/audit/audit.note.ts'

/**
 * The logs a witness cosigns for: per origin, the Ed25519 verifier keys (C2SP signed-note,
 * type 0x01) whose signature it requires. Each entry is `<vkey>` — the origin is the key's
 * name, as Custodian's audit log signs (`<host>/audit/<org id>`) — or `<origin> <vkey>` for
 * a log whose key name differs from its origin. A file holds one entry per line; blank lines
 * and lines starting with `#` are skipped.
 */
export type WitnessedLogs = ReadonlyMap<string, readonly NoteVerifier[]>

/** Parses one entry. Throws, saying why, on anything but an Ed25519 verifier key. */
export function parseLogEntry(entry: string): { origin: string; verifier: NoteVerifier } {
  const parts = entry.trim().split(/\s+/)
  if (parts.length < 1 || parts.length > 2 || parts[0] === '')
    throw new Error(`log entry "${entry}" is not "<vkey>" or "<origin> <vkey>"`)
  const vkey = parts.at(-1) as string
  const key = parseVerifierKey(vkey)
  if (key.type !== NOTE_SIGNATURE_TYPE.ed25519)
    throw new Error(`log key ${key.name} is not an Ed25519 note key (type 0x01)`)
  const origin = parts.length === 2 ? (parts[0] as string) : key.name
  return { origin, verifier: ed25519NoteVerifier(key.name, key.publicKey) }
}

/** The entries of a logs file. Throws naming the line of a bad entry. */
export function readLogsFile(file: string): string[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line, index) => ({ line: line.trim(), number: index + 1 }))
    .filter(({ line }) => line !== '' && !line.startsWith('#'))
    .map(({ line, number }) => {
      try {
        parseLogEntry(line)
      } catch (error) {
        throw new Error(`${file}:${number}: ${(error as Error).message}`, { cause: error })
      }
      return line
    })
}

/** Groups entries by origin. Throws when there is none (a witness of nothing is a mistake). */
export function witnessedLogs(entries: readonly string[]): WitnessedLogs {
  const logs = new Map<string, NoteVerifier[]>()
  for (const entry of entries) {
    const { origin, verifier } = parseLogEntry(entry)
    const list = logs.get(origin) ?? []
    if (!list.some((v) => v.name === verifier.name && v.keyId.equals(verifier.keyId))) list.push(verifier)
    logs.set(origin, list)
  }
  if (logs.size === 0) throw new Error('no log to witness: pass --log <vkey> or --logs-file <file>')
  return logs
}
