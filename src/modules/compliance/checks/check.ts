import type { Config } from '../../../config.ts'
import type { RootKeyProvider } from '../../../crypto/providers/provider.ts'
import type { Trx } from '../../../db/tenant.ts'
import type { AuditStatus } from '../../audit/audit.service.ts'
import type { PromiseEntry } from '../catalogue.ts'
import type { CheckOutcome, CheckScope, Evidence } from '../compliance.types.ts'

/**
 * What a check reads besides the database: the running configuration and what only the
 * process knows (its listeners, its root key, its open routes). Built once by the module.
 */
export interface ComplianceEnvironment {
  readonly config: Config
  readonly engine: 'pglite' | 'postgres'
  readonly version: string
  readonly publicUrl: string
  /** The root key's provider: its kind, the id of the key loaded, whether the vault is sealed. */
  readonly rootKey: Pick<RootKeyProvider, 'kind' | 'keyId' | 'sealed'>
  /** `METHOD /path` of every route served without credentials (the access-control point's `public`). */
  readonly publicRoutes: () => readonly string[]
  /**
   * Where this process listens (set when its listeners are up): the checks of P4.1, P4.2 and
   * P9.2 connect to themselves there. Null before (a CLI, a test app never listening).
   */
  readonly listeners: () => {
    readonly host: string
    readonly httpsPort: number
    readonly httpPort: number | null
  } | null
  /** The promise IDs that have at least one check, for P10.2's own check. */
  readonly checkedPromises: () => ReadonlySet<string>
  /** The promise catalogue (catalogue.ts). */
  readonly catalogue: () => readonly PromiseEntry[]
  /** The promise of each statement of the living security policy, as generated from the configuration (policy.ts). */
  readonly policyPromises: () => readonly string[]
  /** The org's audit log as its status call reports it (audit.service.ts `status`). */
  readonly auditStatus: (orgId: string) => Promise<AuditStatus>
}

/** What a check is given when it runs. */
export interface CheckContext {
  readonly now: Date
  /** The org evaluated; for service checks, the provider org. */
  readonly orgId: string
  readonly orgKind: 'provider' | 'customer'
  /**
   * Org checks: a transaction under the org's row-level security (P2.1), which reads only the
   * org's rows — or, for a check declared `owner`, an owner transaction whose every query names
   * the org. Service checks: an owner transaction (what they read spans orgs by nature: the
   * catalog, every org's keys and destinations); they answer figures, never an org's data.
   */
  readonly trx: Trx
  /** The org's audit log as its status call reported it at the start of the run (read before any check's transaction). */
  readonly audit: AuditStatus
  readonly env: ComplianceEnvironment
}

/** A live check of one promise (docs/compliance.md lists them all). */
export interface CheckDefinition {
  /** `<promise in lower case>/<name>`: `p3.2/members-without-2fa`. */
  readonly id: string
  readonly promise: string
  readonly scope: CheckScope
  /** What it checks, in one sentence. */
  readonly title: string
  /**
   * An org check that reads what row-level security keeps to the authentication path (people's
   * second factors and passwords, their memberships of other orgs): it runs on an owner
   * transaction, and each of its queries is filtered by the org. Say why beside it.
   */
  readonly owner: boolean
  evaluate(ctx: CheckContext): Promise<CheckOutcome>
}

/** Checks are declared with their promise from the id, so the two never disagree. */
export function check(
  id: string,
  scope: CheckScope,
  title: string,
  evaluate: (ctx: CheckContext) => Promise<CheckOutcome>,
  options: { owner?: boolean } = {},
): CheckDefinition {
  const match = /^(p\d+\.\d+)\/[a-z0-9-]+$/.exec(id)
  if (match === null) throw new Error(`check id ${id} is not <promise>/<name>`)
  return { id, promise: (match[1] as string).toUpperCase(), scope, title, owner: options.owner === true, evaluate }
}

export const pass = (summary: string, evidence: Evidence = {}): CheckOutcome => ({ verdict: 'pass', summary, evidence })
export const fail = (summary: string, evidence: Evidence = {}): CheckOutcome => ({ verdict: 'fail', summary, evidence })
export const notApplicable = (summary: string, evidence: Evidence = {}): CheckOutcome => ({
  verdict: 'not_applicable',
  summary,
  evidence,
})
/** `pass` when `ok`, else `fail`, with the same evidence. */
export const verdict = (ok: boolean, summary: string, evidence: Evidence = {}): CheckOutcome =>
  ok ? pass(summary, evidence) : fail(summary, evidence)

/** At most 20 ids of a list shown as evidence (the count goes beside it). */
export const some = (ids: readonly (string | number)[]): readonly (string | number)[] => ids.slice(0, 20)

/** `n thing` / `n things`. */
export const count = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`

/** A timestamp column as RFC 3339, or null. */
export const iso = (value: Date | string | null | undefined): string | null =>
  value === null || value === undefined ? null : new Date(value).toISOString()

/** Whole days between two times (rounded down). */
export const daysBetween = (from: Date, to: Date): number => Math.floor((to.getTime() - from.getTime()) / 86_400_000)
