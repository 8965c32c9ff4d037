import { createHmac } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOwner } from '../../db/tenant.ts'
import { dummyPasswordHash, passwordMatches } from '../../crypto/password.ts'
import type { Config } from '../../config.ts'
import { AppError } from '../../errors.ts'
import { parseMailbox } from '../../email-address.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { RequestMeta } from '../audit/audit.types.ts'
import { allowlistOf, throttleAddressOf } from './ip-allowlist.ts'
import * as store from './identity.store.ts'
import type { SecondFactor } from './mfa.service.ts'
import type { AuthenticationResponseJSON } from '@simplewebauthn/server'
import type { OrgServedGuard } from '../audit/rollback.service.ts'
import { authThrottled, type AuthThrottledMessage } from '../../observability/events.ts'

/**
 * The credential gate (issue 11 K1, K2): the one place where a password or a second
 * factor is checked — password sign-in, accepting an invitation with an existing account,
 * step-up, turning 2FA off, new recovery codes, confirming an enrolment. Every caller
 * gets the same rules, in this order, all before the verdict can be observed:
 *
 * 1. The account is resolved; an unknown one takes the same path (a dummy argon2 hash
 *    is verified, its counters are keyed by the email), so a wrong password answers the
 *    same, in about the same time, whether or not the account exists.
 * 2. IP allowlists (P2.9): the org the attempt would enter must allow the address, and —
 *    when a password of an existing account is at stake — at least one org the account
 *    belongs to must. From elsewhere the answer is IP_NOT_ALLOWED and nothing is learnt
 *    about the password. An SSO-only org takes no password (SSO_REQUIRED).
 * 3. Throttling by (account, address), address and account, with growing delays,
 *    charged in SQL before the check and refunded on success (docs/authentication.md).
 *    Accounts are never locked.
 * 4. The check; each refusal is an audit event in every org concerned — the org entered
 *    and each org of the account (the provider's for an unknown account).
 *
 * Before all of these, rollback detection (P8.1): an attempt into an org refused now — the
 * one requested, the invitation's, the account's only org, or every org of the account when
 * none is named — answers 503
 * `ORG_ROLLED_BACK` (or `ORG_ROLLBACK_UNCHECKED`) before its credential is looked at: a
 * restored database may hold a password changed since, so a refused org's copy of it is
 * never checked (nor is its throttle charged, nor a refusal written there). A requested org
 * is refused whether or not the account is in it, so the answer tells nothing about the
 * account. An account of several orgs still signs in to a healthy one; refusals are
 * recorded only in the orgs concerned that are served.
 */
export interface CredentialGate {
  check(attempt: GateAttempt): Promise<GatePassed>
}

export type GateAction =
  | 'auth.login'
  | 'invitation.accept'
  | 'mfa.step_up'
  | 'mfa.totp.enable'
  | 'mfa.totp.disable'
  | 'mfa.recovery_codes.regenerate'

export interface GateAttempt {
  /** The audit action refusals are recorded under. */
  action: GateAction
  /**
   * Whose credential: by email (signing in, joining), a signed-in person, or whoever a
   * passkey (its credential id, base64url) belongs to (passwordless sign-in).
   */
  account: { email: string } | { userId: string } | { credentialId: string }
  /**
   * The org the attempt would enter: fixed (an invitation's, the signed-in principal's),
   * or the one a sign-in requests — absent, the account's only active org.
   */
  target: { orgId: string } | { requested: string | undefined }
  password?: string | undefined
  /**
   * Passwordless sign-in: a passkey assertion with user verification, which is both
   * factors (the account is `{ credentialId }`).
   */
  passkey?: AuthenticationResponseJSON | undefined
  /**
   * `if-enrolled`: checked when the account has a second factor (none sent: MFA_REQUIRED);
   * `required`: the code or passkey must pass; `enrolment`: the first code of a pending
   * TOTP enrolment. A passkey assertion here needs user presence, not verification.
   */
  secondFactor?:
    | {
        code?: string | undefined
        passkey?: AuthenticationResponseJSON | undefined
        mode: 'if-enrolled' | 'required' | 'enrolment'
      }
    | undefined
  meta: RequestMeta
  /** What a wrong credential answers (the same for unknown accounts). */
  wrong: 'LOGIN_FAILED' | 'MFA_CODE_INVALID'
}

export interface GatePassed {
  user: store.UserRow
  /** The account's active memberships. */
  memberships: Membership[]
  /** The org entered: the fixed target, or the requested/only org the account is an active member of. */
  orgId: string | undefined
  secondFactor: 'totp' | 'recovery' | 'passkey' | null
  /** The passkey that passed, when one did. */
  passkeyId?: string
}

interface Membership {
  org_id: string
  role: string
  kind: 'provider' | 'customer'
  suspended: boolean
}

const NO_USER = '00000000-0000-0000-0000-000000000000'

const WRONG_MESSAGES = {
  LOGIN_FAILED: 'email, password or code is wrong',
  MFA_CODE_INVALID: 'that code is wrong, reused or out of its window',
} as const

/** Delay in seconds owed after `failures` failures, when the first `free` cost nothing. */
export function throttleDelay(
  failures: number,
  free: number,
  schedule: { baseDelaySeconds: number; maxDelaySeconds: number },
): number {
  if (failures < free) return 0
  return Math.min(schedule.baseDelaySeconds * 2 ** Math.min(failures - free, 40), schedule.maxDelaySeconds)
}

export function createCredentialGate(deps: {
  db: Kysely<DB>
  config: Pick<Config, 'auth'>
  audit: Pick<AuditService, 'recordSeparately'>
  secondFactor: SecondFactor
  /** HMAC key for throttle counters: neither emails nor addresses are stored in clear. */
  throttleKey: Buffer
  providerOrgId: () => Promise<string | undefined>
  /** The person a passkey's credential id (base64url) belongs to. */
  passkeyOwner: (credentialId: string) => Promise<string | undefined>
  /** Rollback detection (P8.1); absent only where no detection runs (unit tests of the gate). */
  served?: OrgServedGuard | undefined
  /** argon2id verification (crypto/password.ts); a test may wrap it to count the hashing work. */
  passwords?: { matches: typeof passwordMatches; dummyHash: typeof dummyPasswordHash }
}): CredentialGate {
  const { db, audit, secondFactor } = deps
  const passwords = deps.passwords ?? { matches: passwordMatches, dummyHash: dummyPasswordHash }
  const throttle = deps.config.auth.throttle
  const isRefused = (org: string) => deps.served?.refusal(org) !== undefined
  const keyOf = (text: string) => createHmac('sha256', deps.throttleKey).update(text, 'utf8').digest('base64url')

  async function membershipsOf(userId: string): Promise<Membership[]> {
    const rows = await withOwner(db, (trx) =>
      trx
        .selectFrom('memberships as m')
        .innerJoin('orgs as o', 'o.id', 'm.org_id')
        .select(['m.org_id', 'm.role', 'o.kind', 'm.suspended_at'])
        .where('m.user_id', '=', userId)
        .execute(),
    )
    return rows.map((r) => ({ org_id: r.org_id, role: r.role, kind: r.kind, suspended: r.suspended_at !== null }))
  }

  /** Claims one attempt: refuses while a delay is owed, else charges one failure to each key. */
  async function claim(keys: { pair: string; address: string; account: string }): Promise<number> {
    return withOwner(db, async (trx) => {
      const rows = await store.lockThrottle(trx, [keys.pair, keys.address, keys.account], throttle.windowSeconds)
      const owed = (key: string, free: number) => {
        const row = rows.get(key)
        return row === undefined ? 0 : throttleDelay(row.failures, free, throttle) - row.idle_seconds
      }
      const pairFailures = rows.get(keys.pair)?.failures ?? 0
      const wait = Math.max(
        owed(keys.pair, throttle.pairFreeFailures),
        owed(keys.address, throttle.addressFreeFailures),
        // The account-wide ceiling slows only addresses that have failed on this account:
        // its owner, from an address with no failures, is never held back by an attack.
        pairFailures > 0 ? owed(keys.account, throttle.accountCeiling) : 0,
      )
      if (wait > 0) return Math.ceil(wait)
      await store.chargeThrottle(trx, [keys.pair, keys.address, keys.account], throttle.windowSeconds)
      // Idle counters read as zero; forget them now and then (any process may).
      if (Math.random() < 1 / 256) await store.purgeThrottle(trx, throttle.windowSeconds)
      return 0
    })
  }

  return {
    async check(attempt) {
      const { meta } = attempt
      const account = attempt.account
      const target = attempt.target
      const fixedOrRequested = 'orgId' in target ? target.orgId : target.requested
      if (fixedOrRequested !== undefined) deps.served?.assertServed(fixedOrRequested)
      const byUserId =
        'userId' in account
          ? account.userId
          : 'credentialId' in account
            ? await deps.passkeyOwner(account.credentialId)
            : undefined
      const user = await withOwner(db, (trx) =>
        'email' in account
          ? store.findUserByEmail(trx, parseMailbox(account.email)?.address ?? account.email)
          : trx
              .selectFrom('users')
              .selectAll()
              .where('id', '=', byUserId ?? NO_USER)
              .executeTakeFirst(),
      )
      // The same reads for an unknown account, so that its answer takes the same path.
      const all = await membershipsOf(user?.id ?? NO_USER)
      const active = all.filter((m) => !m.suspended)
      const orgId =
        'orgId' in target
          ? target.orgId
          : target.requested !== undefined
            ? active.find((m) => m.org_id === target.requested)?.org_id
            : active.length === 1
              ? active[0]?.org_id
              : undefined
      if (orgId !== undefined) deps.served?.assertServed(orgId)
      // No org entered (several, none named): an account whose every org is refused has no
      // copy of its credential that may be checked either.
      else if (active.length > 0 && active.every((m) => isRefused(m.org_id)))
        deps.served?.assertServed(active[0]?.org_id ?? '')

      // Every org concerned hears of a refusal: the one entered and each of the account's
      // (but one refused now, P8.1: nothing is written for it).
      const concerned = [...new Set([...(orgId === undefined ? [] : [orgId]), ...all.map((m) => m.org_id)])].filter(
        (org) => !isRefused(org),
      )
      const refuse = async (error: AppError, reason: string): Promise<AppError> => {
        const orgs =
          concerned.length > 0
            ? concerned
            : [await deps.providerOrgId()].filter((o): o is string => o !== undefined && !isRefused(o))
        for (const org of orgs) {
          await audit.recordSeparately({
            orgId: org,
            actor: { type: user === undefined ? 'anonymous' : 'user', id: user?.id ?? null },
            action: attempt.action,
            target: user === undefined ? undefined : { type: 'user', id: user.id },
            outcome: 'denied',
            details: { reason, code: error.code },
            sensitive:
              user === undefined && 'email' in attempt.account
                ? { email: attempt.account.email.toLowerCase() }
                : undefined,
            meta,
          })
        }
        error.audited = true
        return error
      }

      // 2. Where the attempt may come from, before anything about the credential is told.
      const policies = new Map<string, Awaited<ReturnType<typeof store.signInPolicy>>>()
      const policyOf = async (org: string) => {
        let found = policies.get(org)
        if (found === undefined) policies.set(org, (found = await store.signInPolicy(db, org)))
        return found
      }
      const allows = async (org: string) => allowlistOf((await policyOf(org)).ipAllowlist).allows(meta.ip)
      // The org entered must allow the address. When no org is entered, or a password opens
      // the way into an org the account is not in yet (an invitation), one of the account's
      // own orgs must allow it too: a user of several orgs has their password probed only
      // from where one of them admits sign-ins.
      const reachable = active.length > 0 ? active : all
      let allowed = orgId === undefined || (await allows(orgId))
      if (allowed && reachable.length > 0 && (orgId === undefined || !reachable.some((m) => m.org_id === orgId))) {
        allowed = false
        for (const m of reachable) {
          if (await allows(m.org_id)) {
            allowed = true
            break
          }
        }
      }
      if (!allowed)
        throw await refuse(
          new AppError('IP_NOT_ALLOWED', 'not allowed from this address: the org’s IP allowlist does not include it'),
          'address not allowed',
        )
      if (attempt.password !== undefined && orgId !== undefined && (await policyOf(orgId)).ssoOnly) {
        throw await refuse(
          new AppError(
            'SSO_REQUIRED',
            `this org signs in with single sign-on only: use its SSO sign-in (GET /v1/sso/${orgId}/start)`,
          ),
          'password sign-in to an SSO-only org',
        )
      }

      // 3. Throttle: keyed by the account (its id, or the email when there is none) and the client.
      const accountPart =
        user !== undefined
          ? `user:${user.id}`
          : // An unknown account is keyed by the address as the lookup reads it (parsed, then
            // lower-cased), so spellings of one address share a counter as a known account's do.
            'email' in account
            ? `email:${(parseMailbox(account.email)?.address ?? account.email).toLowerCase()}`
            : 'userId' in account
              ? `email:${account.userId}`
              : `passkey:${account.credentialId}`
      const addressPart = throttleAddressOf(meta.ip)
      const keys = {
        pair: keyOf(`pair\n${accountPart}\n${addressPart}`),
        address: keyOf(`address\n${addressPart}`),
        account: keyOf(`account\n${accountPart}`),
      }
      const wait = await claim(keys)
      if (wait > 0 && authThrottled.hasSubscribers)
        authThrottled.publish({ action: attempt.action } satisfies AuthThrottledMessage)
      if (wait > 0)
        throw await refuse(
          new AppError('RATE_LIMITED', `too many failed attempts from this address; retry in ${wait} s`, {
            retryAfter: wait,
          }),
          'throttled',
        )
      const wrong = (reason: string) => refuse(new AppError(attempt.wrong, WRONG_MESSAGES[attempt.wrong]), reason)

      // 4. The check. The hash is verified whether or not the account exists or has a password.
      if (attempt.password !== undefined) {
        const ok = await passwords.matches(user?.password_hash ?? (await passwords.dummyHash()), attempt.password)
        if (user === undefined || user.password_hash === null) throw await wrong('unknown account or no password')
        if (!ok) throw await wrong('wrong password')
      }
      let factor: GatePassed['secondFactor'] = null
      let passkeyId: string | undefined
      if (attempt.passkey !== undefined) {
        // Both factors at once: the authenticator holds the key and verified its user.
        const result = await secondFactor.verifyPasskey(user?.id ?? NO_USER, attempt.passkey, true)
        if (!result.ok) throw await wrong(result.reason)
        factor = 'passkey'
        passkeyId = result.passkeyId
      }
      if (user === undefined) throw await wrong('unknown account')
      const second = attempt.secondFactor
      if (second !== undefined && (second.mode !== 'if-enrolled' || (await secondFactor.enabled(user.id)))) {
        if (second.passkey !== undefined && second.mode !== 'enrolment') {
          const result = await secondFactor.verifyPasskey(user.id, second.passkey, false)
          if (!result.ok) throw await wrong(result.reason)
          factor = 'passkey'
          passkeyId = result.passkeyId
        } else if (second.code === undefined) {
          // The password was right: this address guessed nothing wrong, but the pair and
          // the account keep the charge, so missing codes cannot test passwords for free.
          await withOwner(db, (trx) => store.refundThrottle(trx, { decrement: [keys.address] }))
          throw await refuse(
            new AppError(
              'MFA_REQUIRED',
              'this account uses two-factor authentication: send the current code from the authenticator app (or a recovery code) as "code", or a passkey assertion as "passkey"',
            ),
            'second factor missing',
          )
        } else if (second.mode === 'enrolment') {
          if (!(await secondFactor.confirmEnrolment(user.id, second.code))) throw await wrong('wrong enrolment code')
          factor = 'totp'
        } else {
          const how = await secondFactor.verify(user.id, second.code)
          if (how === false) throw await wrong('wrong second factor')
          factor = how
        }
      }
      await withOwner(db, (trx) =>
        store.refundThrottle(trx, { clear: keys.pair, decrement: [keys.address, keys.account] }),
      )
      return {
        user,
        memberships: active,
        orgId,
        secondFactor: factor,
        ...(passkeyId === undefined ? {} : { passkeyId }),
      }
    },
  }
}
