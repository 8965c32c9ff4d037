import type { RequestContext } from '../../context.ts'
import type { Trx } from '../../db/tenant.ts'
import { AppError } from '../../errors.ts'
import type { VaultService } from '../vault/vault.service.ts'
import { stringValue } from '../vault/vault.types.ts'

/**
 * Rotation of a signing secret (a webhook's, a consent recipient's): the new secret becomes
 * the vault's current version and is answered once; for `SIGNING_OVERLAP_MS` afterwards,
 * every delivery carries a signature under the previous version as well, so a receiver
 * can switch secrets without refusing anything sent meanwhile. After that, only the new
 * secret signs. A previous version that cannot be opened any more (reported exposed,
 * destroyed, the secret paused) simply stops signing: an exposed secret never signs again.
 */

/** How long the previous secret keeps signing after a rotation: 24 hours, in milliseconds. */
export const SIGNING_OVERLAP_MS = 24 * 60 * 60 * 1000

/** The columns of a row that signs with a vault secret (`webhooks`, `consent_recipients`, migration 0051). */
export interface SigningSecretRef {
  secret_id: string
  previous_secret_version: number | null
  previous_secret_until: Date | null
}

type SigningVault = Pick<VaultService, 'keepValue' | 'openCurrent' | 'openVersion' | 'currentVersionIn'>

/**
 * In the caller's transaction, at `now` (the service's clock): keeps `value` as the next current version of the row's secret
 * (audited by the vault as `secret.version.create`, with the caller's context) and returns
 * the columns to set on the row, with the new version number (for the caller's audit event).
 */
export async function rotateSigningSecret(
  trx: Trx,
  ctx: RequestContext,
  vault: Pick<SigningVault, 'keepValue' | 'currentVersionIn'>,
  now: Date,
  row: { secret_id: string; name: string; description: string },
  value: string,
): Promise<{ version: number; previous_secret_version: number; previous_secret_until: Date }> {
  const previous = await vault.currentVersionIn(trx, row.secret_id)
  await vault.keepValue(trx, ctx, {
    secretId: row.secret_id,
    name: row.name,
    description: row.description,
    value,
  })
  return {
    version: await vault.currentVersionIn(trx, row.secret_id),
    previous_secret_version: previous,
    previous_secret_until: new Date(now.getTime() + SIGNING_OVERLAP_MS),
  }
}

/**
 * The details of a rotation's audit event (`webhook.secret.rotate`,
 * `consent.recipient.secret.rotate`): the row's name and the version numbers, with when the
 * previous version stops signing (ISO 8601) — never a value.
 */
export function rotationDetails(
  name: string,
  rotated: { version: number; previous_secret_version: number; previous_secret_until: Date },
): { name: string; version: number; previousVersion: number; previousSignsUntil: string } {
  return {
    name,
    version: rotated.version,
    previousVersion: rotated.previous_secret_version,
    previousSignsUntil: rotated.previous_secret_until.toISOString(),
  }
}

/**
 * The secrets a delivery is signed with now: the current one first, then the previous one
 * while its overlap lasts and it can still be opened. Throws as `openCurrent` does when the
 * current one cannot be opened (the delivery fails with why).
 */
export async function signingSecretsOf(
  trx: Trx,
  orgId: string,
  vault: Pick<SigningVault, 'openCurrent' | 'openVersion'>,
  ref: SigningSecretRef,
  now: Date,
): Promise<string[]> {
  const current = stringValue(await vault.openCurrent(trx, orgId, ref.secret_id))
  if (ref.previous_secret_version === null || ref.previous_secret_until === null || ref.previous_secret_until <= now)
    return [current]
  try {
    return [current, stringValue(await vault.openVersion(trx, orgId, ref.secret_id, ref.previous_secret_version))]
  } catch (error) {
    if (!(error instanceof AppError)) throw error
    return [current]
  }
}
