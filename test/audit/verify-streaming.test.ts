import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { it } from 'node:test'
import v8 from 'node:v8'
import vm from 'node:vm'
import { sql } from 'kysely'
import { ed25519FromSeed } from '../../src/crypto/keys.ts'
import { withOwner } from '../../src/db/tenant.ts'
import { verifyChainLinks, type ChainLink } from '../../src/modules/audit/audit.format.ts'
import { createAuditService } from '../../src/modules/audit/audit.service.ts'
import { chainLinksPage, listCheckpoints } from '../../src/modules/audit/audit.store.ts'
import { buildChainedLog } from '../helpers/audit-chain.ts'
import { forEachEngine, useDatabase } from '../helpers/db.ts'

/**
 * `audit verify` streams: it reads the chain a page at a time and keeps nothing of a page
 * once it has moved on, so its memory is bounded by the page size, not by the log's length.
 * Measured on a real log (the sequencer's chain, tree and checkpoints) read through the
 * verifier's own page query: every page and some links are watched with WeakRefs, and after
 * the verifier asks for the next page a full collection runs and the watched objects still
 * alive are counted. A verifier that kept its rows (or read them all first) keeps them
 * alive, which the control shows the probe sees.
 */

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void

const EVENTS = 3_000
const PAGE = 100

forEachEngine('audit verify streams the log in bounded memory', (engine) => {
  const db = useDatabase(engine)
  const signer = ed25519FromSeed(randomBytes(32))
  const keys = new Map([[signer.keyId, signer.publicKey]])
  const orgId = randomUUID()

  /**
   * The org's pages as the verifier reads them, watched: when the verifier asks for the next
   * page, a full collection, then the number of watched objects (each page, its last link and
   * that link's hash) still alive of the pages before the one just handed over. The one just
   * handed over is not counted: this generator's own suspended frame may still reference it.
   */
  async function* watchedPages(aliveAfterEach: number[]): AsyncGenerator<ChainLink[]> {
    const watched: WeakRef<object>[][] = []
    let afterSeq = 0
    for (;;) {
      let page: ChainLink[] | undefined = await withOwner(db().kysely, (trx) =>
        chainLinksPage(trx, orgId, afterSeq, PAGE),
      )
      const last = page.at(-1)
      const full = page.length === PAGE
      if (last !== undefined) {
        watched.push([new WeakRef(page), new WeakRef(last), new WeakRef(last.hash)])
        afterSeq = last.seq
        yield page
      }
      // Drops this frame's own reference before the collection.
      // eslint-disable-next-line no-useless-assignment
      page = undefined
      // A macrotask first: a WeakRef keeps its target alive until the current job ends.
      await new Promise((resolve) => setImmediate(resolve))
      gc()
      aliveAfterEach.push(
        watched.slice(0, -1).reduce((n, refs) => n + refs.filter((ref) => ref.deref() !== undefined).length, 0),
      )
      if (!full) return
    }
  }

  it('builds a real log of 3,000 events (sequencer, tree, a checkpoint every 500)', async () => {
    await buildChainedLog(db().kysely, signer, orgId, EVENTS, { checkpointEvery: 500, slice: 500 })
    const chained = await sql<{
      n: string
    }>`SELECT count(*)::text AS n FROM audit_chain WHERE org_id = ${orgId}`.execute(db().kysely)
    assert.equal(Number(chained.rows[0]?.n), EVENTS)
  })

  it('holds no page (and no link) once it has moved on to the next: its working set is the page of 100 links it is verifying', async () => {
    const checkpoints = await withOwner(db().kysely, (trx) => listCheckpoints(trx, orgId))
    assert.ok(checkpoints.length >= 4)
    const alive: number[] = []
    const result = await verifyChainLinks(orgId, watchedPages(alive), checkpoints, keys, {
      requireCheckpoint: 'if-events',
    })
    assert.equal(result.ok, true, JSON.stringify(result.problems))
    assert.equal(result.events, EVENTS)
    assert.equal(alive.length, EVENTS / PAGE + 1)
    // Nothing of an earlier page: the verifier keeps only the last link's hash (the next
    // link's expected prev_hash), and that is of the page just handed over.
    assert.ok(
      alive.every((n) => n === 0),
      `watched objects of earlier pages still alive after each page: ${alive.join(',')}`,
    )
  })

  it('the probe sees a verifier that keeps its rows (the control)', async () => {
    const checkpoints = await withOwner(db().kysely, (trx) => listCheckpoints(trx, orgId))
    const alive: number[] = []
    const kept: (readonly ChainLink[])[] = []
    async function* keeping(pages: AsyncIterable<ChainLink[]>) {
      for await (const page of pages) {
        kept.push(page)
        yield page
      }
    }
    const result = await verifyChainLinks(orgId, keeping(watchedPages(alive)), checkpoints, keys, {})
    assert.equal(result.ok, true)
    assert.equal(kept.length, EVENTS / PAGE)
    assert.ok((alive.at(-1) ?? 0) >= EVENTS / PAGE - 1, `alive at the end: ${alive.at(-1)}`)
  })

  it('the audit service verifies the log a page at a time, also a log whose length is a multiple of the page', async () => {
    const service = createAuditService({ db: db().kysely, signer, hmacKey: randomBytes(32), verifyPageSize: PAGE })
    const result = await service.verify(orgId)
    assert.equal(result.ok, true, JSON.stringify(result.problems))
    assert.equal(result.events, EVENTS)
    assert.equal(result.lastSeq, EVENTS)
    const odd = createAuditService({ db: db().kysely, signer, hmacKey: randomBytes(32), verifyPageSize: 256 })
    const again = await odd.verify(orgId)
    assert.deepEqual({ ...again, problems: [] }, { ...result, problems: [] })
  })

  it('a link naming no event stops the walk with an error, as before (not a silent gap)', async () => {
    await sql`ALTER TABLE audit_chain DROP CONSTRAINT audit_chain_id_fkey`.execute(db().kysely)
    await sql`UPDATE audit_chain SET id = -1 WHERE org_id = ${orgId} AND seq = 1234`.execute(db().kysely)
    const service = createAuditService({ db: db().kysely, signer, hmacKey: randomBytes(32), verifyPageSize: PAGE })
    await assert.rejects(service.verify(orgId), /seq 1234 names no event/)
  })
})
