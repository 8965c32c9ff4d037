import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { detailForPeople } from '../../console/src/lib/routes.ts'

// The console shows an API refusal's detail to a person: the routes it names for API clients
// are left out, the rest is the API's own words (issue 13: no API paths on screen).
describe('console: API refusals in words a person reads', () => {
  it('drops a trailing how-to that starts with a route', () => {
    assert.equal(
      detailForPeople(
        'this action needs a second factor within the last 10 minutes: POST /v1/me/step-up with a code (or /v1/me/step-up/passkey)',
      ),
      'this action needs a second factor within the last 10 minutes',
    )
  })

  it('drops a parenthesis naming a route, elided paths included', () => {
    assert.equal(
      detailForPeople(
        'this org requires two-factor authentication: enrol first (POST /v1/me/2fa/totp, or a passkey: POST /v1/me/passkeys/registration/options)',
      ),
      'this org requires two-factor authentication: enrol first',
    )
    assert.equal(
      detailForPeople(
        'billing is the signing secret of the webhook crm: rotate it there (POST …/secret/rotate), which draws the new value',
      ),
      'billing is the signing secret of the webhook crm: rotate it there, which draws the new value',
    )
  })

  it('keeps a detail that names no route as it is', () => {
    for (const detail of [
      'this needs the org:delete permission',
      'no such secret',
      'the grant you act under is revoked',
    ])
      assert.equal(detailForPeople(detail), detail)
  })
})
