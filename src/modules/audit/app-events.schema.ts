/**
 * The host application's event vocabulary (docs/application-events.md, "The event schema"):
 * which actions it records and which metadata and personal keys each carries, and what
 * happens to undeclared ones. Pure: the service loads the provider's schema and asks here.
 *
 * Action names are `family.verb[.more]` in lower case, like Custodian's own. The families
 * Custodian records under are reserved: an application event can never pass for one of
 * Custodian's actions, whatever a reader or an alert rule filters on.
 */

export type KeyType = 'string' | 'number' | 'integer' | 'boolean' | 'object' | 'array' | 'any'

export interface KeyDeclaration {
  type: KeyType
  /** The event must carry the key (default: it may). */
  required?: boolean | undefined
  description?: string | undefined
}

export interface ActionDeclaration {
  description?: string | undefined
  /** Keys of `metadata`, stored in clear in the chained event. */
  metadata?: Record<string, KeyDeclaration> | undefined
  /**
   * Keys of `personal`, sealed with the data subject's key; the chained event holds only
   * their commitment. A key declared here is refused in `metadata`, so personal data cannot
   * slip into the log in clear by mistake.
   */
  personal?: Record<string, KeyDeclaration> | undefined
}

export interface EventSchema {
  /** An action the schema does not declare: recorded unchecked (`accept`) or refused. */
  unknownActions: 'accept' | 'refuse'
  /** A metadata or personal key a declared action does not declare: kept or refused. */
  unknownKeys: 'accept' | 'refuse'
  actions: Record<string, ActionDeclaration>
}

/** Before the provider declares anything: every action and key is accepted. */
export const OPEN_SCHEMA: EventSchema = { unknownActions: 'accept', unknownKeys: 'accept', actions: {} }

/** `family.verb[.more]`: two to five lower-case segments. */
export const ACTION_PATTERN = '^[a-z][a-z0-9_]{0,39}(\\.[a-z][a-z0-9_]{0,39}){1,4}$'

/**
 * Every first segment of an action Custodian records (`auth` of `auth.login`), and names
 * kept for it. An application action in one of these families is refused.
 * `app-events.schema.test.ts` checks this list against the actions in the source.
 */
export const RESERVED_ACTION_FAMILIES: ReadonlySet<string> = new Set([
  'access',
  'access_review',
  'alert',
  'audit',
  'audit_key',
  'auth',
  'backup',
  'compliance',
  'consent',
  'custodian',
  'disclosure',
  'erasure',
  'grant',
  'incident',
  'invitation',
  'key',
  'member',
  'mfa',
  'notification',
  'operator',
  'org',
  'org_key',
  'passkey',
  'privacy',
  'privacy_request',
  'record',
  'response_plan',
  'retention',
  'review',
  'role',
  'root_key',
  'secret',
  'service_account',
  'siem',
  'session',
  'sso',
  'system',
  'token',
  'transit',
  'vault',
  'webhook',
  'witness',
])

/** The action's family when Custodian reserves it, else undefined. */
export function reservedFamily(action: string): string | undefined {
  const family = action.split('.')[0] ?? ''
  return RESERVED_ACTION_FAMILIES.has(family) ? family : undefined
}

/** A problem found in an event or a schema, by JSON pointer relative to what was checked. */
export interface Problem {
  path: string
  message: string
}

/** What of an event the schema constrains. */
export interface CheckedEvent {
  action: string
  metadata?: Record<string, unknown> | undefined
  personal?: Record<string, unknown> | undefined
}

/**
 * Problems of one event under the schema: `/action` (undeclared, refused), `/metadata/<key>`
 * and `/personal/<key>` (undeclared and refused, of the wrong type, declared personal but
 * sent in clear), or the object itself for a required key that is missing. Empty when it
 * passes. Reserved families are checked by the caller, before any schema.
 */
export function checkEvent(schema: EventSchema, event: CheckedEvent): Problem[] {
  const declared = Object.hasOwn(schema.actions, event.action) ? schema.actions[event.action] : undefined
  if (declared === undefined) {
    return schema.unknownActions === 'refuse'
      ? [{ path: '/action', message: `${event.action} is not declared in the event schema` }]
      : []
  }
  const problems: Problem[] = []
  const personalKeys = declared.personal ?? {}
  for (const key of Object.keys(event.metadata ?? {}))
    if (Object.hasOwn(personalKeys, key))
      problems.push({
        path: `/metadata/${pointerToken(key)}`,
        message: `${key} is declared personal: send it in personal (sealed with the subject’s key), never in metadata`,
      })
  problems.push(...checkKeys('metadata', declared.metadata ?? {}, event.metadata ?? {}, schema.unknownKeys))
  problems.push(...checkKeys('personal', personalKeys, event.personal ?? {}, schema.unknownKeys))
  return problems
}

function checkKeys(
  part: 'metadata' | 'personal',
  declared: Record<string, KeyDeclaration>,
  values: Record<string, unknown>,
  unknownKeys: EventSchema['unknownKeys'],
): Problem[] {
  const problems: Problem[] = []
  for (const [key, value] of Object.entries(values)) {
    const path = `/${part}/${pointerToken(key)}`
    const declaration = Object.hasOwn(declared, key) ? declared[key] : undefined
    if (declaration === undefined) {
      if (unknownKeys === 'refuse') problems.push({ path, message: `${key} is not declared for this action` })
      continue
    }
    if (!hasType(value, declaration.type)) problems.push({ path, message: `must be of type ${declaration.type}` })
  }
  for (const [key, declaration] of Object.entries(declared))
    if (declaration.required === true && !Object.hasOwn(values, key))
      problems.push({ path: `/${part}`, message: `must have the key ${key}` })
  return problems
}

function hasType(value: unknown, type: KeyType): boolean {
  switch (type) {
    case 'any':
      return true
    case 'string':
      return typeof value === 'string'
    case 'number':
      return typeof value === 'number'
    case 'integer':
      return Number.isInteger(value)
    case 'boolean':
      return typeof value === 'boolean'
    case 'array':
      return Array.isArray(value)
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
  }
}

/**
 * Problems of a schema document beyond its JSON schema: an action in a reserved family
 * (`/actions/<action>`), a key declared both in clear and personal.
 */
export function checkSchema(schema: EventSchema): Problem[] {
  const problems: Problem[] = []
  for (const [action, declaration] of Object.entries(schema.actions)) {
    const path = `/actions/${pointerToken(action)}`
    const family = reservedFamily(action)
    if (family !== undefined)
      problems.push({ path, message: `the ${family} family is Custodian’s own: name the action otherwise` })
    for (const key of Object.keys(declaration.metadata ?? {}))
      if (Object.hasOwn(declaration.personal ?? {}, key))
        problems.push({
          path: `${path}/metadata/${pointerToken(key)}`,
          message: `${key} is declared personal too: declare it once`,
        })
  }
  return problems
}

/** An RFC 6901 reference token. */
export function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1')
}
