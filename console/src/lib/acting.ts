import { useSyncExternalStore } from 'react'

/**
 * The diagnostic access grant an operator is acting under (P2.8), if any. While it is set,
 * every request to that org's routes (`/v1/orgs/{orgId}…`) carries its id as the
 * `X-Custodian-Grant` header (lib/api.ts), which is how the API lets a provider-org session
 * into a customer's org (src/http/access-control.ts); no other request carries it. The
 * org's pages open for it (app/guards.tsx RequireOrg) with the grant's permissions, and a
 * banner says so (features/grants/ActingBanner.tsx). Leaving the grant ends it here; the
 * API still decides every use, and refuses one the org revoked.
 *
 * Kept in sessionStorage, like the CSRF token, so a reload keeps acting: a grant's id is no
 * credential (only its grantee's own session or token can use it) and it dies with the tab.
 */
export interface ActingGrant {
  id: string
  orgId: string
  orgName: string
  expiresAt: string
  permissions: string[]
  secretIds: string[]
  /** The named secrets' names, once read under the grant (each read is a use in the org's log): id → name. */
  secretNames?: Record<string, string>
}

const KEY = 'custodian.grant'
const listeners = new Set<() => void>()
let current: ActingGrant | null = load()
let refusals = 0

function load(): ActingGrant | null {
  try {
    const stored = sessionStorage.getItem(KEY)
    return stored === null ? null : (JSON.parse(stored) as ActingGrant)
  } catch {
    return null
  }
}

function emit(): void {
  for (const listener of listeners) listener()
}

const subscribe = (listener: () => void) => {
  listeners.add(listener)
  return () => listeners.delete(listener)
}

/** Starts acting under `grant`, or (null) leaves the grant the console acts under. */
export function actUnder(grant: ActingGrant | null): void {
  current = grant
  if (grant === null) sessionStorage.removeItem(KEY)
  else sessionStorage.setItem(KEY, JSON.stringify(grant))
  emit()
}

/**
 * Keeps the named secrets' names with the grant acted under (for the tab's life), so the
 * banner reads them once, not on every page load.
 */
export function rememberSecretNames(names: Record<string, string>): void {
  if (current === null) return
  actUnder({ ...current, secretNames: { ...current.secretNames, ...names } })
}

/** The grant acted under now, or null. */
export function actingGrant(): ActingGrant | null {
  return current
}

/** The grant acted under, as React state. */
export function useActingGrant(): ActingGrant | null {
  return useSyncExternalStore(subscribe, actingGrant)
}

/**
 * Whether the console may ask `orgId` for something needing `permission` on its own (a
 * name lookup, a picker's options): always in the session's own org, where a refusal is
 * only shown; under a grant to that org, only when the grant holds the permission — a
 * request beyond it is refused and raises the org's high alert (grant_misuse).
 */
export function useGrantAllows(orgId: string, permission: string): boolean {
  const grant = useActingGrant()
  return grant === null || grant.orgId !== orgId.toLowerCase() || grant.permissions.includes(permission)
}

/**
 * Whether revealing `secretId` may be offered: always outside a grant (the API decides and
 * its refusal is shown); under a grant to that org, only when it holds vault:reveal and names
 * the secret — any other reveal is refused and counted as an attempt beyond the grant.
 */
export function useGrantAllowsReveal(orgId: string, secretId: string): boolean {
  const grant = useActingGrant()
  if (grant === null || grant.orgId !== orgId.toLowerCase()) return true
  return grant.permissions.includes('vault:reveal') && grant.secretIds.includes(secretId.toLowerCase())
}

/** The grant id a request to `pathname` carries: only the acted-under org's routes get one. */
export function grantFor(pathname: string): string | undefined {
  if (current === null) return undefined
  const prefix = `/v1/orgs/${current.orgId}`
  const path = pathname.toLowerCase()
  return path === prefix || path.startsWith(`${prefix}/`) ? current.id : undefined
}

/** A request under the grant was refused as if the org did not exist (revoked, expired, withdrawn). */
export function noteGrantRefusal(): void {
  refusals++
  emit()
}

/** How many requests under the grant were refused so far (the banner then asks the grant's state again). */
export function useGrantRefusals(): number {
  return useSyncExternalStore(subscribe, () => refusals)
}

/**
 * Why a request under the acted-under grant was refused once the grant has ended (the API
 * answers "no such org", as it would to anyone outside the org): the grant's state, in the
 * words a refusal shows.
 */
export function endedGrantDetail(grant: ActingGrant, status: string): string {
  return `the grant you act under is ${status}: ${grant.orgName} refuses every request under it; leave the grant`
}
