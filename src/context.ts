import type { Permission } from './modules/access/permissions.ts'
import type { AuditActor, RequestMeta } from './modules/audit/audit.types.ts'

/*
 * The request context and actor that routes build and services take. It knows no
 * transport: the HTTP layer fills it from a credential, the CLI and jobs from their own
 * identity, and every service reads only this.
 */

/**
 * Who is calling, resolved from a credential before any handler runs. A principal
 * belongs to exactly one org: an API token to the org it was issued in, a session to the
 * org its user signed in to.
 */
export interface Principal {
  /** `system`: Custodian itself, applying an org's standing policy (never from a request). */
  kind: 'user' | 'service_account' | 'system'
  id: string
  orgId: string
  orgKind: 'provider' | 'customer'
  role: string
  /** What the principal may do here: its role's permissions, narrowed by a token's scopes. */
  permissions: ReadonlySet<Permission>
  /**
   * Where in the vault those permissions reach (docs/secret-paths.md): one list of path
   * patterns per binding the principal acts through — a session its membership's; a token
   * its owner's (membership or service account) and its own. A secret is in scope only if
   * every list has a pattern matching its name; no list at all: every secret.
   */
  secretPaths: readonly (readonly string[])[]
  via: { type: 'token'; tokenId: string } | { type: 'session'; sessionId: string }
  /** Second factor: is the user enrolled, and when did this session last pass it. */
  mfa: { enrolled: boolean; at: Date | null }
  /** The org's security policy as it applies to this principal. */
  policy: {
    require2fa: boolean
    stepUpMinutes: number /** P2.9 ranges; empty: any address. */
    ipAllowlist: readonly string[]
  }
  /**
   * Set when an operator acts in a customer org under a diagnostic access grant (P2.8):
   * `permissions` are then the grant's, and revealing is limited to `secretIds`.
   */
  grant?: { id: string; secretIds: readonly string[] }
}

/** What a service needs to know about the request it serves. */
export interface RequestContext {
  principal: Principal
  /** The org the request acts in (always the principal's own org for now). */
  orgId: string
  meta: RequestMeta
}

/** The audit actor that stands for a principal. */
export function actorOf(principal: Principal): AuditActor {
  return { type: principal.kind, id: principal.id }
}
