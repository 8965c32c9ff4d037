import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, it } from 'node:test'
import { memberEmails } from '../../src/db/people.ts'
import { type Trx, withOrg } from '../../src/db/tenant.ts'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'

/**
 * src/db/people.ts, `memberEmails` — one statement for a page's ids (issue 18): members of the
 * org asked for only, never another org's people, even on a connection without row-level
 * security (the owner's: the statement's own org condition must hold it, not the policy);
 * ids in any case, with or without `user:`, repeated; anything else ignored.
 */
forEachEngine('memberEmails: a page’s members’ emails, this org’s only (P2.8)', (engine) => {
  const t = useTestApp(engine)
  let acme: Org
  let other: Org

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.acme.test`)
    other = await createCustomerOrg(t(), provider, 'Other', `owner@${engine}.other.test`)
  })

  /** On the owner's connection, outside any org's transaction: no row-level policy applies. */
  const owners = <T>(fn: (trx: Trx) => Promise<T>): Promise<T> => t().db.kysely.transaction().execute(fn)

  it('answers this org’s members by lower-case id, folding case, `user:` and repeats; never another org’s', async () => {
    const refs = [
      acme.ownerId.toUpperCase(),
      `user:${acme.ownerId}`,
      acme.ownerId,
      other.ownerId,
      `user:${other.ownerId}`,
      randomUUID(),
      'service_account:x',
      "'; DROP TABLE users; --",
      null,
      undefined,
    ]
    const expected = { [acme.ownerId.toLowerCase()]: `owner@${engine}.acme.test` }
    // Inside the org's transaction (row-level security on), and on the owner's connection
    // (none): the same answer.
    assert.deepEqual(await withOrg(t().db.kysely, acme.orgId, (trx) => memberEmails(trx, acme.orgId, refs)), expected)
    assert.deepEqual(await owners((trx) => memberEmails(trx, acme.orgId, refs)), expected)
    assert.deepEqual(await owners((trx) => memberEmails(trx, other.orgId, [acme.ownerId])), {})
    assert.deepEqual(await owners((trx) => memberEmails(trx, acme.orgId, [])), {})
  })
})
