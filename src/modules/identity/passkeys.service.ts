import { randomBytes, randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import type {
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from '@simplewebauthn/server'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { Principal } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { RequestMeta } from '../audit/audit.types.ts'
import { CHALLENGE_TTL_MS, credentialIdBytes, loadSimpleWebauthn, type WebauthnCeremonies } from './webauthn.ts'

/**
 * A person's passkeys (issue 12): registration, names, the list, removal, and the
 * challenges for signing in with one or stepping up with one. Every change is audited in
 * the org the person is signed in to, in the same transaction. At most
 * {@link MAX_PASSKEYS_PER_USER} passkeys per person.
 */
export interface PasskeyView {
  id: string
  name: string
  createdAt: string
  lastUsedAt: string | null
  transports: string[]
  backedUp: boolean
}

/** A person may register this many passkeys; beyond it registration answers 409. */
export const MAX_PASSKEYS_PER_USER = 20

/** Algorithms offered at registration (COSE): ES256, EdDSA, RS256. */
const ALGORITHMS = [-7, -8, -257]

export interface PasskeyService {
  registrationOptions(principal: Principal): Promise<PublicKeyCredentialCreationOptionsJSON>
  register(
    principal: Principal,
    input: { name: string; response: RegistrationResponseJSON },
    meta: RequestMeta,
  ): Promise<PasskeyView>
  list(principal: Principal): Promise<PasskeyView[]>
  rename(principal: Principal, passkeyId: string, name: string, meta: RequestMeta): Promise<PasskeyView>
  /** Refuses (409) to remove the last second factor of a person some org of theirs requires one of. */
  remove(principal: Principal, passkeyId: string, meta: RequestMeta): Promise<void>
  /** Options for a sign-in with a discoverable passkey: no account named, nothing about any told. */
  signInOptions(): Promise<PublicKeyCredentialRequestOptionsJSON>
  /** Options for a step-up with one of the signed-in person's passkeys. */
  stepUpOptions(principal: Principal): Promise<PublicKeyCredentialRequestOptionsJSON>
}

type PasskeyRow = {
  id: string
  name: string
  created_at: Date
  last_used_at: Date | null
  transports: string[]
  backed_up: boolean
}

function view(row: PasskeyRow): PasskeyView {
  return {
    id: row.id,
    name: row.name,
    createdAt: row.created_at.toISOString(),
    lastUsedAt: row.last_used_at?.toISOString() ?? null,
    transports: row.transports,
    backedUp: row.backed_up,
  }
}

const VIEW_COLUMNS = ['id', 'name', 'created_at', 'last_used_at', 'transports', 'backed_up'] as const

export function createPasskeyService(deps: {
  db: Kysely<DB>
  ceremonies: WebauthnCeremonies
  audit: Pick<AuditService, 'append'>
}): PasskeyService {
  const { db, ceremonies, audit } = deps
  const { rp } = ceremonies

  function person(principal: Principal): string {
    if (principal.kind !== 'user')
      throw new AppError('FORBIDDEN', 'passkeys are for people; service accounts use scoped tokens')
    return principal.id
  }

  const record = (trx: Trx, principal: Principal, action: string, passkeyId: string, meta: RequestMeta, details = {}) =>
    audit.append(trx, {
      orgId: principal.orgId,
      actor: { type: 'user', id: principal.id },
      action,
      target: { type: 'passkey', id: passkeyId },
      outcome: 'success',
      details,
      meta,
    })

  async function countOf(trx: Trx, userId: string): Promise<number> {
    const row = await trx
      .selectFrom('user_passkeys')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('user_id', '=', userId)
      .executeTakeFirstOrThrow()
    return Number(row.n)
  }

  const full = () =>
    new AppError(
      'CONFLICT',
      `at most ${MAX_PASSKEYS_PER_USER} passkeys per person: remove one (DELETE /v1/me/passkeys/{passkeyId}) first`,
    )

  async function ownPasskey(trx: Trx, userId: string, passkeyId: string): Promise<PasskeyRow> {
    const row = await trx
      .selectFrom('user_passkeys')
      .select(VIEW_COLUMNS)
      .where('id', '=', passkeyId)
      .where('user_id', '=', userId)
      .executeTakeFirst()
    if (row === undefined) throw new AppError('NOT_FOUND', 'no such passkey')
    return row
  }

  return {
    async registrationOptions(principal) {
      const { generateRegistrationOptions } = await loadSimpleWebauthn()
      const userId = person(principal)
      return withOwner(db, async (trx) => {
        const user = await trx.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirstOrThrow()
        const existing = await trx
          .selectFrom('user_passkeys')
          .select(['credential_id', 'transports'])
          .where('user_id', '=', userId)
          .execute()
        if (existing.length >= MAX_PASSKEYS_PER_USER) throw full()
        // The user handle: random, created once, never the email or the user id.
        await sql`INSERT INTO user_webauthn_handles (user_id, user_handle) VALUES (${userId}, ${randomBytes(32)})
                  ON CONFLICT (user_id) DO NOTHING`.execute(trx)
        const handle = await trx
          .selectFrom('user_webauthn_handles')
          .select('user_handle')
          .where('user_id', '=', userId)
          .executeTakeFirstOrThrow()
        const options = await generateRegistrationOptions({
          rpName: rp.name,
          rpID: rp.id,
          userName: user.email,
          userDisplayName: user.email,
          userID: new Uint8Array(handle.user_handle),
          challenge: new Uint8Array(randomBytes(32)),
          timeout: CHALLENGE_TTL_MS,
          attestationType: 'none',
          excludeCredentials: existing.map((c) => ({
            id: Buffer.from(c.credential_id).toString('base64url'),
            transports: c.transports as never,
          })),
          // Discoverable, so that it can sign in without an account being named.
          authenticatorSelection: { residentKey: 'required', userVerification: 'preferred' },
          supportedAlgorithmIDs: ALGORITHMS,
        })
        await ceremonies.issueChallenge(trx, 'registration', userId, options.challenge)
        return options
      })
    },

    async register(principal, input, meta) {
      const { verifyRegistrationResponse } = await loadSimpleWebauthn()
      const userId = person(principal)
      const invalid = (detail: string) => new AppError('PASSKEY_INVALID', `the passkey was not registered: ${detail}`)
      if (credentialIdBytes(input.response.id) === undefined || input.response.rawId !== input.response.id)
        throw invalid('the credential id is malformed')
      // Spent now, whatever the verdict below.
      const live = await withOwner(db, (trx) =>
        ceremonies.consumeChallenge(trx, 'registration', userId, input.response.response),
      )
      if (!live) throw invalid('the challenge is unknown, expired, already used or not yours: ask for new options')
      let verified
      try {
        verified = await verifyRegistrationResponse({
          response: input.response,
          expectedChallenge: () => true, // matched and consumed above
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: false,
          supportedAlgorithmIDs: ALGORITHMS,
        })
      } catch {
        throw invalid('the response does not verify for this service (origin, RP ID, signature or format)')
      }
      if (!verified.verified) throw invalid('the response does not verify for this service')
      const info = verified.registrationInfo
      return withOwner(db, async (trx) => {
        // Serialize one person's registrations, so the cap holds under concurrency.
        await sql`SELECT id FROM users WHERE id = ${userId} FOR UPDATE`.execute(trx)
        if ((await countOf(trx, userId)) >= MAX_PASSKEYS_PER_USER) throw full()
        const credentialId = Buffer.from(info.credential.id, 'base64url')
        const taken = await trx
          .selectFrom('user_passkeys')
          .select('id')
          .where('credential_id', '=', credentialId)
          .executeTakeFirst()
        if (taken !== undefined) throw new AppError('CONFLICT', 'this passkey is already registered')
        const row = await trx
          .insertInto('user_passkeys')
          .values({
            id: randomUUID(),
            user_id: userId,
            credential_id: credentialId,
            public_key: Buffer.from(info.credential.publicKey),
            sign_count: info.credential.counter,
            transports: (info.credential.transports ?? []).slice(0, 8).map(String),
            device_type: info.credentialDeviceType,
            backed_up: info.credentialBackedUp,
            name: input.name,
            last_used_at: null,
          })
          .returning(VIEW_COLUMNS)
          .executeTakeFirstOrThrow()
        await record(trx, principal, 'mfa.passkey.register', row.id, meta, {
          name: row.name,
          aaguid: info.aaguid,
          deviceType: info.credentialDeviceType,
          backedUp: info.credentialBackedUp,
        })
        return view(row)
      })
    },

    async list(principal) {
      const userId = person(principal)
      const rows = await withOwner(db, (trx) =>
        trx
          .selectFrom('user_passkeys')
          .select(VIEW_COLUMNS)
          .where('user_id', '=', userId)
          .orderBy('created_at')
          .orderBy('id')
          .limit(MAX_PASSKEYS_PER_USER)
          .execute(),
      )
      return rows.map(view)
    },

    async rename(principal, passkeyId, name, meta) {
      const userId = person(principal)
      return withOwner(db, async (trx) => {
        const before = await ownPasskey(trx, userId, passkeyId)
        const row = await trx
          .updateTable('user_passkeys')
          .set({ name })
          .where('id', '=', passkeyId)
          .where('user_id', '=', userId)
          .returning(VIEW_COLUMNS)
          .executeTakeFirstOrThrow()
        await record(trx, principal, 'mfa.passkey.rename', passkeyId, meta, { from: before.name, to: name })
        return view(row)
      })
    },

    async remove(principal, passkeyId, meta) {
      const userId = person(principal)
      await withOwner(db, async (trx) => {
        await sql`SELECT id FROM users WHERE id = ${userId} FOR UPDATE`.execute(trx)
        const row = await ownPasskey(trx, userId, passkeyId)
        const others = (await countOf(trx, userId)) - 1
        const totp = await trx
          .selectFrom('user_mfa')
          .select('confirmed_at')
          .where('user_id', '=', userId)
          .executeTakeFirst()
        if (others === 0 && totp?.confirmed_at == null && (await mustHaveSecondFactor(trx, userId)))
          throw new AppError(
            'CONFLICT',
            'this is your last second factor and an org of yours requires one: enrol TOTP or another passkey first',
          )
        await trx.deleteFrom('user_passkeys').where('id', '=', passkeyId).where('user_id', '=', userId).execute()
        await record(trx, principal, 'mfa.passkey.remove', passkeyId, meta, { name: row.name })
      })
    },

    async signInOptions() {
      const { generateAuthenticationOptions } = await loadSimpleWebauthn()
      return withOwner(db, async (trx) => {
        const options = await generateAuthenticationOptions({
          rpID: rp.id,
          allowCredentials: [],
          challenge: new Uint8Array(randomBytes(32)),
          timeout: CHALLENGE_TTL_MS,
          userVerification: 'required',
        })
        await ceremonies.issueChallenge(trx, 'authentication', null, options.challenge)
        return options
      })
    },

    async stepUpOptions(principal) {
      const userId = person(principal)
      const { generateAuthenticationOptions } = await loadSimpleWebauthn()
      return withOwner(db, async (trx) => {
        const own = await trx
          .selectFrom('user_passkeys')
          .select(['credential_id', 'transports'])
          .where('user_id', '=', userId)
          .limit(MAX_PASSKEYS_PER_USER)
          .execute()
        if (own.length === 0)
          throw new AppError(
            'CONFLICT',
            'you have no passkey: register one (POST /v1/me/passkeys/registration/options)',
          )
        const options = await generateAuthenticationOptions({
          rpID: rp.id,
          allowCredentials: own.map((c) => ({
            id: Buffer.from(c.credential_id).toString('base64url'),
            transports: c.transports as never,
          })),
          challenge: new Uint8Array(randomBytes(32)),
          timeout: CHALLENGE_TTL_MS,
          userVerification: 'preferred',
        })
        await ceremonies.issueChallenge(trx, 'authentication', userId, options.challenge)
        return options
      })
    },
  }
}

/** Whether some org of the person requires a second factor (its policy, or the provider org: operators). */
async function mustHaveSecondFactor(trx: Trx, userId: string): Promise<boolean> {
  const row = await sql<{ required: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM memberships m JOIN orgs o ON o.id = m.org_id
        LEFT JOIN org_security_policies p ON p.org_id = m.org_id
       WHERE m.user_id = ${userId} AND (o.kind = 'provider' OR p.require_2fa)
    ) AS required`.execute(trx)
  return row.rows[0]?.required === true
}
