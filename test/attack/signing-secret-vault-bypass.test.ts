import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Attack on signing-secret rotation (P7.5 webhooks, P7.7 consent recipients): rotating a webhook's or a
 * consent recipient's signing secret takes webhooks:manage / consent:manage and a fresh
 * second factor (POST …/secret/rotate), answers a secret Custodian drew, shown once, and keeps
 * the previous one signing for 24 hours. The secret lives in the org's vault as an ordinary
 * secret: a holder of secrets:write alone (a custom role without webhooks:manage or
 * consent:manage) adds a version of its own choosing through the generic secrets API
 * (`POST …/secrets/{secretId}/versions`) — the credential changes without the route's
 * permission, step-up or overlap, and the value is one the attacker knows. The vault already
 * refuses to delete a secret another feature runs on (credentialUsers); a new version of it
 * should be refused the same way.
 */
forEachEngine('attack: a signing secret replaced through the vault’s secrets API (P7.5, P7.7)', (engine) => {
  const t = useTestApp(engine)
  let acme: Org
  let writer = ''

  const as = (method: string, tail: string, body?: unknown, token = acme.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${acme.orgId}${tail}`, token, body })
  const currentVersion = async (secretId: string) =>
    (await t().db.kysely.selectFrom('secrets').select('current_version').where('id', '=', secretId).executeTakeFirst())
      ?.current_version

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.vault-bypass.test`)
    const role = await as('POST', '/roles', {
      name: 'secret-writer',
      permissions: ['secrets:read', 'secrets:write'],
    })
    assert.equal(role.status, 201, role.text)
    writer = (await principalWithRole(t(), acme, 'secret-writer')).token
  })

  it('a secrets:write holder cannot replace a webhook’s signing secret with a value it chose (P7.5)', async () => {
    const hook = await as('POST', '/webhooks', {
      name: 'pager',
      url: 'https://127.0.0.1:9/pager',
      events: ['notifications'],
    })
    assert.equal(hook.status, 201, hook.text)
    // The rotate route itself refuses this caller.
    assert.equal((await as('POST', `/webhooks/${hook.body.id}/secret/rotate`, undefined, writer)).status, 403)
    const row = await t()
      .db.kysely.selectFrom('webhooks')
      .select('secret_id')
      .where('id', '=', hook.body.id)
      .executeTakeFirstOrThrow()
    const listed = await as('GET', '/secrets?limit=100', undefined, writer)
    assert.equal(listed.status, 200, listed.text)
    const before = await currentVersion(row.secret_id)
    const replaced = await as(
      'POST',
      `/secrets/${row.secret_id}/versions`,
      { value: 'attacker-known-signing-secret' },
      writer,
    )
    assert.equal(replaced.status, 409, `the webhook's signing secret was replaced: ${replaced.text}`)
    assert.match(replaced.body.detail, /rotate it there/)
    assert.equal(await currentVersion(row.secret_id), before)
    // Nor can the owner destroy the version deliveries are signed with.
    const destroyed = await as('DELETE', `/secrets/${row.secret_id}/versions/${before}`)
    assert.equal(destroyed.status, 409, destroyed.text)
    assert.match(destroyed.body.detail, /unable to work/)
  })

  it('a secrets:write holder cannot replace a consent recipient’s signing secret (P7.7)', async () => {
    const recipient = await as('POST', '/consent/recipients', {
      name: 'Mailer Ltd',
      url: 'https://127.0.0.1:9/mailer',
      deadlineHours: 48,
    })
    assert.equal(recipient.status, 201, recipient.text)
    assert.equal(
      (await as('POST', `/consent/recipients/${recipient.body.id}/secret/rotate`, undefined, writer)).status,
      403,
    )
    const row = await t()
      .db.kysely.selectFrom('consent_recipients')
      .select('secret_id')
      .where('id', '=', recipient.body.id)
      .executeTakeFirstOrThrow()
    const before = await currentVersion(row.secret_id)
    const replaced = await as(
      'POST',
      `/secrets/${row.secret_id}/versions`,
      { value: 'whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' },
      writer,
    )
    assert.equal(replaced.status, 409, `the recipient's signing secret was replaced: ${replaced.text}`)
    assert.equal(await currentVersion(row.secret_id), before)
  })

  it('nobody reads a signing secret back through the vault’s reveal: it is shown once, when drawn (P7.5, P7.7)', async () => {
    const role = await as('POST', '/roles', { name: 'secret-revealer', permissions: ['secrets:read', 'vault:reveal'] })
    assert.equal(role.status, 201, role.text)
    const revealer = (await principalWithRole(t(), acme, 'secret-revealer')).token
    const hook = await as('POST', '/webhooks', {
      name: 'reveal-probe',
      url: 'https://127.0.0.1:9/probe',
      events: ['notifications'],
    })
    assert.equal(hook.status, 201, hook.text)
    const recipient = await as('POST', '/consent/recipients', {
      name: 'Reveal Probe Ltd',
      url: 'https://127.0.0.1:9/probe-recipient',
      deadlineHours: 48,
    })
    assert.equal(recipient.status, 201, recipient.text)
    const secretOf = async (table: 'webhooks' | 'consent_recipients', id: string) =>
      (await t().db.kysely.selectFrom(table).select('secret_id').where('id', '=', id).executeTakeFirstOrThrow())
        .secret_id
    for (const secretId of [
      await secretOf('webhooks', hook.body.id as string),
      await secretOf('consent_recipients', recipient.body.id as string),
    ]) {
      for (const token of [revealer, acme.ownerToken]) {
        const revealed = await as('POST', `/secrets/${secretId}/reveal`, { reason: 'probe: read it back' }, token)
        assert.equal(revealed.status, 409, `a signing secret was revealed: ${revealed.text}`)
        assert.equal(revealed.body.code, 'SIGNING_SECRET_NOT_REVEALED')
        assert.equal(revealed.body.value, undefined)
      }
      // Each refusal is in the org's log, as denied.
      const events = await as('GET', `/audit/events?action=secret.reveal&limit=100`)
      assert.equal(events.status, 200, events.text)
      const denied = (events.body.events as { outcome: string; target: { id: string } }[]).filter(
        (e) => e.target.id === secretId && e.outcome === 'denied',
      )
      assert.equal(denied.length, 2, events.text)
    }
    // An ordinary secret still reveals.
    const plain = await as('POST', '/secrets', { name: 'plain/reveal', type: 'generic', value: 'plain-value' })
    assert.equal(plain.status, 201, plain.text)
    const revealed = await as('POST', `/secrets/${plain.body.id}/reveal`, { reason: 'still works' }, revealer)
    assert.equal(revealed.status, 200, revealed.text)
    assert.equal(revealed.body.value, 'plain-value')
  })
})
