import assert from 'node:assert/strict'
import { it } from 'node:test'
import { actorWords } from '../../console/src/features/audit/actor.ts'
import { ACTION_WORDS, describeEventAction } from '../../console/src/lib/describe.ts'
import { describeActor, oneOf } from '../../console/src/lib/kinds.ts'

/**
 * The console names who did something and what it was done to in words (issue 13): with the
 * right article ("an org key", not "a org key") and without the API's type names ("someone not
 * signed in", not "a anonymous", which a newcomer read on the audit page). Every actor type the
 * audit log records (src/modules/audit/audit.types.ts) and the vowel-led target kinds.
 */
const ACTOR_TYPES = ['user', 'service_account', 'anonymous', 'system'] as const
/** Every action the console has words for. */
const ACTIONS = Object.keys(ACTION_WORDS)
const KINDS = ['org', 'org_key', 'invitation', 'incident', 'alert_rule', 'api_token', 'user', 'secret', 'export']

it('names every actor type in words, with the right article', () => {
  for (const type of ACTOR_TYPES) {
    for (const words of [describeActor({ type }), actorWords({ actor: { type, id: null }, actorEmail: null })]) {
      assert.doesNotMatch(words, /\ba [aeiou]/i, `${type}: ${words}`)
      assert.doesNotMatch(words, /anonymous|_/, `${type}: ${words}`)
    }
  }
  assert.equal(describeActor({ type: 'anonymous' }), 'someone not signed in')
  assert.equal(describeActor({ type: 'service_account' }), 'a service account')
})

it('gives each kind its article', () => {
  for (const kind of KINDS) assert.doesNotMatch(oneOf(kind), /\ba [aeiou]|\ban [^aeiou ]/i, kind)
  assert.equal(oneOf('org_key'), 'an org key')
  assert.equal(oneOf('secret'), 'a secret')
})

it('says an event was refused or failed when its words alone would say it happened', () => {
  assert.equal(describeEventAction('auth.login', 'success'), 'Signed in')
  // A password right and a second factor still due: refused, not "Signed in" beside "denied".
  assert.equal(describeEventAction('auth.login', 'denied'), 'Sign-in refused')
  assert.equal(describeEventAction('webhook.delivery', 'failure'), 'Webhook delivery failed')
  for (const action of ACTIONS) {
    for (const outcome of ['denied', 'failure'] as const) {
      const words = describeEventAction(action, outcome)
      assert.match(words, /refus|denied|fail|reject/i, `${action} ${outcome}: ${words}`)
    }
  }
})
