/**
 * Kinds of things and actors in words: no React and no API client here, so the server's tests
 * check them directly (test/console/actor-words.test.ts).
 */

/** The kinds of thing an event's target or actor names, in words ("service_account" → "service account"). */
export function describeKind(kind: string): string {
  return kind.replace(/_/g, ' ')
}

/**
 * One of a kind, with its indefinite article: "a service account", "an org key". By the
 * first letter, which is right for every kind the API names (none starts with a silent or a
 * "you" sound).
 */
export function oneOf(kind: string): string {
  const words = describeKind(kind)
  return `${/^[aeiou]/i.test(words) ? 'an' : 'a'} ${words}`
}

/** An actor of no account — a request without credentials (type `anonymous`) — in words. */
export const ANONYMOUS_ACTOR = 'someone not signed in'

/**
 * Who did something, for a person to read: their email when the API gives one, else the kind
 * of actor ("a service account", "the system") — never a bare id.
 */
export function describeActor(actor: { type: string; email?: string | null | undefined } | null): string {
  if (actor === null) return 'someone'
  if (actor.email !== undefined && actor.email !== null) return actor.email
  if (actor.type === 'system') return 'the system'
  if (actor.type === 'user') return 'a former member'
  if (actor.type === 'anonymous') return ANONYMOUS_ACTOR
  return oneOf(actor.type)
}
