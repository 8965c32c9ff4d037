import type { Kysely } from 'kysely'
import type { DB } from '../../db/schema.ts'
import { withOrg, type Trx } from '../../db/tenant.ts'
import { absent, AppError } from '../../errors.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { AccessService } from '../access/access.service.ts'
import { assertWithinOwn } from '../access/bounds.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { stringValue } from '../vault/vault.types.ts'
import { resolveIssuer, type OidcRelyingParty, type SsoPreset } from './sso.oidc.ts'
import * as store from './sso.store.ts'
import { parseDomain } from '../../email-address.ts'
import { assertPathsWithin } from '../vault/secret-paths.ts'

/**
 * An org's single sign-on set-up (P3.3) and "SSO only" (P3.4). The client secret is kept
 * in the vault as the secret `sso/client-secret` (envelope-encrypted, audited, rotated
 * and crypto-erased like any other). A configuration is saved only once the provider's
 * discovery document answers for it.
 */
export interface SsoConfigInput {
  preset: SsoPreset
  issuer?: string | undefined
  tenant?: string | undefined
  clientId: string
  clientSecret?: string | undefined
  allowedDomains: string[]
  defaultRole: string
  jitProvisioning?: boolean | undefined
  enabled?: boolean | undefined
}

export interface SsoConfigView {
  preset: SsoPreset
  issuer: string
  clientId: string
  clientSecretId: string
  allowedDomains: string[]
  defaultRole: string
  jitProvisioning: boolean
  enabled: boolean
  ssoOnly: boolean
  /** Register this at the identity provider. */
  redirectUri: string
  /** Where the org's people start signing in. */
  loginUrl: string
  lastLoginAt: string | null
  updatedAt: string
}

export interface SsoService {
  get(ctx: RequestContext): Promise<SsoConfigView>
  put(ctx: RequestContext, input: SsoConfigInput): Promise<SsoConfigView>
  remove(ctx: RequestContext): Promise<void>
  /**
   * Turns "SSO only" on (erasing every member's password hash) or off. On needs SSO set
   * up, enabled and proven by one successful sign-in, unless forced.
   */
  setSsoOnly(
    ctx: RequestContext,
    input: { ssoOnly: boolean; force?: boolean | undefined },
  ): Promise<{ ssoOnly: boolean; erasedPasswordHashes: number }>
}

export const CLIENT_SECRET_NAME = 'sso/client-secret'

export function createSsoService(deps: {
  db: Kysely<DB>
  vault: () => Pick<VaultService, 'keepValue' | 'openCurrent' | 'removeIn'>
  access: Pick<AccessService, 'assertAssignable'>
  audit: Pick<AuditService, 'append'>
  rp: OidcRelyingParty
  publicUrl: string
}): SsoService {
  const { db, access, audit, rp } = deps
  const redirectUri = `${deps.publicUrl}/v1/sso/callback`
  const by = (ctx: RequestContext) => `${ctx.principal.kind}:${ctx.principal.id}`
  const record = (trx: Trx, ctx: RequestContext, action: string, details: Record<string, unknown>) =>
    audit.append(trx, {
      orgId: ctx.orgId,
      actor: actorOf(ctx.principal),
      action,
      target: { type: 'org', id: ctx.orgId },
      outcome: 'success',
      details,
      meta: ctx.meta,
    })

  function view(row: store.SsoConfigRow): SsoConfigView {
    return {
      preset: row.preset,
      issuer: row.issuer,
      clientId: row.client_id,
      clientSecretId: row.client_secret_id,
      allowedDomains: row.allowed_domains,
      defaultRole: row.default_role,
      jitProvisioning: row.jit_provisioning,
      enabled: row.enabled,
      ssoOnly: row.sso_only,
      redirectUri,
      loginUrl: `${deps.publicUrl}/v1/sso/${row.org_id}/start`,
      lastLoginAt: row.last_login_at?.toISOString() ?? null,
      updatedAt: row.updated_at.toISOString(),
    }
  }

  async function existing(trx: Trx, orgId: string): Promise<store.SsoConfigRow> {
    const row = await store.findConfig(trx, orgId)
    if (row === undefined) throw absent('this org has no single sign-on set up')
    return row
  }

  function domains(input: string[]): string[] {
    // K6: by the same parser as the addresses they are compared with (lower-case, IDN as A-labels).
    const parsed = input.map((d) => parseDomain(d))
    const errors = parsed
      .map((d, i) => ({ d, i }))
      .filter(({ d }) => d === undefined)
      .map(({ i }) => ({
        path: `/body/allowedDomains/${i}`,
        message: `${JSON.stringify(input[i])} is not a domain name`,
      }))
    if (errors.length > 0)
      throw new AppError('VALIDATION_FAILED', 'allowed email domains must be domain names (example.com)', { errors })
    return [...new Set(parsed as string[])]
  }

  return {
    async get(ctx) {
      return view(await withOrg(db, ctx.orgId, (trx) => existing(trx, ctx.orgId)))
    },

    async put(ctx, input) {
      const issuer = resolveIssuer(input.preset, input)
      const allowedDomains = domains(input.allowedDomains)
      if (input.defaultRole === 'owner') {
        throw new AppError('VALIDATION_FAILED', 'sign-in cannot make anyone an owner', {
          errors: [{ path: '/body/defaultRole', message: 'owner cannot be the default role' }],
        })
      }
      // The default role is given to everyone who signs in first: it is bounded by the
      // caller's own permissions (issue 11 K3), refused before the provider is contacted.
      // Members made by sign-in reach every secret path: a caller limited to paths may not make them.
      assertPathsWithin(ctx.principal.secretPaths, null, 'the members single sign-on makes')
      const current = await withOrg(db, ctx.orgId, async (trx) => {
        await access.assertAssignable(trx, ctx, input.defaultRole)
        return store.findConfig(trx, ctx.orgId)
      })
      if (current?.sso_only === true && input.enabled === false) {
        throw new AppError(
          'SSO_NOT_READY',
          'this org is SSO-only: disabling SSO would lock every member out; turn SSO-only off first',
        )
      }
      // The kept client secret goes to whichever issuer is set (its discovery now, each
      // sign-in's token request after): keeping it for a new issuer sends a vault secret out,
      // so that takes the permission that reads it (vault:reveal) — or the secret given again.
      if (input.clientSecret === undefined && current !== undefined && current.issuer !== issuer)
        assertWithinOwn(ctx.principal, ['vault:reveal'], 'a new issuer (the kept client secret is sent to it)')
      let secret = input.clientSecret
      if (secret === undefined) {
        if (current === undefined)
          throw new AppError('VALIDATION_FAILED', 'the client secret is required when setting up SSO', {
            errors: [{ path: '/body/clientSecret', message: 'required' }],
          })
        secret = stringValue(
          await withOrg(db, ctx.orgId, (trx) => deps.vault().openCurrent(trx, ctx.orgId, current.client_secret_id)),
        )
      }
      // Proves issuer, client and network path before anything is saved.
      await rp.configuration(issuer, input.clientId, secret)
      return withOrg(db, ctx.orgId, async (trx) => {
        await access.assertAssignable(trx, ctx, input.defaultRole)
        const secretId =
          input.clientSecret === undefined && current !== undefined
            ? current.client_secret_id
            : await deps.vault().keepValue(trx, ctx, {
                secretId: current?.client_secret_id,
                name: CLIENT_SECRET_NAME,
                description: 'OpenID Connect client secret of this org’s single sign-on',
                value: secret,
              })
        const row = await store.upsertConfig(trx, {
          org_id: ctx.orgId,
          preset: input.preset,
          issuer,
          client_id: input.clientId,
          client_secret_id: secretId,
          allowed_domains: allowedDomains,
          default_role: input.defaultRole,
          jit_provisioning: input.jitProvisioning ?? true,
          enabled: input.enabled ?? true,
          updated_by: by(ctx),
          // A new issuer has not been proven by a sign-in yet.
          ...(current !== undefined && current.issuer !== issuer ? { last_login_at: null } : {}),
        })
        await record(trx, ctx, 'org.sso.update', {
          preset: input.preset,
          issuer,
          clientId: input.clientId,
          allowedDomains,
          defaultRole: input.defaultRole,
          jitProvisioning: row.jit_provisioning,
          enabled: row.enabled,
          clientSecretChanged: input.clientSecret !== undefined,
        })
        return view(row)
      })
    },

    async remove(ctx) {
      await withOrg(db, ctx.orgId, async (trx) => {
        const row = await existing(trx, ctx.orgId)
        if (row.sso_only)
          throw new AppError(
            'SSO_NOT_READY',
            'this org is SSO-only: removing SSO would lock every member out; turn SSO-only off first',
          )
        await store.deleteConfig(trx, ctx.orgId)
        await deps.vault().removeIn(trx, ctx, row.client_secret_id)
        await record(trx, ctx, 'org.sso.delete', { issuer: row.issuer, clientId: row.client_id })
      })
    },

    async setSsoOnly(ctx, input) {
      return withOrg(db, ctx.orgId, async (trx) => {
        const row = await existing(trx, ctx.orgId)
        let erased = 0
        if (input.ssoOnly) {
          if (!row.enabled) throw new AppError('SSO_NOT_READY', 'SSO is disabled for this org; enable it first')
          if (row.last_login_at === null && input.force !== true) {
            throw new AppError(
              'SSO_NOT_READY',
              'nobody has signed in with this SSO set-up yet: sign in once to prove it works (or send "force": true)',
            )
          }
          erased = await store.erasePasswordsOfMembers(trx)
        }
        await store.setSsoOnly(trx, ctx.orgId, input.ssoOnly, by(ctx))
        await record(trx, ctx, 'org.sso.enforcement', {
          ssoOnly: input.ssoOnly,
          erasedPasswordHashes: erased,
          forced: input.force === true,
        })
        return { ssoOnly: input.ssoOnly, erasedPasswordHashes: erased }
      })
    },
  }
}
