import { ANONYMOUS_ACTOR, oneOf } from '../../lib/kinds.ts'

/** What the words need of an event: its actor, the member's email if the API gave it, its details. */
interface ActorOf {
  actor: { type: string; id?: string | null }
  actorEmail?: string | null
  details?: Record<string, unknown>
}

/**
 * Who did it, in words: the member's email when the API gives it (`actorEmail`, members of
 * this org only); a person acting under a diagnostic access grant who is not a member is the
 * provider's operator (the API never names people outside the org); else the kind of actor
 * ("user" → "a person", "service_account" → "a service account").
 */
export function actorWords(event: ActorOf): string {
  if (typeof event.actorEmail === 'string' && event.actorEmail !== '') return event.actorEmail
  if (event.actor.type === 'system') return 'the system'
  if (event.actor.type === 'user' && typeof event.details?.grant === 'string')
    return 'an operator of the provider (under a grant)'
  if (event.actor.type === 'user') return 'a person'
  if (event.actor.type === 'anonymous') return ANONYMOUS_ACTOR
  return oneOf(event.actor.type)
}
