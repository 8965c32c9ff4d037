import { AppError } from '../../errors.ts'
import type { Principal } from '../../context.ts'

/*
 * A credential derived from another never carries more than it (issue 11 K3). Whatever a
 * caller makes — an API token, a service account, an invitation, a member's new role, a
 * custom role, the SSO default role, a diagnostic grant it asks for or approves — holds at
 * most the caller's own effective permissions: `principal.permissions`, which is its role's
 * permissions narrowed by its token's scopes, or a grant's permissions. Checked here, in one
 * place, so every route refuses the same way.
 */

/** The permissions of `wanted` that `principal` does not have itself, sorted. */
export function lackedBy(principal: Pick<Principal, 'permissions'>, wanted: Iterable<string>): string[] {
  return [...new Set(wanted)].filter((p) => !(principal.permissions as ReadonlySet<string>).has(p)).sort()
}

/**
 * Throws 403 EXCEEDS_OWN_PERMISSIONS, naming what is missing, unless `principal` holds every
 * permission in `wanted`. `what` names the thing being made, for people ("this role").
 */
export function assertWithinOwn(
  principal: Pick<Principal, 'permissions'>,
  wanted: Iterable<string>,
  what: string,
): void {
  const missing = lackedBy(principal, wanted)
  if (missing.length > 0) {
    throw new AppError(
      'EXCEEDS_OWN_PERMISSIONS',
      `${what} would carry permissions you do not have: ${missing.join(', ')}`,
      { missingPermissions: missing },
    )
  }
}
