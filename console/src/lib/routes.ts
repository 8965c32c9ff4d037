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
  'GET /v1/orgs/:orgId/members': 'listed members',
  'GET /v1/orgs/:orgId/roles': 'listed roles',
  'GET /v1/orgs/:orgId/service-accounts': 'listed service accounts',
  'GET /v1/orgs/:orgId/audit/events': 'read the audit log',
  'GET /v1/orgs/:orgId/audit/export': 'exported the audit log',
  'GET /v1/orgs/:orgId/audit/verify': 'verified the audit log',
  'GET /v1/orgs/:orgId/audit/status': 'read the audit log’s status',
  'GET /v1/orgs/:orgId/keys': 'listed org keys',
  'GET /v1/orgs/:orgId/transit/keys': 'listed transit keys',
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
}

/** The routes on one secret, in words that name it: "revealed the secret billing-api". */
const ON_SECRET: Record<string, (name: string) => string> = {
  'GET /v1/orgs/:orgId/secrets/:secretId': (name) => `read the secret ${name}`,
  'GET /v1/orgs/:orgId/secrets/:secretId/versions': (name) => `listed the versions of the secret ${name}`,
  'GET /v1/orgs/:orgId/secrets/:secretId/rotation': (name) => `read the rotation of the secret ${name}`,
  'POST /v1/orgs/:orgId/secrets/:secretId/reveal': (name) => `revealed the secret ${name}`,
  'POST /v1/orgs/:orgId/secrets/:secretId/check': (name) => `checked the secret ${name}`,
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
