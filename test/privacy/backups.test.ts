import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { snapshotDatabase } from '../helpers/snapshot.ts'
import { bootstrapProvider, createCustomerOrg, principalWithRole, startTestApp, useTestApp } from '../helpers/app.ts'

/**
 * P7.2, P7.3: an erased subject's data cannot be recovered even from a copy of the
 * database taken before the erasure — restored into the same deployment (same root key,
 * same audit key, same shred ring), it still does not open. A subject of another ring
 * bucket, in the same dump, does: the restore itself works.
 */
forEachEngine('erasure reaches earlier copies of the database (P7.2)', (engine) => {
  const rootKey = randomBytes(32)
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-backups-'))
  const env = { CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'shred-ring.json'), CUSTODIAN_SHRED_RING_GRACE_MS: '0' }
  const t = useTestApp(engine, env, undefined, undefined, { rootKey })

  it('leaves a pre-erasure dump unable to decrypt the erased subject', async () => {
    const provider = await bootstrapProvider(t())
    const org = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const app = await principalWithRole(t(), org, 'admin')
    const { subjects } = t().app.services
    const ring = t().app.shredRing
    const erased = 'erase-me@example.test'
    let kept = 'keep-me-0'
    for (
      let i = 1;
      ring.bucketOf(subjects.ref(org.orgId, kept)) === ring.bucketOf(subjects.ref(org.orgId, erased));
      i++
    )
      kept = `keep-me-${i}`
    const put = async (subjectId: string, note: string) =>
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${org.orgId}/records`,
          token: app.token,
          body: { subjectId, dataClass: 'contact', payload: { note } },
        })
      ).body.id as string
    const erasedRecord = await put(erased, 'secret-of-the-erased')
    const keptRecord = await put(kept, 'still-here')

    // The dump, taken before the erasure.
    const restoreFromDump = await snapshotDatabase(t().db, dir)

    // The erasure, completed: key shredded, ring key retired, certificate issued.
    const request = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/privacy-requests`,
      token: org.ownerToken,
      body: { kind: 'erase', subjectId: erased, verification: { method: 'signed-in-account' } },
    })
    assert.equal(
      (
        await t().request({
          method: 'POST',
          url: `/v1/orgs/${org.orgId}/privacy-requests/${request.body.id}/complete`,
          token: org.ownerToken,
          body: {},
        })
      ).status,
      200,
    )
    assert.equal((await t().app.services.shredding.pass()).retired, 1)
    assert.equal(
      (
        await t().request({
          method: 'GET',
          url: `/v1/orgs/${org.orgId}/privacy-requests/${request.body.id}`,
          token: org.ownerToken,
        })
      ).body.status,
      'completed',
    )

    // Restore the pre-erasure dump into the same deployment and try to read.
    const restoredDb = await restoreFromDump()
    const restored = await startTestApp(engine, restoredDb, env, undefined, undefined, undefined, rootKey)
    try {
      const stillThere = await restoredDb.kysely
        .selectFrom('subject_keys')
        .select('wrapped_key')
        .where('subject_ref', '=', subjects.ref(org.orgId, erased))
        .executeTakeFirstOrThrow()
      assert.ok(stillThere.wrapped_key !== null, 'the dump does hold the erased subject’s wrapped key and records')
      const refused = await restored.request({
        method: 'GET',
        url: `/v1/orgs/${org.orgId}/records/${erasedRecord}`,
        token: app.token,
      })
      assert.equal(refused.status, 410, refused.text)
      assert.equal(refused.body.code, 'SUBJECT_DATA_UNAVAILABLE')
      assert.doesNotMatch(refused.text, /secret-of-the-erased/)
      const control = await restored.request({
        method: 'GET',
        url: `/v1/orgs/${org.orgId}/records/${keptRecord}`,
        token: app.token,
      })
      assert.equal(control.status, 200, control.text)
      assert.equal(control.body.payload.note, 'still-here', 'the same dump restores another bucket’s subject')
    } finally {
      await restored.app.close()
      await restoredDb.close()
    }
  })

  it('refuses to start without its shred ring while the database holds keys sealed by one', async () => {
    const lost = { ...env, CUSTODIAN_SHRED_RING_FILE: path.join(dir, 'not-the-ring.json') }
    await assert.rejects(
      startTestApp(engine, t().db, lost, undefined, undefined, undefined, rootKey),
      /shred ring .* is missing/,
    )
  })
})
