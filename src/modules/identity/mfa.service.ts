import { createHash, randomBytes, randomUUID } from 'node:crypto'
import { sql, type Kysely } from 'kysely'
import * as OTPAuth from 'otpauth'
import { SealedError } from '../../crypto/providers/provider.ts'
import type { DB } from '../../db/schema.ts'
import { withOwner, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { onFirstUse } from '../../on-first-use.ts'
import type { Principal } from '../../context.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { RequestMeta } from '../audit/audit.types.ts'
import type { UserSecrets } from '../vault/vault.usersecrets.ts'
import type { CredentialGate, GateAction } from './credential-gate.ts'
import type { AssertionResult, WebauthnCeremonies } from './webauthn.ts'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'

/** The QR code library, loaded by the first TOTP enrolment (src/on-first-use.ts). */
const loadQrCode = onFirstUse(() => import('qrcode'))

/**
 * TOTP two-factor authentication (P3.1): RFC 6238, SHA-1, 6 digits, 30-second steps,
 * ±1 step of clock drift, and each code accepted at most once (the last accepted step
 * is stored and only a later one passes, atomically in SQL). The seed is shown once at
 * enrolment and stored only wrapped by the root key. Ten single-use recovery codes (100
 * bits each) are stored as SHA-256 hashes; using one consumes it atomically.
 */
export interface MfaStatus {
  /** TOTP is on. */
  enabled: boolean
  pending: boolean
  recoveryCodesLeft: number
  /** Passkeys registered (each is a second factor too). */
  passkeys: number
  /** Any second factor: TOTP or a passkey. */
  enrolled: boolean
}

/** A second factor presented: a TOTP or recovery code, or a passkey assertion. */
export type FactorProof = { code: string } | { passkey: AuthenticationResponseJSON }

export interface MfaService {
  status(userId: string): Promise<MfaStatus>
  enabled(userId: string): Promise<boolean>
  begin(principal: Principal, meta: RequestMeta): Promise<{ secret: string; otpauthUri: string; qrSvg: string }>
  confirm(principal: Principal, code: string, meta: RequestMeta): Promise<{ recoveryCodes: string[] }>
  disable(principal: Principal, code: string, meta: RequestMeta): Promise<void>
  regenerateRecoveryCodes(principal: Principal, code: string, meta: RequestMeta): Promise<{ recoveryCodes: string[] }>
  /** Marks this browser session as having passed a second factor now (a code or a passkey). */
  stepUp(principal: Principal, proof: FactorProof, meta: RequestMeta): Promise<{ until: string }>
}

const PURPOSE = 'totp'
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/**
 * The checks of a second factor. Only the credential gate (credential-gate.ts) calls
 * them, so that every check is throttled, counted and audited the same way.
 */
export interface SecondFactor {
  /** Whether the person has a second factor: confirmed TOTP or a passkey. */
  enabled(userId: string): Promise<boolean>
  /**
   * A passkey assertion of `userId` (any registered person's when undefined, for a
   * passwordless sign-in, which then needs user verification).
   */
  verifyPasskey(
    userId: string | undefined,
    response: AuthenticationResponseJSON,
    requireUserVerification: boolean,
  ): Promise<AssertionResult>
  /** A TOTP code (replay-protected) or a recovery code (consumed); false if neither. */
  verify(userId: string, code: string): Promise<'totp' | 'recovery' | false>
  /** The first code of a pending enrolment, which confirms it. */
  confirmEnrolment(userId: string, code: string): Promise<boolean>
}

export function createSecondFactor(deps: {
  db: Kysely<DB>
  userSecrets: UserSecrets
  ceremonies: Pick<WebauthnCeremonies, 'verifyAssertion'>
}): SecondFactor {
  const { db, userSecrets } = deps

  async function totpFor(trx: Trx, userId: string): Promise<OTPAuth.TOTP | undefined> {
    let seed: Buffer | undefined
    try {
      seed = await userSecrets.get(trx, userId, PURPOSE)
    } catch (error) {
      if (error instanceof SealedError)
        throw new AppError('VAULT_SEALED', 'two-factor codes cannot be checked while the vault is sealed')
      throw error
    }
    if (seed === undefined) return undefined
    return new OTPAuth.TOTP({
      algorithm: 'SHA1',
      digits: 6,
      period: 30,
      secret: new OTPAuth.Secret({ buffer: new Uint8Array(seed).buffer }),
    })
  }

  /** Accepts a TOTP code once: only a step later than the last accepted one passes. */
  async function acceptTotp(trx: Trx, userId: string, code: string, confirming: boolean): Promise<boolean> {
    if (!/^\d{6}$/.test(code)) return false
    const totp = await totpFor(trx, userId)
    if (totp === undefined) return false
    const delta = totp.validate({ token: code, window: 1 })
    if (delta === null) return false
    const counter = totp.counter() + delta
    const updated = await sql<{ user_id: string }>`
      UPDATE user_mfa SET last_used_counter = ${counter}, confirmed_at = coalesce(confirmed_at, now())
       WHERE user_id = ${userId} AND last_used_counter < ${counter}
         AND ${confirming ? sql`confirmed_at IS NULL` : sql`confirmed_at IS NOT NULL`}
      RETURNING user_id`.execute(trx)
    return updated.rows.length === 1
  }

  async function consumeRecoveryCode(trx: Trx, userId: string, code: string): Promise<boolean> {
    const normalized = code.toUpperCase().replace(/[^A-Z2-7]/g, '')
    if (normalized.length !== 20) return false
    const used = await sql<{ id: string }>`
      UPDATE user_recovery_codes SET used_at = now()
       WHERE user_id = ${userId} AND code_hash = ${hashCode(normalized)} AND used_at IS NULL
      RETURNING id`.execute(trx)
    return used.rows.length === 1
  }

  return {
    async enabled(userId) {
      const row = await withOwner(db, (trx) =>
        sql<{ enabled: boolean }>`
          SELECT EXISTS (SELECT 1 FROM user_mfa WHERE user_id = ${userId} AND confirmed_at IS NOT NULL)
              OR EXISTS (SELECT 1 FROM user_passkeys WHERE user_id = ${userId}) AS enabled`.execute(trx),
      )
      return row.rows[0]?.enabled === true
    },
    async verifyPasskey(userId, response, requireUserVerification) {
      return deps.ceremonies.verifyAssertion(response, { userId, requireUserVerification })
    },
    async verify(userId, code) {
      return withOwner(db, async (trx) => {
        if (await acceptTotp(trx, userId, code.trim(), false)) return 'totp'
        if (await consumeRecoveryCode(trx, userId, code)) return 'recovery'
        return false
      })
    },
    async confirmEnrolment(userId, code) {
      return withOwner(db, (trx) => acceptTotp(trx, userId, code.trim(), true))
    },
  }
}

export function createMfaService(deps: {
  db: Kysely<DB>
  userSecrets: UserSecrets
  audit: Pick<AuditService, 'append'>
  gate: Pick<CredentialGate, 'check'>
  secondFactor: Pick<SecondFactor, 'enabled'>
  issuer?: string
}): MfaService {
  const { db, userSecrets, audit, gate } = deps
  const issuer = deps.issuer ?? 'Custodian'

  function person(principal: Principal): string {
    if (principal.kind !== 'user')
      throw new AppError('FORBIDDEN', 'two-factor authentication is for people; service accounts use scoped tokens')
    return principal.id
  }

  async function newRecoveryCodes(trx: Trx, userId: string): Promise<string[]> {
    await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute()
    const codes = Array.from({ length: 10 }, () => Array.from(randomBytes(20), (b) => BASE32[b % 32]).join(''))
    await trx
      .insertInto('user_recovery_codes')
      .values(codes.map((c) => ({ id: randomUUID(), user_id: userId, code_hash: hashCode(c), used_at: null })))
      .execute()
    return codes.map((c) => c.match(/.{5}/g)?.join('-') ?? c)
  }

  const record = (
    trx: Trx,
    principal: Principal,
    action: string,
    meta: RequestMeta,
    details: Record<string, unknown> = {},
  ) =>
    audit.append(trx, {
      orgId: principal.orgId,
      actor: { type: 'user', id: principal.id },
      action,
      target: { type: 'user', id: principal.id },
      outcome: 'success',
      details,
      meta,
    })

  /** A second factor of the signed-in person, through the gate: throttled, counted and audited like a password. */
  async function proveFactor(
    principal: Principal,
    action: GateAction,
    proof: FactorProof,
    mode: 'required' | 'enrolment',
    meta: RequestMeta,
  ) {
    const passed = await gate.check({
      action,
      account: { userId: person(principal) },
      target: { orgId: principal.orgId },
      secondFactor: 'code' in proof ? { code: proof.code, mode } : { passkey: proof.passkey, mode },
      meta,
      wrong: 'MFA_CODE_INVALID',
    })
    return passed.secondFactor
  }

  return {
    async status(userId) {
      return withOwner(db, async (trx) => {
        const mfa = await trx.selectFrom('user_mfa').selectAll().where('user_id', '=', userId).executeTakeFirst()
        const left = await trx
          .selectFrom('user_recovery_codes')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', userId)
          .where('used_at', 'is', null)
          .executeTakeFirstOrThrow()
        const passkeys = await trx
          .selectFrom('user_passkeys')
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .where('user_id', '=', userId)
          .executeTakeFirstOrThrow()
        const enabled = mfa?.confirmed_at != null
        return {
          enabled,
          pending: mfa !== undefined && mfa.confirmed_at === null,
          recoveryCodesLeft: Number(left.n),
          passkeys: Number(passkeys.n),
          enrolled: enabled || Number(passkeys.n) > 0,
        }
      })
    },

    async enabled(userId) {
      return deps.secondFactor.enabled(userId)
    },

    async begin(principal, meta) {
      const userId = person(principal)
      // Loaded before anything is stored: a library that cannot load fails the request unchanged.
      const qrCode = (await loadQrCode()).default
      const seed = randomBytes(20)
      const email = await withOwner(db, async (trx) => {
        const existing = await trx
          .selectFrom('user_mfa')
          .select('confirmed_at')
          .where('user_id', '=', userId)
          .executeTakeFirst()
        if (existing?.confirmed_at != null)
          throw new AppError(
            'CONFLICT',
            'two-factor authentication is already on; disable it first to enrol a new device',
          )
        try {
          await userSecrets.put(trx, userId, PURPOSE, seed)
        } catch (error) {
          if (error instanceof SealedError) throw new AppError('VAULT_SEALED', error.message)
          throw error
        }
        await sql`INSERT INTO user_mfa (user_id) VALUES (${userId}) ON CONFLICT (user_id) DO UPDATE SET last_used_counter = 0, confirmed_at = NULL`.execute(
          trx,
        )
        await record(trx, principal, 'mfa.totp.enrol', meta)
        return (await trx.selectFrom('users').select('email').where('id', '=', userId).executeTakeFirstOrThrow()).email
      })
      const totp = new OTPAuth.TOTP({
        issuer,
        label: email,
        algorithm: 'SHA1',
        digits: 6,
        period: 30,
        secret: new OTPAuth.Secret({ buffer: new Uint8Array(seed).buffer }),
      })
      const otpauthUri = totp.toString()
      const result = {
        secret: totp.secret.base32,
        otpauthUri,
        qrSvg: await qrCode.toString(otpauthUri, { type: 'svg', errorCorrectionLevel: 'M' }),
      }
      seed.fill(0)
      return result
    },

    async confirm(principal, code, meta) {
      const userId = person(principal)
      await proveFactor(principal, 'mfa.totp.enable', { code }, 'enrolment', meta)
      return withOwner(db, async (trx) => {
        const recoveryCodes = await newRecoveryCodes(trx, userId)
        await record(trx, principal, 'mfa.totp.enable', meta)
        return { recoveryCodes }
      })
    },

    async disable(principal, code, meta) {
      const userId = person(principal)
      const how = await proveFactor(principal, 'mfa.totp.disable', { code }, 'required', meta)
      await withOwner(db, async (trx) => {
        await trx.deleteFrom('user_mfa').where('user_id', '=', userId).execute()
        await trx.deleteFrom('user_recovery_codes').where('user_id', '=', userId).execute()
        await userSecrets.remove(trx, userId, PURPOSE)
        await record(trx, principal, 'mfa.totp.disable', meta, { with: how })
      })
    },

    async regenerateRecoveryCodes(principal, code, meta) {
      const userId = person(principal)
      await proveFactor(principal, 'mfa.recovery_codes.regenerate', { code }, 'required', meta)
      return withOwner(db, async (trx) => {
        const recoveryCodes = await newRecoveryCodes(trx, userId)
        await record(trx, principal, 'mfa.recovery_codes.regenerate', meta)
        return { recoveryCodes }
      })
    },

    async stepUp(principal, proof, meta) {
      if (principal.via.type !== 'session')
        throw new AppError('BAD_REQUEST', 'step-up applies to browser sessions; API tokens are minted after one')
      const sessionId = principal.via.sessionId
      const how = await proveFactor(principal, 'mfa.step_up', proof, 'required', meta)
      return withOwner(db, async (trx) => {
        await trx.updateTable('sessions').set({ mfa_at: new Date() }).where('id', '=', sessionId).execute()
        await record(trx, principal, 'mfa.step_up', meta, { with: how })
        return { until: new Date(Date.now() + principal.policy.stepUpMinutes * 60_000).toISOString() }
      })
    },
  }
}

function hashCode(code: string): Buffer {
  return createHash('sha256')
    .update(code.toUpperCase().replace(/[^A-Z2-7]/g, ''), 'utf8')
    .digest()
}
