import { hash, verify, type Algorithm } from '@node-rs/argon2'

/**
 * Passwords: argon2id with OWASP's recommended floor (19 MiB, 2 passes, 1 lane).
 * Parameters live in the encoded hash, so raising them later still verifies old hashes.
 */
// Algorithm is a const enum, which type stripping cannot read at run time: 2 is its Argon2id.
const ARGON2ID = 2 as Algorithm.Argon2id // eslint-disable-line @typescript-eslint/no-unsafe-enum-assignment
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 }

export const MIN_PASSWORD_LENGTH = 12
export const MAX_PASSWORD_LENGTH = 256

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS)
}

export async function passwordMatches(encoded: string, password: string): Promise<boolean> {
  try {
    return await verify(encoded, password)
  } catch {
    return false
  }
}

/**
 * A hash of a fixed random password, verified when the account does not exist, so a
 * login attempt takes as long whether or not the email is known.
 */
let dummyHash: Promise<string> | undefined
export function dummyPasswordHash(): Promise<string> {
  dummyHash ??= hash(crypto.randomUUID(), OPTIONS)
  return dummyHash
}
