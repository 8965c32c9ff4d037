import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { idleMemoryReducer, type MemoryReduction } from '../../src/jobs/idle-memory.ts'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { httpsJson, spawnServer, type ServerProcess } from '../helpers/process.ts'

/**
 * Idle memory (issue 18; src/jobs/idle-memory.ts): once its start completes, and once after
 * each period of work when it has been idle for CUSTODIAN_IDLE_MEMORY_MS, the service runs one
 * memory-reducing collection and gives back the young generation the work grew — never twice
 * for one idle period, never with the setting at 0.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-idle-memory-'))
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

/**
 * Busy for `ms` on this thread, allocating what survives a scavenge or two: what a burst of
 * work does to the event loop and the young generation.
 */
function busy(ms: number): number {
  const until = performance.now() + ms
  let kept = 0
  while (performance.now() < until) {
    const keep: unknown[] = []
    for (let i = 0; i < 50_000; i++) keep.push({ i, text: `row ${i}` })
    kept += keep.length
  }
  return kept
}

describe('idle memory: the reducer in this process', () => {
  it('collects once work has grown the young generation and idleMs of idleness followed, not again until work grows it again', async () => {
    const reductions: MemoryReduction[] = []
    const reducer = idleMemoryReducer({
      idleMs: 1000,
      sampleMs: 500,
      log: { info: (figures) => reductions.push(figures as MemoryReduction) },
    })
    reducer.start()
    try {
      // This process's own start may count as work: wait for an idle period with no collection.
      let settled = -1
      for (let wait = 0; wait < 20 && settled !== reductions.length; wait++) {
        settled = reductions.length
        await sleep(2000)
      }
      assert.equal(reductions.length, settled, 'idle on: nothing more to give back')
      busy(600)
      await sleep(2500)
      assert.equal(reductions.length, settled + 1, 'one collection after the work')
      assert.equal(reductions.at(-1)?.reason, 'idle')
      await sleep(2500)
      assert.equal(reductions.length, settled + 1, 'idle on: not collected again')
      // Busy without allocating: the event loop was busy, but there is nothing to give back.
      const until = performance.now() + 600
      while (performance.now() < until) Math.sqrt(Math.random())
      await sleep(2500)
      assert.equal(reductions.length, settled + 1, 'nothing grown: not collected')
      busy(600)
      await sleep(2500)
      assert.equal(reductions.length, settled + 2, 'work again, then idle: collected again')
    } finally {
      reducer.stop()
    }
  })

  it('gives the young generation back, and reports what it freed', () => {
    const figures: MemoryReduction[] = []
    const reducer = idleMemoryReducer({ idleMs: 1000, log: { info: (f) => figures.push(f as MemoryReduction) } })
    // Garbage that survives a scavenge or two grows the young generation, as a start does.
    assert.ok(busy(300) > 0)
    const reduction = reducer.reduce('idle')
    assert.equal(figures.length, 1)
    assert.ok(reduction.youngAfterMiB < reduction.youngBeforeMiB, JSON.stringify(reduction))
    assert.ok(reduction.youngAfterMiB <= 2, JSON.stringify(reduction))
  })

  it('with idleMs 0 never collects and says nothing', async () => {
    const figures: unknown[] = []
    const reducer = idleMemoryReducer({ idleMs: 0, log: { info: (f) => figures.push(f) } })
    reducer.start()
    busy(100)
    await sleep(300)
    reducer.reduce('started')
    reducer.stop()
    assert.deepEqual(figures, [])
  })
})

/** The service's `idle: memory given back` log lines. */
function reductionsOf(server: ServerProcess): MemoryReduction[] {
  return server
    .output()
    .split('\n')
    .filter((line) => line.includes('"msg":"idle: memory given back"'))
    .map((line) => JSON.parse(line) as MemoryReduction)
}

for (const engine of ENGINES) {
  describe(`idle memory: the service (${engine})`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    it('gives memory back when its start completes, and once after a burst of requests once idle', async () => {
      const env: Record<string, string> = {
        CUSTODIAN_DATA_DIR: path.join(dir, engine),
        CUSTODIAN_LOG_LEVEL: 'info',
        CUSTODIAN_IDLE_MEMORY_MS: '2000',
      }
      if (engine === 'postgres') {
        const db = await createTestDatabase('postgres')
        databases.push(db)
        assert.ok(db.url !== undefined)
        env.DATABASE_URL = db.url
      }
      const server = await spawnServer(env)
      try {
        // The log line is written asynchronously: it may follow "Listening:".
        for (let wait = 0; wait < 40 && reductionsOf(server).length === 0; wait++) await sleep(250)
        const started = reductionsOf(server)
        assert.ok(started.length >= 1, server.output())
        assert.equal(started[0]?.reason, 'started')
        assert.ok((started[0]?.youngAfterMiB ?? 99) < (started[0]?.youngBeforeMiB ?? 0), JSON.stringify(started[0]))
        // (The jobs a start runs may count as work, and be followed by a collection of their own.)
        const before = reductionsOf(server).length
        // A burst: enough requests to keep the event loop over 5 % busy for a sampling period.
        for (let round = 0; round < 20; round++) {
          const answers = await Promise.all(
            Array.from({ length: 25 }, () => httpsJson(server.httpsPort, 'GET', '/readyz')),
          )
          for (const answer of answers) assert.equal(answer.status, 200)
        }
        const deadline = Date.now() + 60_000
        while (reductionsOf(server).length <= before && Date.now() < deadline) await sleep(250)
        const reductions = reductionsOf(server)
        assert.ok(reductions.length > before, server.output().slice(-4000))
        const afterBurst = reductions.at(-1)
        assert.equal(afterBurst?.reason, 'idle')
        assert.ok((afterBurst?.youngAfterMiB ?? 99) <= 2, JSON.stringify(afterBurst))
        // Idle on for three more periods: no collection after each one. (A background job's
        // run may grow the young generation again, and be followed by one more.)
        await sleep(6500)
        assert.ok(reductionsOf(server).length <= reductions.length + 1, JSON.stringify(reductionsOf(server)))
      } finally {
        assert.equal(await server.stop(), 0, server.output())
      }
    })

    it('with CUSTODIAN_IDLE_MEMORY_MS=0 never collects', async () => {
      const env: Record<string, string> = {
        CUSTODIAN_DATA_DIR: path.join(dir, `${engine}-off`),
        CUSTODIAN_LOG_LEVEL: 'info',
        CUSTODIAN_IDLE_MEMORY_MS: '0',
      }
      if (engine === 'postgres') {
        const db = await createTestDatabase('postgres')
        databases.push(db)
        assert.ok(db.url !== undefined)
        env.DATABASE_URL = db.url
      }
      const server = await spawnServer(env)
      await sleep(500)
      assert.equal(await server.stop(), 0, server.output())
      assert.deepEqual(reductionsOf(server), [])
    })
  })
}
