/**
 * The API's route patterns, as an audit event records them ("GET /v1/orgs/:orgId/secrets/:secretId",
 * a diagnostic access grant's `grant.use`), in words a person reads: "read a secret". One table,
 * beside describe.ts; a route it does not list is "a request to" its resource in words.
 */
const ROUTES: Record<string, string> = {
  'GET /v1/orgs/:orgId': 'read the org',
  'GET /v1/orgs/:orgId/secrets': 'listed secrets',
  'GET /v1/orgs/:orgId/secrets/:secretId': 'read a secret',
  'GET /v1/orgs/:orgId/secrets/:secretId/versions': 'listed a secret’s versions',
  'GET /v1/orgs/:orgId/secrets/:secretId/rotation': 'read a secret’s rotation',
  'POST /v1/orgs/:orgId/secrets/:secretId/reveal': 'revealed a secret’s value',
  'POST /v1/orgs/:orgId/secrets/:secretId/check': 'checked a secret',
  'GET /v1/orgs/:orgId/secrets/by-path': 'read a secret',
  'GET /v1/orgs/:orgId/secrets/by-path/versions': 'listed a secret’s versions',
  'POST /v1/orgs/:orgId/secrets/by-path/reveal': 'revealed a secret’s value',
  'GET /v1/orgs/:orgId/members': 'listed members',
  'GET /v1/orgs/:orgId/roles': 'listed roles',
  'GET /v1/orgs/:orgId/service-accounts': 'listed service accounts',
  'GET /v1/orgs/:orgId/audit/events': 'read the audit log',
  'GET /v1/orgs/:orgId/audit/export': 'exported the audit log',
  'GET /v1/orgs/:orgId/audit/verify': 'verified the audit log',
  'GET /v1/orgs/:orgId/audit/status': 'read the audit log’s status',
  'GET /v1/orgs/:orgId/keys': 'listed org keys',
  'GET /v1/orgs/:orgId/transit/keys': 'listed transit keys',
  'GET /v1/orgs/:orgId/transit/keys/:name': 'read a transit key',
  'GET /v1/orgs/:orgId/alerts': 'listed alerts',
  'GET /v1/orgs/:orgId/alert-rules': 'read the alert rules',
  'GET /v1/orgs/:orgId/incidents': 'listed incidents',
  'GET /v1/orgs/:orgId/webhooks': 'listed webhooks',
  'GET /v1/orgs/:orgId/webhook-deliveries': 'listed webhook deliveries',
  'GET /v1/orgs/:orgId/security-policy': 'read the security policy',
  'GET /v1/orgs/:orgId/grant-policy': 'read the diagnostic access policy',
  'GET /v1/orgs/:orgId/grants': 'listed diagnostic access grants',
  'GET /v1/orgs/:orgId/grants/:grantId': 'read a diagnostic access grant',
  'GET /v1/orgs/:orgId/retention': 'read the retention rules',
  'GET /v1/orgs/:orgId/tokens': 'listed API tokens',
  'GET /v1/orgs/:orgId/ip-allowlist': 'read the allowed addresses',
  'GET /v1/orgs/:orgId/sessions': 'listed members’ sessions',
  'GET /v1/orgs/:orgId/sso': 'read the single sign-on set-up',
  'GET /v1/orgs/:orgId/audit/checkpoints/latest': 'read the audit log’s latest checkpoint',
  'GET /v1/orgs/:orgId/audit/proofs/inclusion': 'asked a proof that an event is in the audit log',
  'GET /v1/orgs/:orgId/audit/proofs/consistency': 'asked a proof that the audit log only grew',
  'GET /v1/orgs/:orgId/audit/events/:eventId/receipt': 'read an audit event’s receipt',
  'GET /v1/orgs/:orgId/audit/tile/*': 'read the audit log’s tiles',
  'GET /v1/orgs/:orgId/audit/event-schema': 'read the application event schema',
  'GET /v1/orgs/:orgId/vault/policy': 'read the vault policy',
  'GET /v1/orgs/:orgId/data-sources': 'listed data sources',
  'GET /v1/orgs/:orgId/access-review-policy': 'read the access review schedule',
  'GET /v1/orgs/:orgId/offboarding': 'read whether the org is to be deleted',
}

/** The routes on one secret, in words that name it: "revealed the secret billing-api". */
const ON_SECRET: Record<string, (name: string) => string> = {
  'GET /v1/orgs/:orgId/secrets/:secretId': (name) => `read the secret ${name}`,
  'GET /v1/orgs/:orgId/secrets/:secretId/versions': (name) => `listed the versions of the secret ${name}`,
  'GET /v1/orgs/:orgId/secrets/:secretId/rotation': (name) => `read the rotation of the secret ${name}`,
  'POST /v1/orgs/:orgId/secrets/:secretId/reveal': (name) => `revealed the secret ${name}`,
  'POST /v1/orgs/:orgId/secrets/:secretId/check': (name) => `checked the secret ${name}`,
  'GET /v1/orgs/:orgId/secrets/by-path': (name) => `read the secret ${name}`,
  'GET /v1/orgs/:orgId/secrets/by-path/versions': (name) => `listed the versions of the secret ${name}`,
  'POST /v1/orgs/:orgId/secrets/by-path/reveal': (name) => `revealed the secret ${name}`,
}

/**
 * A route pattern in words: the table's, else "a request to" the resource its last fixed
 * segments name ("GET /v1/orgs/:orgId/webhook-deliveries/:deliveryId" → "a request to
 * webhook deliveries"); never the path itself. Given the name of the secret the request
 * touched (a `grant.use` event's `details.secretId`, named by the caller), the words name it:
 * "revealed the secret billing-api".
 */
export function describeRoute(route: string, secretName?: string): string {
  if (secretName !== undefined) {
    const onSecret = ON_SECRET[route]
    return onSecret === undefined ? `${describeRoute(route)}, about the secret ${secretName}` : onSecret(secretName)
  }
  const known = ROUTES[route]
  if (known !== undefined) return known
  const path = route.split(' ').at(-1) ?? ''
  const fixed = path
    .replace(/^\/v1\/orgs\/:orgId/, '')
    .split('/')
    .filter((s) => s !== '' && !s.startsWith(':') && s !== '*' && s !== 'v1')
  const resource = fixed.slice(-2).join(' ').replace(/[-_]/g, ' ')
  return `a request to ${resource === '' ? 'the org' : resource}`
}

/** The verbs the table's words start with, as "tried to …" says them. */
const INFINITIVE: Record<string, string> = {
  read: 'read',
  listed: 'list',
  revealed: 'reveal',
  checked: 'check',
  exported: 'export',
  verified: 'verify',
  asked: 'ask',
}

/**
 * A refused request in words, by what it attempted: "tried to list secrets", "tried to
 * reveal the secret billing-api"; a route the table does not list, "tried to make a request
 * to" its resource. Never the path itself.
 */
export function describeAttempt(route: string, secretName?: string): string {
  const done = describeRoute(route, secretName)
  const space = done.indexOf(' ')
  const verb = INFINITIVE[done.slice(0, space)]
  return verb === undefined ? `tried to make ${done}` : `tried to ${verb}${done.slice(space)}`
}

/** A route as an API refusal names it for API clients: "POST /v1/me/step-up", "POST …/secret/rotate". */
const ROUTE = String.raw`(?:GET|POST|PUT|PATCH|DELETE) (?:\/v1\/|…)\S*`

/**
 * An API refusal's detail as a person reads it: without the routes it names for API clients
 * — a parenthesis naming one goes ("enrol first (POST /v1/me/2fa/totp, …)" → "enrol first"),
 * and so does a trailing "how" that starts with one ("… within the last 10 minutes: POST
 * /v1/me/step-up with a code" → "… within the last 10 minutes"). The rest is the API's own words.
 */
export function detailForPeople(detail: string): string {
  return detail
    .replace(new RegExp(String.raw`\s*\([^()]*${ROUTE}[^()]*\)`, 'g'), '')
    .replace(new RegExp(String.raw`:\s*${ROUTE}[\s\S]*$`), '')
    .trim()
}
