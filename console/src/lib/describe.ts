import { describeActor } from './kinds.ts'

/**
 * The console's one mapping from the API's names to words a person reads: audit actions
 * ("grant.activate" → "Diagnostic access grant activated"), actor and target references,
 * and permission keys (by the catalog's own meaning, GET /v1/permissions). Every page that
 * shows an event, an alert's title or a scope asks here, never prints the key itself.
 */

/** Audit actions (the org's audit log, alerts, notifications, timelines) in words, past tense. */
export const ACTION_WORDS: Readonly<Record<string, string>> = {
  'access.denied': 'Access refused',
  'access_review.close': 'Access review closed',
  'access_review.decide': 'Access review decision recorded',
  'access_review.overdue': 'Access review overdue',
  'access_review.start': 'Access review started',
  'access_review.started': 'Access review started',
  'alert.raise': 'Alert raised',
  'alert.rule.update': 'Alert rule changed',
  'audit.export': 'Audit log exported',
  'audit.viewer.export': 'Audit log exported from the embedded viewer',
  'audit.viewer.session': 'Embedded audit log viewer opened',
  'audit.viewer_token.issue': 'Audit viewer token issued',
  'audit.viewer_token.revoke': 'Audit viewer token revoked',
  'auth.login': 'Signed in',
  'auth.logout': 'Signed out',
  'consent.grant': 'Consent given',
  'consent.deny': 'Consent refused',
  'consent.withdraw': 'Consent withdrawn',
  'consent.expire': 'Consent expired',
  'consent.object': 'Objection made',
  'consent.objection_upheld': 'Objection upheld',
  'consent.objection_rejected': 'Objection rejected',
  'consent.objection.due_soon': 'Objection due soon',
  'consent.objection.overdue': 'Objection overdue',
  'consent.notice.publish': 'Privacy notice published',
  'consent.purpose.create': 'Processing purpose declared',
  'consent.purpose.update': 'Processing purpose changed',
  'consent.page_link.issue': 'Preference page link issued',
  'consent.page.open': 'Preference page opened',
  'consent.recipient.create': 'Consent recipient registered',
  'consent.recipient.update': 'Consent recipient changed',
  'consent.recipient.remove': 'Consent recipient removed',
  'consent.propagation.acknowledge': 'Recipient acknowledged a consent change',
  'consent.propagation.overdue': 'Recipient’s acknowledgement overdue',
  'disclosure.report.receive': 'Vulnerability report received',
  'disclosure.report.read': 'Vulnerability report read',
  'disclosure.report.attachment_read': 'Vulnerability report attachment read',
  'disclosure.report.acknowledge': 'Vulnerability report acknowledged',
  'disclosure.report.reply': 'Vulnerability report answered',
  'disclosure.report.update': 'Vulnerability report status changed',
  'disclosure.report.ack_overdue': 'Vulnerability report acknowledgement overdue',
  'grant.request': 'Diagnostic access requested',
  'grant.requested': 'Diagnostic access requested',
  'grant.approve': 'Diagnostic access approved',
  'grant.approved': 'Diagnostic access approved',
  'grant.activate': 'Diagnostic access grant activated',
  'grant.deny': 'Diagnostic access denied',
  'grant.denied': 'Diagnostic access denied',
  'grant.revoke': 'Diagnostic access grant revoked',
  'grant.revoked': 'Diagnostic access grant revoked',
  'grant.withdraw': 'Diagnostic access withdrawn by the operator',
  'grant.use': 'Used the diagnostic access grant',
  'incident.notice': 'Incident notice',
  'invitation.accept': 'Invitation accepted',
  'invitation.create': 'Member invited',
  'member.add': 'Member added',
  'member.remove': 'Member removed',
  'member.resume': 'Member resumed',
  'member.role_change': 'Member’s role changed',
  'member.suspend': 'Member suspended',
  'mfa.totp.disable': 'Two-factor authentication turned off',
  'notification.email': 'Notification emailed',
  'org.access_review_policy.update': 'Access review policy changed',
  'org.grant_policy.update': 'Diagnostic access policy changed',
  'org.ip_allowlist.update': 'IP allowlist changed',
  'org.offboarding.cancel': 'Org deletion cancelled',
  'org.offboarding.complete': 'Org deleted',
  'org.offboarding.request': 'Org deletion requested',
  'org.privacy_policy.update': 'Privacy policy changed',
  'org.security_policy.update': 'Security policy changed',
  'org.sso.delete': 'Single sign-on removed',
  'org.sso.enforcement': 'Single sign-on enforcement changed',
  'org.sso.update': 'Single sign-on changed',
  'org_key.retire': 'Org key version retired',
  'org_key.rotate': 'Org key rotated',
  'privacy.erasure.certificate': 'Erasure certificate issued',
  'privacy.export.download': 'Access export downloaded',
  'privacy.request.assign': 'Privacy request assigned',
  'privacy.request.erase': 'Personal data erased',
  'privacy.request.export': 'Access export prepared',
  'privacy.request.lift_restriction': 'Restriction of processing lifted',
  'privacy.request.receive': 'Privacy request received',
  'privacy.request.rectify': 'Personal data rectified',
  'privacy.request.reject': 'Privacy request rejected',
  'privacy.request.restrict': 'Processing restricted',
  'privacy.request.verify': 'Requester’s identity verified',
  'response_plan.review': 'Response plan reviewed',
  'response_plan.update': 'Response plan changed',
  'retention.policy.reset': 'Retention period reset',
  'retention.policy.update': 'Retention period changed',
  'retention.purge': 'Expired records purged',
  'role.create': 'Role created',
  'role.delete': 'Role deleted',
  'role.update': 'Role changed',
  'secret.check': 'Database credential checked',
  'secret.create': 'Secret created',
  'secret.delete': 'Secret deleted',
  'secret.exposed': 'Secret reported exposed',
  'secret.exposure.cleared': 'Secret exposure cleared',
  'secret.metadata.update': 'Secret metadata changed',
  'secret.pause': 'Secret paused',
  'secret.resume': 'Secret resumed',
  'secret.reveal': 'Secret revealed',
  'secret.rotate': 'Secret rotated',
  'secret.rotation.configure': 'Secret rotation set up',
  'secret.rotation.remove': 'Secret rotation removed',
  'secret.rotation.start': 'Secret rotation started',
  'secret.use': 'Secret used',
  'secret.version.create': 'Secret version added',
  'secret.version.delete': 'Secret version deleted',
  'secret.version.destroy': 'Secret version destroyed',
  'secret.version.undelete': 'Secret version undeleted',
  'service_account.role_change': 'Service account’s role changed',
  'session.revoke': 'Session ended',
  'siem.dead_letter': 'SIEM delivery given up',
  'token.create': 'API token created',
  'token.revoke': 'API token revoked',
  'vault.policy.update': 'Vault policy changed',
  'webhook.delivery': 'Webhook delivered',
  'webhook.delivery.retry': 'Webhook delivery retried',
  'webhook.register': 'Webhook registered',
  'webhook.remove': 'Webhook removed',
}

/**
 * An audit action in words: "grant.activate" → "Diagnostic access grant activated". An
 * action the console does not know (the host application's own events) reads as its words:
 * "invoice.paid" → "Invoice paid".
 */
export function describeAction(action: string): string {
  const known = ACTION_WORDS[action]
  if (known !== undefined) return known
  const words = action.replace(/[._]+/g, ' ').trim()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** What an action that failed is called, where "<action> / failure" would contradict itself. */
const FAILED_ACTIONS: Record<string, string> = {
  'webhook.delivery': 'Webhook delivery failed',
}

const DENIED_ACTIONS: Record<string, string> = {
  'auth.login': 'Sign-in refused',
  'secret.reveal': 'Reveal refused',
}

/**
 * An audit event's action in words, given its outcome: a failed webhook delivery reads
 * "Webhook delivery failed", not "Webhook delivered"; a refused sign-in "Sign-in refused",
 * not "Signed in". An action without words of its own for that outcome says it: "Secret
 * created (refused)", unless its words already do ("Access refused").
 */
export function describeEventAction(action: string, outcome: string): string {
  const own = outcome === 'failure' ? FAILED_ACTIONS[action] : outcome === 'denied' ? DENIED_ACTIONS[action] : undefined
  if (own !== undefined) return own
  const words = describeAction(action)
  if ((outcome !== 'failure' && outcome !== 'denied') || /refus|denied|fail|reject/i.test(words)) return words
  return `${words} (${outcome === 'denied' ? 'refused' : 'failed'})`
}

const NETWORK_ERRORS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'timed out',
  UND_ERR_CONNECT_TIMEOUT: 'timed out connecting',
  UND_ERR_HEADERS_TIMEOUT: 'timed out waiting for an answer',
  UND_ERR_BODY_TIMEOUT: 'timed out reading the answer',
  UND_ERR_SOCKET: 'connection closed',
  ENOTFOUND: 'address not found (DNS)',
  EAI_AGAIN: 'address not found (DNS unavailable)',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EPIPE: 'connection closed',
  CERT_HAS_EXPIRED: 'TLS certificate expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'self-signed TLS certificate',
  SELF_SIGNED_CERT_IN_CHAIN: 'self-signed TLS certificate',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'TLS certificate not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'TLS certificate for another name',
}

/**
 * A delivery's error as the API records it, for a person: a network error code in words
 * ("ECONNREFUSED" → "connection refused"); anything else ("HTTP 500", a sentence) as it is.
 */
export function describeNetworkError(error: string): string {
  return NETWORK_ERRORS[error] ?? error
}

export { ANONYMOUS_ACTOR, describeActor, describeKind, oneOf } from './kinds.ts'

/**
 * Who an actor reference ("user:<id>", "service_account:<id>", "system:rotation") names, for a
 * person to read: `name` is the API's answer for it (a member's email, a service account's
 * name); without one, the kind of actor — never the id.
 */
export function describeActorRef(ref: string, name: string | null | undefined): string {
  if (name !== undefined && name !== null) return name
  if (ref === 'system:rotation') return 'scheduled rotation (system)'
  const kind = ref.includes(':') ? ref.slice(0, ref.indexOf(':')) : ref
  if (kind === 'service_account') return 'a deleted service account'
  return describeActor({ type: kind })
}

/** What describeAlert reads of an alert (GET /v1/orgs/{orgId}/alerts). */
export interface AlertFacts {
  rule: string
  title: string
  details: Record<string, unknown>
  actorEmail?: string | null | undefined
}

/**
 * An alert's title for a person: a privilege change as what changed and who changed it
 * ("Diagnostic access grant activated by ana@example.com", the person by the email the API
 * resolves for members), any other rule's title (which names no one by id) with a capital.
 */
export function describeAlert(alert: AlertFacts): string {
  const { details } = alert
  if (alert.rule === 'privilege_change' && typeof details.action === 'string') {
    const actor = details.actor as { type?: unknown } | undefined
    const type = typeof actor?.type === 'string' ? actor.type : 'user'
    return `${describeAction(details.action)} by ${describeActor({ type, email: alert.actorEmail })}`
  }
  const title = alert.title.trim()
  const named =
    alert.actorEmail !== undefined && alert.actorEmail !== null && alert.rule === 'mfa_disabled'
      ? `Two-factor authentication was turned off for ${alert.actorEmail}`
      : title
  return named.charAt(0).toUpperCase() + named.slice(1)
}

/** A status or kind key as a choice's label, capitalised like the console's other filters: "in_progress" → "In progress". */
export function describeStatus(status: string): string {
  const words = status.replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/

/** A details key in words: "assigneeId" → "assignee", "due_at" → "due at". */
function keyWords(key: string): string {
  return key
    .replace(/Id$|_id$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .replace(/_/g, ' ')
    .toLowerCase()
}

/** A details key as a field's label: "secretId" → "Secret", "dueAt" → "Due at". */
export function describeField(key: string): string {
  const words = keyWords(key).trim()
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/**
 * One value of an event's details for a person: a moment in the reader's locale, a member by
 * email (`names`: user id → email; "user:<id>" references too), a person the page cannot
 * name as "a former member", another id as a short reference ("ref. 1c840f57", its first
 * eight characters, as the pickers show them), a list or an object in words (an empty one
 * as "none"); never JSON.
 */
export function describeValue(value: unknown, names: ReadonlyMap<string, string> = new Map()): string {
  if (value === null || value === undefined) return '—'
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (typeof value === 'number') return String(value)
  if (typeof value === 'string') {
    const id = value.startsWith('user:') ? value.slice('user:'.length) : value
    if (UUID.test(id))
      return names.get(id) ?? (value.startsWith('user:') ? 'a former member' : `ref. ${id.slice(0, 8)}`)
    if (ISO_TIME.test(value)) return new Date(value).toLocaleString()
    return value
  }
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v) => describeValue(v, names)).join(', ')
  if (typeof value === 'object')
    return Object.keys(value).length === 0 ? 'none' : describeDetails(value as Record<string, unknown>, names)
  return typeof value === 'bigint' ? value.toString() : '—'
}

/**
 * An event's details in a line of words: "due: 02/12/2026, 09:00:00; assignee: ana@example.com";
 * a change `{ from, to }` reads "from … to …".
 */
export function describeDetails(
  details: Record<string, unknown>,
  names: ReadonlyMap<string, string> = new Map(),
): string {
  const entries = Object.entries(details)
  if (entries.length === 2 && 'from' in details && 'to' in details)
    return `from ${describeValue(details.from, names)} to ${describeValue(details.to, names)}`
  return entries
    .map(([key, value]) =>
      key === 'error' && typeof value === 'string'
        ? `error: ${describeNetworkError(value)}`
        : `${keyWords(key)}: ${describeValue(value, names)}`,
    )
    .join('; ')
}
