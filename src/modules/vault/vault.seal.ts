import type { Kysely } from 'kysely'
import { AppError } from '../../errors.ts'
import { confirmCredential } from '../../db/credential-epoch.ts'
import type { DB } from '../../db/schema.ts'
import { actorOf, type RequestContext } from '../../context.ts'
import type { RootKeyProvider } from '../../crypto/providers/provider.ts'
import { InvalidSharesError, type ShamirProvider } from '../../crypto/providers/shamir.ts'
import type { AuditService } from '../audit/audit.service.ts'
import type { AuditActor, RequestMeta } from '../audit/audit.types.ts'
import type { Keyring } from './vault.keyring.ts'

export interface SealStatus {
  provider: RootKeyProvider['kind']
  sealed: boolean
  progress: number
  threshold: number
}

/**
 * Seal and unseal (Shamir provider). Unsealing takes shares, not a login: whoever holds
 * enough shares may unseal, as with a bank vault's keys. Shares never reach the log or
 * the audit trail; the events record progress only. Events go to the provider org's log.
 */
export interface SealService {
  status(): SealStatus
  submitShare(share: string, meta: RequestMeta): Promise<SealStatus>
  seal(ctx: RequestContext): Promise<SealStatus>
}

export function createSealService(deps: {
  /** The request's cached credential, if any, is confirmed on it before sealing (P2.6). */
  db: Kysely<DB>
  provider: RootKeyProvider
  keyring: Pick<Keyring, 'forget'>
  audit: Pick<AuditService, 'recordSeparately'>
  providerOrgId: () => Promise<string | undefined>
}): SealService {
  const { provider, keyring, audit } = deps

  function status(): SealStatus {
    if (provider.kind === 'shamir') return { provider: provider.kind, ...(provider as ShamirProvider).progress() }
    return { provider: provider.kind, sealed: provider.sealed(), progress: 0, threshold: 0 }
  }

  function shamir(): ShamirProvider {
    if (provider.kind !== 'shamir')
      throw new AppError('CONFLICT', `the ${provider.kind} root-key provider is not sealed with shares`)
    return provider as ShamirProvider
  }

  async function record(
    action: string,
    outcome: 'success' | 'failure',
    details: Record<string, unknown>,
    meta: RequestMeta,
    actor: AuditActor = { type: 'anonymous', id: null },
  ) {
    const orgId = await deps.providerOrgId()
    if (orgId !== undefined)
      await audit.recordSeparately({
        orgId,
        actor,
        action,
        target: { type: 'vault', id: provider.keyId() },
        outcome,
        details,
        meta,
      })
  }

  return {
    status,
    async submitShare(share, meta) {
      const vault = shamir()
      const wasSealed = vault.sealed()
      try {
        const progress = await vault.submitShare(share)
        if (wasSealed && !progress.sealed) await record('vault.unseal', 'success', {}, meta)
        else if (wasSealed)
          await record(
            'vault.unseal.share',
            'success',
            { progress: progress.progress, threshold: progress.threshold },
            meta,
          )
        return status()
      } catch (error) {
        if (error instanceof InvalidSharesError) {
          await record('vault.unseal', 'failure', { error: error.message }, meta)
          throw new AppError('UNSEAL_SHARES_INVALID', error.message, {
            errors: [{ path: '/body/share', message: error.message }],
          })
        }
        throw error
      }
    },
    async seal(ctx) {
      const vault = shamir()
      // Sealing acts in this process's memory, before any transaction that would confirm a
      // credential taken from the cache: one revoked in another process is refused first (P2.6).
      await confirmCredential(deps.db)
      vault.seal()
      keyring.forget()
      await record('vault.seal', 'success', {}, ctx.meta, actorOf(ctx.principal))
      return status()
    },
  }
}
