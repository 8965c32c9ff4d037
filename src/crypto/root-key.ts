import { closeSync, openSync, readFileSync, statSync, writeSync } from 'node:fs'
import { randomBytes } from 'node:crypto'

/**
 * Key files (the `local` root key, the audit key): 32 random bytes in a file only the
 * service's user can read. Anything else — a missing file, another size, group or world permission bits —
 * stops the start: a root key is never guessed, padded or defaulted.
 */
export const ROOT_KEY_BYTES = 32

export class RootKeyError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'RootKeyError'
  }
}

export function loadLocalRootKey(file: string, what = 'root key'): Buffer {
  let mode: number
  try {
    mode = statSync(file).mode
  } catch {
    throw new RootKeyError(`${what} file ${file} does not exist; run \`custodian init\` to create it`)
  }
  if ((mode & 0o077) !== 0) {
    throw new RootKeyError(
      `${what} file ${file} is readable by group or others (mode ${(mode & 0o777).toString(8)}); run chmod 600 on it`,
    )
  }
  const key = readFileSync(file)
  if (key.length !== ROOT_KEY_BYTES) {
    throw new RootKeyError(`${what} file ${file} holds ${key.length} bytes; it must hold exactly ${ROOT_KEY_BYTES}`)
  }
  return key
}

/** Creates a new root key file (mode 0600); refuses to overwrite an existing one. */
export function createLocalRootKey(file: string): void {
  const fd = openSync(file, 'wx', 0o600)
  try {
    writeSync(fd, randomBytes(ROOT_KEY_BYTES))
  } finally {
    closeSync(fd)
  }
}
