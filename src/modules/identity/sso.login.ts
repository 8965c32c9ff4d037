import { createHmac, randomBytes, randomUUID } from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Config } from '../../config.ts'
import { hashSecret, secretMatches } from '../../crypto/tokens.ts'
import type { DB } from '../../db/schema.ts'
import { withOrg, withOwner, type Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import { allowlistOf } from './ip-allowlist.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditEventInput, RequestMeta } from '../audit/audit.types.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { stringValue } from '../vault/vault.types.ts'
import { startSession } from './auth.service.ts'
import * as identityStore from './identity.store.ts'
import { SsoValidationError, type IdTokenClaims, type OidcRelyingParty } from './sso.oidc.ts'
import * as store from './sso.store.ts'
import { parseDomain, parseMailbox } from '../../email-address.ts'
import type { OrgServedGuard } from '../audit/rollback.service.ts'

/**
 * Signing in through the org's OpenID provider (P3.3): authorization code flow with PKCE,
 * `state` and `nonce`.
 *
 * - `state` is random; only its SHA-256 is stored, and the row is consumed once, so a
 *   replayed or forged callback finds nothing.
 * - The flow is bound to the browser that started it: a random binding value goes into a
 *   `__Host-` cookie and only its hash into the state row. The PKCE verifier and the
 *   nonce are HMACs of that value — nothing that could finish the exchange is at rest.
 * - The ID token is validated by openid-client (signature, issuer, audience, expiry,
 *   nonce); then the email must be verified and in the org's allowed domains.
 * - People are matched by the provider's subject once linked (an email can be reassigned
 *   at the provider); the first sign-in links an existing member by email, honours a
 *   pending invitation, or — just-in-time provisioning — adds the person with the org's
 *   default role. A member the org removed is not brought back by provisioning.
 * - The org's IP allowlist applies (P2.9). In an SSO-only org nobody keeps a password
 *   hash (P3.4). Every success and refusal is an audit event.
 */
export interface SsoLogin {
  start(
    orgId: string,
    input: { loginHint?: string | undefined; returnTo?: SsoReturnTo | undefined },
    meta: RequestMeta,
  ): Promise<{ redirectTo: string; binding: string }>
  /**
   * Where the flow named by a callback's `state` was to go back to (`console`), or null
   * (JSON): known for any flow still kept, used or expired; null for an unknown state. It
   * decides only how the callback's answer is presented.
   */
  returnToOf(state: string | null): Promise<SsoReturnTo | null>
  callback(input: { query: URLSearchParams; binding: string | undefined }, meta: RequestMeta): Promise<SsoSignedIn>
}

/** Where a sign-in started by a front end goes back to: a name from a closed list, never a URL. */
export type SsoReturnTo = 'console'

export interface SsoSignedIn {
  sessionToken: string
  csrfToken: string
  expiresAt: Date
  orgId: string
  userId: string
  /** How the person became a member on this sign-in, if they were not one. */
  joined: 'invitation' | 'just-in-time' | null
}

const STATE_TTL_MS = 10 * 60_000

export function createSsoLogin(deps: {
  db: Kysely<DB>
  config: Pick<Config, 'auth'>
  vault: () => Pick<VaultService, 'openCurrent'>
  audit: Pick<AuditService, 'append' | 'recordSeparately'>
  rp: OidcRelyingParty
  publicUrl: string
  providerOrgId: () => Promise<string | undefined>
  /** Rollback detection (P8.1): a callback into a refused org signs nobody in. */
  served: Pick<OrgServedGuard, 'assertServed'>
}): SsoLogin {
  const { db, audit, rp } = deps
  const redirectUri = `${deps.publicUrl}/v1/sso/callback`
  const derive = (binding: string, purpose: string) => createHmac('sha256', binding).update(purpose).digest('base64url')

  /** Records a refused sign-in (in its own transaction) and returns the error to throw. */
  async function refuse(
    orgId: string | undefined,
    code:
      | 'SSO_STATE_INVALID'
      | 'SSO_FAILED'
      | 'SSO_EMAIL_NOT_ALLOWED'
      | 'SSO_NOT_A_MEMBER'
      | 'IP_NOT_ALLOWED'
      | 'NOT_FOUND'
      | 'SSO_PROVIDER_UNAVAILABLE',
    reason: string,
    meta: RequestMeta,
    extra: Partial<AuditEventInput> = {},
  ): Promise<AppError> {
    const messages: Record<typeof code, string> = {
      SSO_STATE_INVALID:
        'this sign-in is unknown, expired, already used or was started in another browser: start again',
      SSO_FAILED: 'the identity provider’s answer did not pass validation; nothing was signed in',
      SSO_EMAIL_NOT_ALLOWED: 'this account’s email is not verified or not in a domain this org allows',
      SSO_NOT_A_MEMBER: 'this account is not a member of the org; ask an admin for an invitation',
      IP_NOT_ALLOWED: 'this org accepts sign-ins only from its allowed addresses',
      NOT_FOUND: 'this org has no single sign-on enabled',
      SSO_PROVIDER_UNAVAILABLE: 'the identity provider could not be reached; try again',
    }
    const target = orgId ?? (await deps.providerOrgId())
    if (target !== undefined) {
      await audit.recordSeparately({
        orgId: target,
        actor: { type: 'anonymous', id: null },
        action: 'auth.login',
        outcome: 'denied',
        details: { method: 'sso', reason },
        meta,
        ...extra,
      })
    }
    const error = new AppError(code, messages[code])
    error.audited = true
    return error
  }

  async function assertAllowedAddress(orgId: string, meta: RequestMeta): Promise<void> {
    const policy = await identityStore.signInPolicy(db, orgId)
    if (!allowlistOf(policy.ipAllowlist).allows(meta.ip))
      throw await refuse(orgId, 'IP_NOT_ALLOWED', 'address not allowed', meta)
  }

  /** The org's enabled configuration and its client secret (opened in the vault). */
  async function configurationOf(orgId: string) {
    return withOrg(db, orgId, async (trx) => {
      const row = await store.findConfig(trx, orgId)
      if (row === undefined || !row.enabled) return undefined
      return { row, secret: stringValue(await deps.vault().openCurrent(trx, orgId, row.client_secret_id)) }
    })
  }

  /** Decides who signs in; runs in the owner transaction that also issues the session. */
  async function resolveMember(
    trx: Trx,
    row: store.SsoConfigRow,
    claims: { subject: string; email: string },
    meta: RequestMeta,
  ) {
    const orgId = row.org_id
    const join = async (userId: string, role: string, via: 'invitation' | 'just-in-time', invitationId?: string) => {
      await identityStore.insertMembership(trx, { org_id: orgId, user_id: userId, role })
      if (invitationId !== undefined) await identityStore.markInvitationAccepted(trx, invitationId)
      await audit.append(trx, {
        orgId,
        actor: { type: 'user', id: userId },
        action: 'member.add',
        target: { type: 'user', id: userId },
        outcome: 'success',
        details: { role, via: `sso-${via}`, ...(invitationId === undefined ? {} : { invitation: invitationId }) },
        meta,
      })
      return via
    }
    const invitationOrProvisioning = async (userId: string, blocked: boolean) => {
      const invitation = await store.pendingInvitationFor(trx, orgId, claims.email)
      if (invitation !== undefined) return join(userId, invitation.role, 'invitation', invitation.id)
      if (blocked) return 'removed' as const
      if (row.jit_provisioning) return join(userId, row.default_role, 'just-in-time')
      return 'not-member' as const
    }

    const link = await store.findIdentity(trx, orgId, row.issuer, claims.subject)
    let userId: string
    let joined: 'invitation' | 'just-in-time' | 'removed' | 'not-member' | null = null
    if (link !== undefined) {
      userId = link.user_id
      if (!(await store.isMember(trx, orgId, userId)))
        joined = await invitationOrProvisioning(userId, link.blocked_at !== null)
    } else {
      let user = await identityStore.findUserByEmail(trx, claims.email)
      if (user !== undefined && (await store.findIdentityOfUser(trx, orgId, row.issuer, user.id)) !== undefined) {
        // This email's account is linked to another subject at the provider: the address
        // was reassigned there. The new holder is not the old account.
        return { outcome: 'mismatch' as const }
      }
      if (user !== undefined && (await store.isMember(trx, orgId, user.id))) {
        userId = user.id
      } else {
        const invitation = await store.pendingInvitationFor(trx, orgId, claims.email)
        if (invitation === undefined && !row.jit_provisioning) return { outcome: 'not-member' as const }
        if (user === undefined) {
          await identityStore.insertUser(trx, {
            id: randomUUID(),
            email: claims.email,
            password_hash: null,
            last_login_at: null,
          })
          user = (await identityStore.findUserByEmail(trx, claims.email)) as identityStore.UserRow // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- a false report: tsc fails without it
        }
        userId = user.id
        joined =
          invitation !== undefined
            ? await join(userId, invitation.role, 'invitation', invitation.id)
            : await join(userId, row.default_role, 'just-in-time')
      }
    }
    if (joined === 'removed' || joined === 'not-member') return { outcome: joined }
    await store.saveIdentity(trx, {
      org_id: orgId,
      issuer: row.issuer,
      subject: claims.subject,
      user_id: userId,
      email: claims.email,
    })
    return { outcome: 'member' as const, userId, joined }
  }

  return {
    async start(orgId, input, meta) {
      const found = await configurationOf(orgId)
      if (found === undefined) throw new AppError('NOT_FOUND', 'this org has no single sign-on enabled')
      await assertAllowedAddress(orgId, meta)
      const config = await rp.configuration(found.row.issuer, found.row.client_id, found.secret)
      const state = randomBytes(32).toString('base64url')
      const binding = randomBytes(32).toString('base64url')
      await store.insertLoginState(db, {
        state_hash: hashSecret(state),
        org_id: orgId,
        binding_hash: hashSecret(binding),
        expires_at: new Date(Date.now() + STATE_TTL_MS),
        return_to: input.returnTo ?? null,
      })
      const url = await rp.authorizationUrl(config, {
        redirectUri,
        state,
        nonce: derive(binding, 'nonce'),
        codeVerifier: derive(binding, 'pkce-code-verifier'),
        loginHint: input.loginHint,
      })
      return { redirectTo: url.href, binding }
    },

    async returnToOf(state) {
      if (state === null || state.length > 200) return null
      return (await store.loginReturnTo(db, hashSecret(state))) ?? null
    },

    async callback(input, meta) {
      const state = input.query.get('state')
      if (state === null || state.length > 200) throw await refuse(undefined, 'SSO_STATE_INVALID', 'no state', meta)
      // P8.1: a state of an org refused now is left as it is (nothing of that org is written)
      // and signs nobody in; it may complete once the org is served again, if not expired.
      const startedFor = await store.loginStateOrg(db, hashSecret(state))
      if (startedFor !== undefined) deps.served.assertServed(startedFor)
      // Consumed before anything else: whatever happens next, this state is spent.
      const pending = await store.consumeLoginState(db, hashSecret(state))
      if (pending === undefined)
        throw await refuse(undefined, 'SSO_STATE_INVALID', 'unknown or already used state', meta)
      const orgId = pending.org_id
      if (pending.expired) throw await refuse(orgId, 'SSO_STATE_INVALID', 'state expired', meta)
      if (input.binding === undefined || !secretMatches(input.binding, pending.binding_hash))
        throw await refuse(orgId, 'SSO_STATE_INVALID', 'state not bound to this browser', meta)
      await assertAllowedAddress(orgId, meta)
      const error = input.query.get('error')
      if (error !== null) throw await refuse(orgId, 'SSO_FAILED', `the provider answered ${error.slice(0, 100)}`, meta)

      const found = await configurationOf(orgId)
      if (found === undefined) throw await refuse(orgId, 'NOT_FOUND', 'SSO disabled or removed during sign-in', meta)
      const { row } = found
      let claims: IdTokenClaims
      try {
        const config = await rp.configuration(row.issuer, row.client_id, found.secret)
        const callbackUrl = new URL(redirectUri)
        callbackUrl.search = input.query.toString()
        claims = await rp.exchange(config, callbackUrl, {
          state,
          nonce: derive(input.binding, 'nonce'),
          codeVerifier: derive(input.binding, 'pkce-code-verifier'),
        })
      } catch (caught) {
        if (caught instanceof SsoValidationError) throw await refuse(orgId, 'SSO_FAILED', caught.reason, meta)
        if (caught instanceof AppError && caught.code === 'SSO_PROVIDER_UNAVAILABLE')
          throw await refuse(orgId, 'SSO_PROVIDER_UNAVAILABLE', caught.message.slice(0, 300), meta)
        throw caught
      }

      // K6: the claim must be one plain mailbox, parsed (src/email-address.ts), never split at
      // an '@': `mallory@acme.test@evil.test` is no address in acme.test.
      const claimed = typeof claims.email === 'string' ? claims.email : undefined
      const mailbox = claimed === undefined ? undefined : parseMailbox(claimed)
      const email = mailbox?.address.toLowerCase()
      // Entra ID does not send email_verified; its tenant-specific issuer vouches for the
      // directory's addresses instead (docs/authentication.md).
      const verified =
        claims.email_verified === true || (row.preset === 'microsoft' && claims.email_verified === undefined)
      const allowed = new Set(row.allowed_domains.map((d) => parseDomain(d) ?? d))
      if (mailbox === undefined || email === undefined || !verified || !allowed.has(mailbox.domain)) {
        const reason =
          claimed === undefined
            ? 'no email claim'
            : mailbox === undefined
              ? 'email claim is not one plain address'
              : !verified
                ? 'email not verified'
                : 'email domain not allowed'
        throw await refuse(
          orgId,
          'SSO_EMAIL_NOT_ALLOWED',
          reason,
          meta,
          claimed === undefined ? {} : { sensitive: { email: email ?? claimed.slice(0, 320) } },
        )
      }

      const result = await withOwner(db, async (trx) => {
        const member = await resolveMember(trx, row, { subject: claims.sub, email }, meta)
        if (member.outcome !== 'member') return member
        // P3.4: whoever signs in to an SSO-only org keeps no password hash.
        if (row.sso_only) await store.clearPassword(trx, member.userId)
        await store.markConfigUsed(trx, orgId)
        await identityStore.recordLoginSuccess(trx, member.userId)
        const session = await startSession(trx, deps.config, {
          orgId,
          userId: member.userId,
          meta,
          mfaVerified: false,
          audit,
          details: { method: 'sso', issuer: row.issuer, ...(member.joined === null ? {} : { joined: member.joined }) },
        })
        return { ...member, session }
      })
      if (result.outcome === 'mismatch')
        throw await refuse(orgId, 'SSO_FAILED', 'email linked to another provider subject', meta, {
          sensitive: { email },
        })
      if (result.outcome !== 'member') {
        throw await refuse(
          orgId,
          'SSO_NOT_A_MEMBER',
          result.outcome === 'removed' ? 'removed by the org' : 'not a member and just-in-time provisioning is off',
          meta,
          { sensitive: { email } },
        )
      }
      return { ...result.session, orgId, userId: result.userId, joined: result.joined }
    },
  }
}
