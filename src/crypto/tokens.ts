import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto'

/**
 * Bearer credentials, after Lucia: `<prefix>_<id>_<secret>`. The id (a UUID, hex without
 * dashes) finds the row; only SHA-256(secret) is stored, compared in constant time. A
 * leaked database therefore yields no usable credential. The prefix tells a secret
 * scanner (and a human) what kind of credential leaked.
 */
export type TokenPrefix =
  | 'cst_api'
  | 'cst_boot'
  | 'cst_inv'
  | 'cst_ses'
  | 'cst_vrs'
  | 'cst_view'
  | 'cst_cpl'
  | 'cst_cps'
  | 'cst_cpa'

export interface IssuedToken {
  id: string
  /** The whole credential, shown once to its owner and never stored. */
  token: string
  secretHash: Buffer
}

export function issueToken(prefix: TokenPrefix): IssuedToken {
  const id = randomUUID()
  const secret = randomBytes(32).toString('base64url')
  return { id, token: `${prefix}_${id.replaceAll('-', '')}_${secret}`, secretHash: hashSecret(secret) }
}

export interface ParsedToken {
  id: string
  secret: string
}

const SHAPE = /^(cst_[a-z]+)_([0-9a-f]{32})_([A-Za-z0-9_-]{43})$/

/** Splits a credential of the given kind; `undefined` for anything else. */
export function parseToken(prefix: TokenPrefix, token: string): ParsedToken | undefined {
  const match = SHAPE.exec(token)
  if (match === null || match[1] !== prefix) return undefined
  const hex = match[2] as string
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`
  return { id, secret: match[3] as string }
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest()
}

/** Constant-time check of a presented secret against its stored hash. */
export function secretMatches(secret: string, storedHash: Uint8Array): boolean {
  const presented = hashSecret(secret)
  const stored = Buffer.from(storedHash)
  return stored.length === presented.length && timingSafeEqual(presented, stored)
}
