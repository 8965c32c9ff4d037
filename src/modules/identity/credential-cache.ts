import { LRUCache } from 'lru-cache'
import type { Principal } from '../../context.ts'

/**
 * A credential checked once by this process (issue 18): the principal it gave, with what is
 * needed to check the next presentation without the database, and the org's credential epoch
 * (migration 0063) read in the same statement as the credential. The epoch is what every
 * request on the entry confirms in its first statement (src/db/credential-epoch.ts), so a
 * revocation, a suspension or a changed role anywhere is seen by the first request that
 * starts after it commits, in every process.
 *
 * Only credentials that were valid are kept: a refusal is never cached, and whatever the
 * cached copy would refuse (an expired token, an idle session, a missing permission, a
 * second factor too old) is decided again from the database before the caller hears it.
 */
export interface CachedCredential {
  /** SHA-256 of the credential's secret, compared in constant time on every presentation. */
  secretHash: Uint8Array
  /** A session's CSRF token hash (unsafe methods). */
  csrfHash?: Uint8Array
  principal: Principal
  /** The org's credential epoch, read with the credential. */
  epoch: number
  /** Milliseconds since the epoch: absolute expiry of the token or session. */
  expiresAt: number
  /**
   * A token's `last_used_at` or a session's `last_seen_at` as this process last wrote or
   * read it, in milliseconds (null: never used); a session idle by this copy is re-read.
   */
  lastUsedAt: number | null
}

/**
 * The process's credentials, by kind and id (`cst_api:<id>`, `cst_ses:<id>`); least recently
 * used dropped past `max`. Entries also expire after `ttlMs` (default 5 minutes) — not for
 * correctness, which the epoch gives, but so a credential nobody revokes is still read in
 * full now and then.
 */
export function createCredentialCache(max: number, ttlMs = 5 * 60_000): LRUCache<string, CachedCredential> | undefined {
  if (max === 0) return undefined
  return new LRUCache<string, CachedCredential>({ max, ttl: ttlMs, ttlAutopurge: false })
}

/**
 * Whether two principals grant the same: who, where, which permissions and secret paths,
 * which policy and second factor. A cached principal found unequal to the database's is not
 * used for a request already under way.
 */
export function samePrincipal(a: Principal, b: Principal): boolean {
  return JSON.stringify(principalShape(a)) === JSON.stringify(principalShape(b))
}

function principalShape(p: Principal): unknown {
  return [
    p.kind,
    p.id,
    p.orgId,
    p.orgKind,
    p.role,
    [...p.permissions].sort(),
    p.secretPaths,
    p.via,
    p.mfa.enrolled,
    p.mfa.at?.getTime() ?? null,
    p.policy.require2fa,
    p.policy.stepUpMinutes,
    p.policy.ipAllowlist,
  ]
}
