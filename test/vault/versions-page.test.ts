import assert from 'node:assert/strict'
import { before, it } from 'node:test'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'

/**
 * The versions of a secret come a page at a time, newest first (issue 20: a secret with
 * thousands of versions costs a page, not all of them).
 */
forEachEngine('secret versions, a page at a time', (engine) => {
  const t = useTestApp(engine)
  let org: Org
  let url: string

  before(async () => {
    const provider = await bootstrapProvider(t())
    org = await createCustomerOrg(t(), provider, 'Versions', 'owner@versions.test')
    const created = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/secrets`,
      token: org.ownerToken,
      body: { name: 'paged', type: 'generic', value: 'v1' },
    })
    assert.equal(created.status, 201, created.text)
    url = `/v1/orgs/${org.orgId}/secrets/${created.body.id}/versions`
    for (const value of ['v2', 'v3', 'v4', 'v5']) {
      const added = await t().request({ method: 'POST', url, token: org.ownerToken, body: { value } })
      assert.ok(added.status < 300, added.text)
    }
  })

  it('pages through every version newest first, and says when there are no more', async () => {
    const seen: number[][] = []
    let cursor: string | null = null
    do {
      const page = await t().request({
        method: 'GET',
        url: `${url}?limit=2${cursor === null ? '' : `&cursor=${cursor}`}`,
        token: org.ownerToken,
      })
      assert.equal(page.status, 200, page.text)
      seen.push(page.body.versions.map((v: { version: number }) => v.version))
      cursor = page.body.nextCursor
    } while (cursor !== null)
    assert.deepEqual(seen, [[5, 4], [3, 2], [1]])
  })

  it('answers the first page of 100 by default, and refuses a malformed cursor', async () => {
    const all = await t().request({ method: 'GET', url, token: org.ownerToken })
    assert.deepEqual(
      all.body.versions.map((v: { version: number }) => v.version),
      [5, 4, 3, 2, 1],
    )
    assert.equal(all.body.nextCursor, null)
    const bad = await t().request({ method: 'GET', url: `${url}?cursor=0`, token: org.ownerToken })
    assert.equal(bad.status, 400)
  })
})
