import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * Features that keep their credential in the vault (webhooks' signing secrets, SIEM
 * destinations' credentials, the org's SSO client secret) name it without a foreign key.
 * The secrets API may not delete such a secret from under them (409, nothing changed):
 * the feature lets it go itself when it is removed. Every column of the schema that names a
 * secret is either a foreign key to it or one of these, so a new one cannot be forgotten.
 */
forEachEngine('secrets other features run on (webhooks, SIEM, SSO)', (engine) => {
  const t = useTestApp(engine)
  let provider: Org
  let acme: Org

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.acme.test`)
  })

  const api = (method: string, path: string, body?: unknown) =>
    t().request({
      method,
      url: `/v1/orgs/${acme.orgId}${path}`,
      token: acme.ownerToken,
      ...(body === undefined ? {} : { body }),
    })
  const secretNamed = async (name: string): Promise<string> => {
    const page = await api('GET', '/secrets?limit=500')
    const found = (page.body.secrets as { id: string; name: string }[]).find((s) => s.name === name)
    assert.ok(found !== undefined, `a secret named ${name}`)
    return found.id
  }

  it('names every column that refers to a secret: a foreign key, or a credential the vault checks before deleting', async () => {
    const columns = await sql<{ ref: string; fk: boolean }>`
      SELECT c.table_name || '.' || c.column_name AS ref,
             EXISTS (SELECT 1 FROM information_schema.key_column_usage k
                       JOIN information_schema.referential_constraints r ON r.constraint_name = k.constraint_name
                       JOIN information_schema.constraint_column_usage u ON u.constraint_name = r.unique_constraint_name
                      WHERE k.table_name = c.table_name AND k.column_name = c.column_name AND u.table_name = 'secrets') AS fk
        FROM information_schema.columns c
       WHERE c.table_schema = 'public' AND c.column_name LIKE '%secret_id%'
       ORDER BY 1`.execute(t().db.kysely)
    const unguarded = columns.rows.filter((c) => !c.fk).map((c) => c.ref)
    assert.deepEqual(unguarded, [
      // A grant's named secrets: deleting one narrows what the grant reaches, nothing breaks.
      'access_grants.secret_ids',
      // The credentials the vault refuses to delete (vault.service.ts credentialUsers).
      'consent_recipients.secret_id',
      'org_sso_configs.client_secret_id',
      'siem_destinations.secret_id',
      'webhooks.secret_id',
    ])
  })

  it('refuses to delete a webhook’s signing secret (409, kept); removing the webhook takes it', async () => {
    const hook = await api('POST', '/webhooks', {
      name: 'pager',
      url: 'https://127.0.0.1:9/hook',
      events: ['notifications'],
    })
    assert.equal(hook.status, 201, hook.text)
    const secretId = await secretNamed('webhook/pager')
    const refused = await api('DELETE', `/secrets/${secretId}`)
    assert.equal(refused.status, 409, refused.text)
    assert.equal(refused.body.code, 'CONFLICT')
    assert.match(refused.body.detail, /the webhook pager/)
    assert.equal((await api('GET', `/secrets/${secretId}`)).status, 200, 'kept')
    assert.equal((await api('DELETE', `/webhooks/${hook.body.id}`)).status, 204)
    assert.equal((await api('GET', `/secrets/${secretId}`)).status, 404, 'gone with its webhook')
  })

  it('refuses to delete a consent recipient’s signing secret (409, kept); removing the recipient takes it', async () => {
    const recipient = await api('POST', '/consent/recipients', {
      name: 'Mailer Ltd',
      url: 'https://127.0.0.1:9/consent',
      deadlineHours: 72,
    })
    assert.equal(recipient.status, 201, recipient.text)
    const secretId = await secretNamed(`consent-recipient/${recipient.body.id}`)
    const refused = await api('DELETE', `/secrets/${secretId}`)
    assert.equal(refused.status, 409, refused.text)
    assert.match(refused.body.detail, /the consent recipient Mailer Ltd/)
    assert.equal((await api('GET', `/secrets/${secretId}`)).status, 200, 'kept')
    const removed = await api('DELETE', `/consent/recipients/${recipient.body.id}`)
    assert.ok(removed.status === 204 || removed.status === 200, removed.text)
    assert.equal((await api('GET', `/secrets/${secretId}`)).status, 404, 'gone with its recipient')
  })

  it('refuses to delete a SIEM destination’s credential; removing the credential or the destination takes it', async () => {
    const created = await api('POST', '/siem/destinations', {
      name: 'lines',
      kind: 'jsonl',
      url: 'https://127.0.0.1:9/ingest',
      credential: 'bearer-0123456789abcdef',
    })
    assert.equal(created.status, 201, created.text)
    const secretId = await secretNamed('siem/lines')
    const refused = await api('DELETE', `/secrets/${secretId}`)
    assert.equal(refused.status, 409, refused.text)
    assert.match(refused.body.detail, /the SIEM destination lines/)
    assert.equal((await api('DELETE', `/siem/destinations/${created.body.id}`)).status, 204)
    assert.equal((await api('GET', `/secrets/${secretId}`)).status, 404)
  })
})
