import { localHour } from '../../time-zone.ts'
import type { Severity } from './response.tables.ts'

/**
 * The built-in alert rules (P5.3), evaluated over each org's audit chain as it grows.
 * Each looks at one new event and, where it needs history, asks bounded questions about
 * recent events of the same kind (an index-backed count, never a scan of the whole log).
 * Thresholds, windows and the dedupe window are per org (defaults below); every rule is
 * on by default.
 */
export interface ChainedEvent {
  eventId: string
  time: Date
  /** `application`: the host application's own event (docs/application-events.md). */
  origin: 'custodian' | 'application'
  actorType: string
  actorId: string | null
  action: string
  targetType: string | null
  targetId: string | null
  outcome: string
  ip: string | null
  details: Record<string, unknown>
}

export interface RuleSettings {
  enabled: boolean
  threshold: number
  windowSeconds: number
  dedupeSeconds: number
  /**
   * `application_action` only: the application actions it watches, each exact
   * (`document.export`) or a family (`document.*`). Absent on every other rule.
   */
  actions?: string[] | undefined
}

export interface Firing {
  /** What makes two firings the same alert (within the dedupe window). */
  key: string
  title: string
  details: Record<string, unknown>
}

/** Questions a rule may ask about the org's recent events. */
export interface History {
  /**
   * Events of `action` (and `outcome`) between `from` and `to`, matching one field —
   * counted up to `cap` and no further (a rule only needs to know its threshold is
   * reached), so each question reads at most `cap` rows however busy the org is.
   */
  count(
    filter: {
      action: string
      outcome?: string
      by: { actorId: string } | { ip: string } | { detail: [string, string] }
    },
    from: Date,
    to: Date,
    cap: number,
  ): Promise<number>
  /** Whether the actor revealed a secret between `from` and `to` at one of these hours of the day (in the org's time zone). */
  revealedAtHours(actorId: string, hours: number[], from: Date, to: Date): Promise<boolean>
  /** The hours of the day (in the org's time zone) at which the actor revealed secrets between `from` and `to` (asked only when a rule fires). */
  revealHours(actorId: string, from: Date, to: Date): Promise<number[]>
}

/** What a rule may know about the org it runs for. */
export interface OrgContext {
  /** The org's IANA time zone (`PATCH /v1/orgs/{orgId}`, default UTC): hours of the day are counted there. */
  timeZone: string
}

export interface AlertRule {
  name: string
  description: string
  severity: Severity
  defaults: RuleSettings
  evaluate(event: ChainedEvent, settings: RuleSettings, history: History, org: OrgContext): Promise<Firing | null>
}

/**
 * Changes of who may do what, and of the org's security settings, each with the words an
 * alert's title says it in. A title is stored and sent in mails and webhooks, so it names
 * what changed and the kind of actor — never an action key, an id or a person (those stay
 * in the alert's details, for a reader entitled to them).
 */
const PRIVILEGE_CHANGES = {
  'member.role_change': 'A member’s role was changed',
  'service_account.role_change': 'A service account’s role was changed',
  'role.create': 'A role was created',
  'role.update': 'A role was changed',
  'role.delete': 'A role was deleted',
  'org.security_policy.update': 'The security policy was changed',
  'org.ip_allowlist.update': 'The IP allowlist was changed',
  'org.sso.update': 'Single sign-on was changed',
  'org.sso.enforcement': 'Single sign-on enforcement was changed',
  'org.sso.delete': 'Single sign-on was removed',
  'org.grant_policy.update': 'The diagnostic access policy was changed',
  'vault.policy.update': 'The vault policy was changed',
  'grant.activate': 'A diagnostic access grant became active',
  'member.suspend': 'A member was suspended',
  'member.resume': 'A member was resumed',
  'org.access_review_policy.update': 'The access review policy was changed',
} as const satisfies Record<string, string>

/** Changes of who may do what, and of the org's security settings. */
export const PRIVILEGE_ACTIONS: ReadonlySet<string> = new Set(Object.keys(PRIVILEGE_CHANGES))

const isPrivilegeChange = (action: string): action is keyof typeof PRIVILEGE_CHANGES => PRIVILEGE_ACTIONS.has(action)

/** A kind of actor in words, with its article: "user" → "a member", "service_account" → "a service account". */
function actorWords(type: string): string {
  if (type === 'user') return 'a member'
  if (type === 'system') return 'the system'
  if (type === 'anonymous') return 'someone not signed in'
  const words = type.replace(/[._-]+/g, ' ').trim()
  return /^[aeiou]/i.test(words) ? `an ${words}` : `a ${words}`
}

/** An application's action key (or its actor's kind) in words for a title: "document.export" → "document export". */
function actionWords(action: string): string {
  return action.replace(/[._:/-]+/g, ' ').trim()
}

const since = (event: ChainedEvent, seconds: number) => new Date(event.time.getTime() - seconds * 1000)

/** Whether an action is one of `patterns`: an exact action, or `family.*` (any action of that first segment, and deeper prefixes alike). */
export function actionMatches(action: string, patterns: readonly string[]): boolean {
  return patterns.some((pattern) =>
    pattern.endsWith('.*') ? action.startsWith(pattern.slice(0, -1)) : action === pattern,
  )
}

export const ALERT_RULES: AlertRule[] = [
  {
    name: 'login_failures_account',
    description: 'Repeated failed sign-ins for one account',
    severity: 'medium',
    defaults: { enabled: true, threshold: 5, windowSeconds: 900, dedupeSeconds: 3600 },
    async evaluate(event, settings, history) {
      if (event.action !== 'auth.login' || event.outcome !== 'denied') return null
      const email = typeof event.details.email === 'string' ? event.details.email : undefined
      const by =
        event.actorId !== null
          ? { actorId: event.actorId }
          : email !== undefined
            ? { detail: ['email', email] as [string, string] }
            : undefined
      if (by === undefined) return null
      const n = await history.count(
        { action: 'auth.login', outcome: 'denied', by },
        since(event, settings.windowSeconds),
        event.time,
        settings.threshold,
      )
      if (n < settings.threshold) return null
      return {
        key: event.actorId ?? `email:${email}`,
        title: `${n} or more failed sign-ins for one account within ${settings.windowSeconds / 60} minutes`,
        details: { account: event.actorId ?? email, failures: n },
      }
    },
  },
  {
    name: 'login_failures_ip',
    description: 'Repeated failed sign-ins from one address',
    severity: 'high',
    defaults: { enabled: true, threshold: 20, windowSeconds: 900, dedupeSeconds: 3600 },
    async evaluate(event, settings, history) {
      if (event.action !== 'auth.login' || event.outcome !== 'denied' || event.ip === null) return null
      const n = await history.count(
        { action: 'auth.login', outcome: 'denied', by: { ip: event.ip } },
        since(event, settings.windowSeconds),
        event.time,
        settings.threshold,
      )
      if (n < settings.threshold) return null
      return {
        key: event.ip,
        // The address is personal data: in the details, not in a title sent by mail.
        title: `${n} or more failed sign-ins from one address within ${settings.windowSeconds / 60} minutes`,
        details: { ip: event.ip, failures: n },
      }
    },
  },
  {
    name: 'reveal_burst',
    description: 'A burst of secret reveals by one actor',
    severity: 'high',
    defaults: { enabled: true, threshold: 20, windowSeconds: 300, dedupeSeconds: 3600 },
    async evaluate(event, settings, history) {
      if (event.action !== 'secret.reveal' || event.outcome !== 'success' || event.actorId === null) return null
      const n = await history.count(
        { action: 'secret.reveal', outcome: 'success', by: { actorId: event.actorId } },
        since(event, settings.windowSeconds),
        event.time,
        settings.threshold,
      )
      if (n < settings.threshold) return null
      return {
        key: event.actorId,
        title: `${n} or more secrets revealed by ${actorWords(event.actorType).replace(/^an? /, 'one ')} within ${settings.windowSeconds / 60} minutes`,
        details: { actor: { type: event.actorType, id: event.actorId }, reveals: n },
      }
    },
  },
  {
    name: 'reveal_off_hours',
    description:
      'A secret revealed outside the actor’s usual hours, counted in the org’s time zone (needs a history of at least `threshold` reveals in the window)',
    severity: 'low',
    defaults: { enabled: true, threshold: 10, windowSeconds: 30 * 86_400, dedupeSeconds: 86_400 },
    async evaluate(event, settings, history, org) {
      if (event.action !== 'secret.reveal' || event.outcome !== 'success' || event.actorId === null) return null
      const from = since(event, settings.windowSeconds)
      const before = new Date(event.time.getTime() - 1)
      const enough = await history.count(
        { action: 'secret.reveal', outcome: 'success', by: { actorId: event.actorId } },
        from,
        before,
        settings.threshold,
      )
      if (enough < settings.threshold) return null
      // Local hours: a person's working day follows the org's clocks, daylight saving included.
      const hour = localHour(event.time, org.timeZone)
      // Usual: a reveal within an hour of this one's hour of the day, before it.
      if (await history.revealedAtHours(event.actorId, [(hour + 23) % 24, hour, (hour + 1) % 24], from, before))
        return null
      const hours = await history.revealHours(event.actorId, from, before)
      return {
        key: event.actorId,
        title: `a secret revealed at ${String(hour).padStart(2, '0')}:00 ${org.timeZone}, outside this actor’s usual hours`,
        details: {
          actor: { type: event.actorType, id: event.actorId },
          hour,
          usualHours: hours,
          timeZone: org.timeZone,
        },
      }
    },
  },
  {
    name: 'privilege_change',
    description: 'A role, permission or security-policy change',
    severity: 'medium',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 300 },
    async evaluate(event) {
      if (!isPrivilegeChange(event.action) || event.outcome !== 'success') return null
      return {
        key: `${event.action}:${event.targetId ?? ''}`,
        title: `${PRIVILEGE_CHANGES[event.action]} by ${actorWords(event.actorType)}`,
        details: {
          action: event.action,
          target: { type: event.targetType, id: event.targetId },
          actor: { type: event.actorType, id: event.actorId },
          change: event.details,
        },
      }
    },
  },
  {
    name: 'mfa_disabled',
    description: 'Two-factor authentication turned off',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 60 },
    async evaluate(event) {
      if (event.action !== 'mfa.totp.disable' || event.outcome !== 'success') return null
      return {
        key: event.actorId ?? 'unknown',
        title: 'two-factor authentication was turned off for an account',
        details: { user: event.targetId ?? event.actorId, with: event.details.with },
      }
    },
  },
  {
    name: 'grant_misuse',
    description: 'A diagnostic access grant used outside its scope, or after it ended',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 3600 },
    async evaluate(event) {
      const grant =
        typeof event.details.grant === 'string'
          ? event.details.grant
          : event.action === 'grant.use'
            ? event.targetId
            : null
      // Beyond the scope is what the grant does not allow (403: a permission, a secret it does
      // not name). A 404 under an active grant is a thing the org does not have (no SSO set
      // up, no offboarding asked): the console's pages ask for those within the scope.
      const outOfScope =
        event.action === 'access.denied' && typeof event.details.grant === 'string' && event.details.status === 403
      const ended = event.action === 'grant.use' && event.outcome === 'denied'
      if ((!outOfScope && !ended) || grant === null) return null
      return {
        key: grant,
        title: outOfScope
          ? 'an operator tried to go beyond a diagnostic grant’s scope'
          : event.details.reason === 'not the grantee'
            ? 'someone other than its operator tried to use a diagnostic access grant'
            : `an operator tried to use a diagnostic access grant that is ${typeof event.details.reason === 'string' ? event.details.reason : 'not active'}`,
        details: {
          grant,
          operator: event.actorId,
          attempt: outOfScope
            ? { status: event.details.status, permission: event.details.permission, code: event.details.code }
            : { reason: event.details.reason },
        },
      }
    },
  },
  {
    name: 'application_action',
    description:
      'An event recorded by the host application whose action the org watches (`actions`: exact actions or `family.*`), reaching `threshold` events of that action by one actor within the window',
    severity: 'medium',
    defaults: { enabled: true, threshold: 1, windowSeconds: 300, dedupeSeconds: 3600, actions: [] },
    async evaluate(event, settings, history) {
      // Custodian's own actions are another namespace (reserved families): never matched here.
      if (event.origin !== 'application' || !actionMatches(event.action, settings.actions ?? [])) return null
      const n =
        settings.threshold <= 1 || event.actorId === null
          ? 1
          : await history.count(
              { action: event.action, by: { actorId: event.actorId } },
              since(event, settings.windowSeconds),
              event.time,
              settings.threshold,
            )
      if (n < settings.threshold) return null
      return {
        key: `${event.action}:${event.actorId ?? ''}`,
        title:
          settings.threshold <= 1
            ? `the watched application action “${actionWords(event.action)}” by one ${actionWords(event.actorType)}`
            : `${n} or more of the watched application action “${actionWords(event.action)}” by one ${actionWords(event.actorType)} within ${settings.windowSeconds / 60} minutes`,
        details: {
          action: event.action,
          actor: { type: event.actorType, id: event.actorId },
          target: { type: event.targetType, id: event.targetId },
          outcome: event.outcome,
          events: n,
        },
      }
    },
  },
  {
    name: 'audit_integrity',
    description: 'The org’s audit chain failed verification (checked periodically)',
    severity: 'critical',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
    async evaluate() {
      return null // raised by the periodic chain verification, not by an event
    },
  },
]

/** Raised by other modules through the alerts service, not by an audit event. */
export const SIGNAL_RULES: Record<string, { description: string; severity: Severity; defaults: RuleSettings }> = {
  plan_review_overdue: {
    description: 'The incident response plan’s review is overdue',
    severity: 'medium',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 7 * 86_400 },
  },
  disclosure_ack_overdue: {
    description: 'A vulnerability report was not acknowledged in time',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
  breach_notification_missed: {
    description: 'A breach notification deadline passed before it was sent',
    severity: 'critical',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
  audit_unwitnessed: {
    description:
      'The audit log has a signed checkpoint the witnesses have not cosigned within the time the deployment allows (an hour unless configured otherwise)',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
  consent_propagation_overdue: {
    description:
      'A consent recipient did not acknowledge a withdrawal, objection or erasure by its stop-processing deadline (GDPR Art. 19)',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
  compliance_check_failed: {
    description:
      'A live compliance check turned to fail: a promise in the security policy no longer holds (docs/compliance.md)',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
  backup_failed: {
    description:
      'A scheduled backup failed (it could not be written or did not verify); it is tried again within 15 minutes (docs/operations.md)',
    severity: 'high',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
  audit_witness_inconsistent: {
    description:
      'A witness refused a checkpoint as inconsistent with one it cosigned (422), or holds a larger tree than the log signed: a fork or a rollback',
    severity: 'critical',
    defaults: { enabled: true, threshold: 1, windowSeconds: 60, dedupeSeconds: 86_400 },
  },
}
