import { createHash } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx } from '../../db/tenant.ts'
import { onFirstUse } from '../../on-first-use.ts'

/**
 * WebAuthn ceremonies (issue 12): the relying party, challenges and the check of an
 * assertion, shared by passkey registration, passwordless sign-in and the passkey as a
 * second factor.
 *
 * - The relying party is the service's public URL: RP ID its host name, the one accepted
 *   origin its origin (`https://localhost:{port}` when CUSTODIAN_PUBLIC_URL is unset).
 * - A challenge is 32 random bytes, kept as its SHA-256 for CHALLENGE_TTL_MS, and deleted
 *   by the first response that names it (single use, whatever the verdict).
 * - Signature counter (WebAuthn §6.1.1): once either the stored or the presented counter
 *   is non-zero, the presented one must be greater; otherwise the authenticator may have
 *   been cloned and the assertion is refused. The update is one conditional statement, so
 *   two concurrent uses of one counter value cannot both pass.
 */
export interface RelyingParty {
  /** RP ID: the host name of the public URL. */
  id: string
  /** The one origin a response may come from (`https://host[:port]`). */
  origin: string
  name: string
}

/** SimpleWebAuthn, loaded by the first ceremony (src/on-first-use.ts). */
export const loadSimpleWebauthn = onFirstUse(() => import('@simplewebauthn/server'))

/** How long a challenge stays usable, in milliseconds. */
export const CHALLENGE_TTL_MS = 5 * 60_000

export function relyingPartyOf(publicUrl: string): RelyingParty {
  const url = new URL(publicUrl)
  return { id: url.hostname, origin: url.origin, name: 'Custodian' }
}

export type Ceremony = 'registration' | 'authentication'

/** Why an assertion was refused (audit reasons; never shown to the caller). */
export type AssertionRefusal =
  | 'malformed response'
  | 'unknown or expired challenge'
  | 'unknown passkey'
  | 'passkey of another account'
  | 'user handle does not match'
  | 'signature, origin or RP ID invalid'
  | 'user not verified'
  | 'signature counter did not increase (possible cloned authenticator)'

export type AssertionResult =
  | { ok: true; userId: string; passkeyId: string }
  | { ok: false; reason: AssertionRefusal; userId?: string }

export interface WebauthnCeremonies {
  rp: RelyingParty
  /** Stores a challenge (base64url, as the options carry it) for `ceremony`, bound to `userId` or to nobody. */
  issueChallenge(trx: Trx, ceremony: Ceremony, userId: string | null, challenge: string): Promise<void>
  /**
   * Consumes the challenge a response's clientDataJSON names: true once for a live
   * challenge of `ceremony` bound to `userId` or to nobody.
   */
  consumeChallenge(
    trx: Trx,
    ceremony: Ceremony,
    userId: string | null,
    response: { clientDataJSON: string },
  ): Promise<boolean>
  /** The person a credential id (base64url) belongs to. */
  userOfCredential(credentialId: string): Promise<string | undefined>
  /**
   * Checks an assertion of `userId`'s passkey (or of whoever owns the credential when
   * `userId` is undefined): challenge, origin, RP ID, signature, user presence (and
   * verification when asked), counter. Updates the counter and last use on success.
   */
  verifyAssertion(
    response: AuthenticationResponseJSON,
    options: { userId: string | undefined; requireUserVerification: boolean },
  ): Promise<AssertionResult>
}

export function hashChallenge(challenge: string): Buffer {
  return createHash('sha256').update(challenge, 'utf8').digest()
}

/** The challenge a response's clientDataJSON names, or undefined when it is not readable. */
export function challengeOf(clientDataJSON: string): string | undefined {
  try {
    const data = JSON.parse(Buffer.from(clientDataJSON, 'base64url').toString('utf8')) as unknown
    if (typeof data !== 'object' || data === null) return undefined
    const challenge = (data as { challenge?: unknown }).challenge
    return typeof challenge === 'string' && challenge.length > 0 && challenge.length <= 256 ? challenge : undefined
  } catch {
    return undefined
  }
}

export function credentialIdBytes(id: string): Buffer | undefined {
  if (!/^[A-Za-z0-9_-]{16,1400}$/.test(id)) return undefined
  const bytes = Buffer.from(id, 'base64url')
  return bytes.length >= 16 && bytes.length <= 1023 ? bytes : undefined
}

export function createWebauthnCeremonies(deps: { db: Kysely<DB>; rp: RelyingParty }): WebauthnCeremonies {
  const { db, rp } = deps

  async function consumeChallenge(
    trx: Trx,
    ceremony: Ceremony,
    userId: string | null,
    response: { clientDataJSON: string },
  ): Promise<boolean> {
    const challenge = challengeOf(response.clientDataJSON)
    if (challenge === undefined) return false
    const consumed = await sql<{ ceremony: string }>`
      DELETE FROM webauthn_challenges
       WHERE challenge_hash = ${hashChallenge(challenge)} AND ceremony = ${ceremony}
         AND expires_at > now() AND (user_id IS NULL OR user_id = ${userId})
      RETURNING ceremony`.execute(trx)
    return consumed.rows.length === 1
  }

  return {
    rp,
    consumeChallenge,

    async issueChallenge(trx, ceremony, userId, challenge) {
      // Expired challenges go as new ones come (indexed by expiry): the table stays small.
      await trx.deleteFrom('webauthn_challenges').where('expires_at', '<=', new Date()).execute()
      await trx
        .insertInto('webauthn_challenges')
        .values({
          challenge_hash: hashChallenge(challenge),
          ceremony,
          user_id: userId,
          expires_at: new Date(Date.now() + CHALLENGE_TTL_MS),
        })
        .execute()
    },

    async userOfCredential(credentialId) {
      const bytes = credentialIdBytes(credentialId)
      if (bytes === undefined) return undefined
      const row = await withOwner(db, (trx) =>
        trx.selectFrom('user_passkeys').select('user_id').where('credential_id', '=', bytes).executeTakeFirst(),
      )
      return row?.user_id
    },

    async verifyAssertion(response, options) {
      const credentialId = credentialIdBytes(response.id)
      if (credentialId === undefined || response.rawId !== response.id)
        return { ok: false, reason: 'malformed response' }
      const { verifyAuthenticationResponse } = await loadSimpleWebauthn()
      return withOwner(db, async (trx) => {
        const passkey = await trx
          .selectFrom('user_passkeys as p')
          .innerJoin('user_webauthn_handles as h', 'h.user_id', 'p.user_id')
          .select(['p.id', 'p.user_id', 'p.public_key', 'p.sign_count', 'p.transports', 'h.user_handle'])
          .where('p.credential_id', '=', credentialId)
          .executeTakeFirst()
        // The challenge is spent by any response that names it, even one refused below.
        const expectedUser = options.userId ?? passkey?.user_id ?? null
        const live = await consumeChallenge(trx, 'authentication', expectedUser, response.response)
        if (passkey === undefined) return { ok: false, reason: 'unknown passkey' }
        const userId = passkey.user_id
        if (options.userId !== undefined && options.userId !== userId)
          return { ok: false, reason: 'passkey of another account', userId: options.userId }
        if (!live) return { ok: false, reason: 'unknown or expired challenge', userId }
        const handle = response.response.userHandle
        if (handle !== undefined && handle !== Buffer.from(passkey.user_handle).toString('base64url'))
          return { ok: false, reason: 'user handle does not match', userId }
        let verified
        try {
          verified = await verifyAuthenticationResponse({
            response,
            expectedChallenge: () => true, // already matched and consumed above
            expectedOrigin: rp.origin,
            expectedRPID: rp.id,
            requireUserVerification: options.requireUserVerification,
            // The counter rule is applied below, after the signature is known to be good.
            credential: { id: response.id, publicKey: new Uint8Array(passkey.public_key), counter: 0 },
          })
        } catch (error) {
          const message = error instanceof Error ? error.message : ''
          return {
            ok: false,
            reason: /user (could not be )?verif/i.test(message)
              ? 'user not verified'
              : 'signature, origin or RP ID invalid',
            userId,
          }
        }
        if (!verified.verified) return { ok: false, reason: 'signature, origin or RP ID invalid', userId }
        const counter = verified.authenticationInfo.newCounter
        const updated = await sql<{ id: string }>`
          UPDATE user_passkeys SET sign_count = ${counter}, last_used_at = now(),
                 backed_up = ${verified.authenticationInfo.credentialBackedUp}
           WHERE id = ${passkey.id} AND ((${counter}::bigint = 0 AND sign_count = 0) OR sign_count < ${counter}::bigint)
          RETURNING id`.execute(trx)
        if (updated.rows.length !== 1)
          return { ok: false, reason: 'signature counter did not increase (possible cloned authenticator)', userId }
        return { ok: true, userId, passkeyId: passkey.id }
      })
    },
  }
}
