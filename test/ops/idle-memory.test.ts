import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { after, describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../src/config.ts'
import { idleMemoryReducer, type MemoryReduction, TRIM_THRESHOLD_BYTES } from '../../src/jobs/idle-memory.ts'
import { operatorsTrimThreshold } from '../../src/jobs/native-heap.ts'
import type { ResidentParts } from '../helpers/resident.ts'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { httpsJson, spawnServer, type ServerProcess } from '../helpers/process.ts'

/**
 * Idle memory (issue 18; src/jobs/idle-memory.ts): once its start completes, and once after
 * each period of work when it has been idle for CUSTODIAN_IDLE_MEMORY_MS, the service runs one
 * memory-reducing collection and gives back the young generation the work grew — never twice
 * for one idle period, never with the setting at 0.
 */
const FLOOR = path.resolve(import.meta.dirname, '../fixtures/idle-memory-floor.ts')
const FRAGMENTS = path.resolve(import.meta.dirname, '../fixtures/native-heap-fragments.ts')
const EMBEDDED = path.resolve(import.meta.dirname, '../fixtures/native-heap-embedded-database.ts')
const UNRESOLVABLE = path.resolve(import.meta.dirname, '../fixtures/unresolvable-libraries.ts')
/** glibc's version where this process runs on it (its `malloc_trim` gives the C heap back), else undefined. */
const GLIBC = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime
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

/** A reducer in this process, with its collections and warnings kept for the test. */
function watched(idleMs: number, sampleMs?: number, readings?: { utilization: number; youngMiB: number }) {
  const reductions: MemoryReduction[] = []
  const warnings: string[] = []
  const reducer = idleMemoryReducer({
    idleMs,
    ...(sampleMs === undefined ? {} : { sampleMs }),
    ...(readings === undefined
      ? {}
      : { readings: { utilization: () => readings.utilization, youngBytes: () => readings.youngMiB * 1_048_576 } }),
    log: { info: (figures) => reductions.push(figures as MemoryReduction), warn: (_o, msg) => warnings.push(msg) },
  })
  return { reducer, reductions, warnings }
}

/** Waits until `reductions` has not changed for `quietMs` (this process's own start may count as work). */
async function settle(reductions: unknown[], quietMs: number): Promise<number> {
  let settled = -1
  for (let wait = 0; wait < 20 && settled !== reductions.length; wait++) {
    settled = reductions.length
    await sleep(quietMs)
  }
  return reductions.length
}

describe('idle memory: the reducer in this process', () => {
  it('collects once work has grown the young generation and idleMs of idleness followed, not again until work grows it again', async () => {
    const { reducer, reductions } = watched(1000, 500)
    reducer.start()
    try {
      const settled = await settle(reductions, 2000)
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

  it('a young generation grown with the event loop nearly idle (health checks) is not work; grown with a busy period (a job) since the last collection, it is, once', async () => {
    // The readings stand in for the process's: the rule alone, whatever the machine's load.
    // Neither shrinks with a collection: after one, growth means over twice what it left.
    const readings = { utilization: 0.01, youngMiB: 12 }
    const { reducer, reductions } = watched(1000, 100, readings)
    /** Half a second `utilization` busy, then 2 s nearly idle. */
    const busyThenIdle = async (utilization: number) => {
      readings.utilization = utilization
      await sleep(500)
      readings.utilization = 0.01
      await sleep(2000)
    }
    reducer.start()
    try {
      await sleep(2000)
      assert.equal(reductions.length, 1, "the start's jobs (before start()) count as a busy period: one collection")
      readings.youngMiB = 30
      await sleep(2000)
      assert.equal(reductions.length, 1, 'grown while nearly idle: collected')
      await busyThenIdle(0.04)
      assert.equal(reductions.length, 1, 'under 5 % busy is nearly idle: collected')
      await busyThenIdle(0.3)
      assert.equal(reductions.length, 2, 'a busy period, grown: one collection')
      // That collection left 30 MiB: 40 is not grown (over twice 30).
      readings.youngMiB = 40
      await busyThenIdle(0.3)
      assert.equal(reductions.length, 2, 'a busy period without growth past twice what was left: collected')
      readings.youngMiB = 61
      await sleep(2000)
      assert.equal(reductions.length, 3, 'grown past twice what was left, after that busy period: collected once')
    } finally {
      reducer.stop()
    }
  })

  it('never collects while work goes on, even in short bursts with pauses between them', async () => {
    const { reducer, reductions } = watched(1000, 250)
    reducer.start()
    try {
      const settled = await settle(reductions, 1500)
      // Bursts of 150 ms every 250 ms, for 4 s: over 5 % busy in every sampling period.
      const until = Date.now() + 4000
      while (Date.now() < until) {
        busy(150)
        await sleep(100)
      }
      assert.equal(reductions.length, settled, 'collected during the work')
      await sleep(2500)
      assert.equal(reductions.length, settled + 1, 'one collection once idle')
    } finally {
      reducer.stop()
    }
  })

  it('never collects while HTTP requests arrive or one is in progress, however little they cost; once after them, probes or not', async () => {
    const server = http.createServer((request, response) => {
      if (request.url === '/slow') setTimeout(() => response.end('done'), 3000)
      else response.end('ok')
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()))
    const port = (server.address() as AddressInfo).port
    const get = (urlPath: string) =>
      new Promise<void>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (response) => {
            response.resume()
            response.on('end', resolve)
          })
          .on('error', reject)
      })
    /**
     * Health checks every 300 ms for `ms`, or until `done` (neither work nor activity). On a
     * busy machine the probes themselves can keep a 250 ms sample over 5 % busy for a while:
     * a collection may come later, never earlier.
     */
    const probe = async (ms: number, done: () => boolean = () => false) => {
      for (const until = Date.now() + ms; Date.now() < until && !done(); ) {
        await get(Math.random() < 0.5 ? '/healthz' : '/readyz?full=1')
        await sleep(300)
      }
    }
    const { reducer, reductions } = watched(1000, 250)
    reducer.start()
    try {
      // Whatever collection the start's work brings comes first (later on a busy machine: 3 s of quiet).
      const settled = await settle(reductions, 3000)
      await probe(2500)
      assert.equal(reductions.length, settled, 'probes alone are no work: nothing to give back')
      // A cheap request every 300 ms for 4 s: the event loop stays nearly idle.
      for (const until = Date.now() + 4000; Date.now() < until; ) {
        await get('/')
        await sleep(300)
      }
      assert.equal(reductions.length, settled, 'collected while requests arrived')
      // One request in progress for 3 s, nothing else.
      await get('/slow')
      assert.equal(reductions.length, settled, 'collected while a request was in progress')
      // Requests were work, whatever the young generation's size now: once no request comes
      // (health checks go on), one collection — 1 to 1.5 s after the last request on a quiet
      // machine; up to 20 s are allowed for a busy one.
      await probe(20_000, () => reductions.length > settled)
      assert.equal(reductions.length, settled + 1, `one collection once no request came: ${JSON.stringify(reductions)}`)
      await probe(2500)
      assert.equal(reductions.length, settled + 1, `not again without work: ${JSON.stringify(reductions)}`)
    } finally {
      reducer.stop()
      server.close()
    }
  })

  it('does not collect over and over when a collection cannot shrink the young generation (a --min-semi-space-size floor)', async () => {
    const child = spawnSync(process.execPath, ['--min-semi-space-size=16', FLOOR], {
      env: { ...process.env, IDLE_WATCH_MS: '6000' },
      encoding: 'utf8',
      timeout: 120_000,
    })
    assert.equal(child.status, 0, child.stderr)
    const { reductions } = JSON.parse(child.stdout) as { reductions: MemoryReduction[] }
    // The floor holds it at 16 MiB (or more) after each collection: at most the first one.
    assert.ok(reductions.length <= 1, JSON.stringify(reductions))
    for (const r of reductions) assert.ok(r.youngAfterMiB >= 16, JSON.stringify(r))
  })

  it('gives the young generation back, and reports what it freed', () => {
    const { reducer, reductions } = watched(1000)
    assert.ok(busy(300) > 0)
    const reduction = reducer.reduce('idle')
    assert.equal(reductions.length, 1)
    assert.ok(reduction.youngAfterMiB < reduction.youngBeforeMiB, JSON.stringify(reduction))
    assert.ok(reduction.youngAfterMiB <= 2, JSON.stringify(reduction))
  })

  it('with idleMs 0 never collects and says nothing; refuses an idleMs it cannot sample', async () => {
    const { reducer, reductions, warnings } = watched(0)
    reducer.start()
    busy(100)
    await sleep(300)
    reducer.reduce('started')
    reducer.stop()
    assert.deepEqual(reductions, [])
    assert.deepEqual(warnings, [])
    assert.throws(() => watched(1), RangeError)
    assert.throws(() => watched(999), RangeError)
    assert.throws(() => watched(Number.NaN), RangeError)
  })

  it('refuses CUSTODIAN_IDLE_MEMORY_MS between 1 and 999, and anything not a whole number', () => {
    // One message whatever the value: a range alone would suggest 1–999 are allowed.
    for (const value of ['1', '999', 'abc', '-1', '1e4', '1000.5', '3600001', '99999999999'])
      assert.throws(
        () => loadConfig({ CUSTODIAN_IDLE_MEMORY_MS: value }),
        (error: unknown) =>
          error instanceof ConfigError &&
          error.problems.includes(
            `CUSTODIAN_IDLE_MEMORY_MS: must be 0 (off) or a whole number from 1000 to 3600000, got ${JSON.stringify(value)}`,
          ),
        value,
      )
    assert.equal(loadConfig({ CUSTODIAN_IDLE_MEMORY_MS: '3600000' }).idleMemoryMs, 3_600_000)
    assert.equal(loadConfig({}).idleMemoryMs, 30_000)
    assert.equal(loadConfig({ CUSTODIAN_IDLE_MEMORY_MS: '0' }).idleMemoryMs, 0)
    assert.equal(loadConfig({ CUSTODIAN_IDLE_MEMORY_MS: '1000' }).idleMemoryMs, 1000)
  })
})

describe('idle memory: the C heap (glibc malloc_trim, src/jobs/native-heap.ts)', () => {
  /** Runs test/fixtures/native-heap-fragments.ts, koffi loadable or not: its collections' figures. */
  function fragmentsThenCollect(koffi: 'loadable' | 'unresolvable') {
    const child = spawnSync(process.execPath, [`--import=${UNRESOLVABLE}`, FRAGMENTS], {
      env: { ...process.env, UNRESOLVABLE: koffi === 'loadable' ? '' : 'koffi' },
      encoding: 'utf8',
      timeout: 120_000,
    })
    assert.equal(child.status, 0, child.stderr)
    return JSON.parse(child.stdout) as { reductions: MemoryReduction[]; warnings: string[] }
  }

  it('gives back the free pages of a fragmented C heap after every collection; without koffi, says so once and still collects', {
    skip: GLIBC === undefined ? 'not glibc: there is no malloc_trim to call' : false,
  }, () => {
    const trimmed = fragmentsThenCollect('loadable')
    const untrimmed = fragmentsThenCollect('unresolvable')
    assert.deepEqual(trimmed.warnings, [])
    assert.equal(trimmed.reductions.length, 2, JSON.stringify(trimmed))
    assert.equal(untrimmed.reductions.length, 2, JSON.stringify(untrimmed))
    trimmed.reductions.forEach((reduction, i) => {
      // 60 of the 64 MiB freed sit below live blocks: only a trim gives them back.
      assert.equal(reduction.nativeHeapTrimmed, true, JSON.stringify(reduction))
      assert.equal(reduction.nativeHeapReleased, true, JSON.stringify(reduction))
      assert.ok(
        reduction.rssAfterMiB <= reduction.rssBeforeMiB - 32,
        `collection ${i + 1}: the trim gave back less than 32 MiB: ${JSON.stringify(reduction)}`,
      )
      const without = untrimmed.reductions[i] as MemoryReduction
      assert.equal(without.nativeHeapTrimmed, false, JSON.stringify(without))
      assert.ok(without.youngAfterMiB < without.youngBeforeMiB || i > 0, JSON.stringify(without))
      assert.ok(
        reduction.rssAfterMiB <= without.rssAfterMiB - 32,
        `collection ${i + 1}, with and without the trim: ${JSON.stringify({ reduction, without })}`,
      )
    })
    assert.deepEqual(untrimmed.warnings, ["idle: glibc's malloc could not be bound; the C heap is not given back"])
  })

  it('a trim that fails is reported once and not tried again; the collections go on and the service is not stopped', () => {
    let binds = 0
    let calls = 0
    const reductions: MemoryReduction[] = []
    const warnings: { detail?: string; msg: string }[] = []
    const reducer = idleMemoryReducer({
      idleMs: 1000,
      log: {
        info: (figures) => reductions.push(figures as MemoryReduction),
        warn: (o, msg) => warnings.push({ ...(o as { detail?: string }), msg }),
      },
      nativeHeap: () => {
        binds += 1
        return {
          trim: () => {
            calls += 1
            throw new Error('malloc_trim: simulated failure')
          },
          setTrimThreshold: () => true,
        }
      },
    })
    for (let i = 0; i < 3; i++) assert.doesNotThrow(() => reducer.reduce('idle'))
    assert.equal(binds, 1)
    assert.equal(calls, 1)
    assert.deepEqual(warnings, [
      {
        detail: 'malloc_trim: simulated failure',
        msg: 'idle: malloc_trim failed; the C heap is not given back from now on',
      },
    ])
    assert.equal(reductions.length, 3)
    for (const r of reductions) assert.equal(r.nativeHeapTrimmed, false, JSON.stringify(r))
  })

  it("sets glibc's trim threshold when created: after the embedded database's statements, its threads' arenas hold ≥ 20 MiB less than under the operator's 64 MiB, which stands", {
    skip: GLIBC === undefined ? 'not glibc: there is no trim threshold to set' : false,
  }, () => {
    /** Runs test/fixtures/native-heap-embedded-database.ts: its idle collection's figures and its memory by part. */
    const run = (env: Record<string, string>) => {
      const child = spawnSync(process.execPath, [EMBEDDED], {
        env: { ...process.env, ...env },
        encoding: 'utf8',
        timeout: 180_000,
      })
      assert.equal(child.status, 0, child.stderr)
      const { reductions, said, warnings, parts } = JSON.parse(child.stdout) as {
        reductions: MemoryReduction[]
        said: string[]
        warnings: string[]
        parts: ResidentParts
      }
      assert.deepEqual(warnings, [])
      assert.deepEqual(
        said,
        operatorsTrimThreshold({ ...process.env, ...env }).length === 0
          ? []
          : ["idle: glibc's trim threshold is the operator's; the service does not set its own"],
      )
      assert.equal(reductions.length, 1, child.stdout)
      assert.equal(reductions[0]?.nativeHeapTrimmed, true, child.stdout)
      return parts
    }
    // glibc's own raise of the threshold, as an operator's setting that the job leaves alone.
    const operators = run({ MALLOC_TRIM_THRESHOLD_: String(64 * 1_048_576) })
    const jobs = run({})
    // Measured 2–3 MiB against 35–37: the free tops of V8's compiler threads' arenas, which
    // malloc_trim does not reach.
    assert.ok(
      jobs.glibcThreadArenas <= operators.glibcThreadArenas - 20,
      `the job's threshold: ${JSON.stringify(jobs)}; the operator's: ${JSON.stringify(operators)}`,
    )
  })

  it("the trim threshold is set when the job is created and again by the start's collection, not by later ones", () => {
    const thresholds: number[] = []
    const warnings: string[] = []
    const reducer = idleMemoryReducer({
      idleMs: 1000,
      log: { info: () => {}, warn: (_o, msg) => warnings.push(msg) },
      nativeHeap: () => ({
        trim: () => true,
        setTrimThreshold: (bytes) => thresholds.push(bytes) > 0,
      }),
    })
    assert.deepEqual(thresholds, [TRIM_THRESHOLD_BYTES])
    reducer.reduce('started')
    reducer.reduce('idle')
    reducer.reduce('idle')
    assert.deepEqual(thresholds, [TRIM_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES])
    assert.deepEqual(warnings, [])
  })

  it('a trim threshold glibc refuses, or that throws, is reported once; the trims go on', () => {
    for (const refusal of ['refused', 'throws'] as const) {
      const warnings: { detail?: string; msg: string }[] = []
      const thresholds: number[] = []
      let trims = 0
      const reducer = idleMemoryReducer({
        idleMs: 1000,
        log: { info: () => {}, warn: (o, msg) => warnings.push({ ...(o as { detail?: string }), msg }) },
        nativeHeap: () => ({
          trim: () => {
            trims += 1
            return true
          },
          setTrimThreshold: (bytes) => {
            thresholds.push(bytes)
            if (refusal === 'throws') throw new Error('mallopt: simulated failure')
            return false
          },
        }),
      })
      reducer.reduce('started')
      reducer.reduce('idle')
      // Once when created; again by the start's collection only while glibc took it.
      assert.deepEqual(thresholds, [TRIM_THRESHOLD_BYTES], refusal)
      assert.equal(trims, 2, refusal)
      assert.deepEqual(
        warnings,
        [
          {
            detail: refusal === 'throws' ? 'mallopt: simulated failure' : 'mallopt returned 0',
            msg: "idle: glibc's trim threshold could not be set; the tops of its threads' arenas are not given back",
          },
        ],
        refusal,
      )
    }
  })

  it("the operator's trim threshold (MALLOC_TRIM_THRESHOLD_, GLIBC_TUNABLES) is recognised; the job sets none with the setting at 0", () => {
    assert.deepEqual(operatorsTrimThreshold({}), [])
    assert.deepEqual(operatorsTrimThreshold({ MALLOC_TRIM_THRESHOLD_: '131072' }), ['MALLOC_TRIM_THRESHOLD_'])
    assert.deepEqual(operatorsTrimThreshold({ MALLOC_TRIM_THRESHOLD_: '0x20000' }), ['MALLOC_TRIM_THRESHOLD_'])
    // Values glibc ignores are no setting: the job sets its own.
    assert.deepEqual(operatorsTrimThreshold({ MALLOC_TRIM_THRESHOLD_: '' }), [])
    assert.deepEqual(operatorsTrimThreshold({ MALLOC_TRIM_THRESHOLD_: '128k' }), [])
    assert.deepEqual(operatorsTrimThreshold({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=abc' }), [])
    assert.deepEqual(operatorsTrimThreshold({ GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=131072' }), [
      'GLIBC_TUNABLES',
    ])
    assert.deepEqual(
      operatorsTrimThreshold({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=0' }),
      ['GLIBC_TUNABLES'],
    )
    assert.deepEqual(operatorsTrimThreshold({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), [])
    assert.deepEqual(operatorsTrimThreshold({ GLIBC_TUNABLES: 'glibc.malloc.mmap_threshold=131072' }), [])
    assert.deepEqual(
      operatorsTrimThreshold({ MALLOC_TRIM_THRESHOLD_: '131072', GLIBC_TUNABLES: 'glibc.malloc.trim_threshold=0' }),
      ['MALLOC_TRIM_THRESHOLD_', 'GLIBC_TUNABLES'],
    )
    let binds = 0
    idleMemoryReducer({
      idleMs: 0,
      log: { info: () => {}, warn: () => {} },
      nativeHeap: () => {
        binds += 1
        return { trim: () => true, setTrimThreshold: () => true }
      },
    })
    assert.equal(binds, 0)
  })

  it("an operator's trim threshold is said once, at info, where it came from, and left alone", () => {
    const saved = process.env.MALLOC_TRIM_THRESHOLD_
    process.env.MALLOC_TRIM_THRESHOLD_ = String(64 * 1_048_576)
    try {
      const said: [object, string][] = []
      let set = 0
      const reducer = idleMemoryReducer({
        idleMs: 1000,
        log: { info: (obj, msg) => said.push([obj, msg]), warn: (obj, msg) => said.push([obj, msg]) },
        nativeHeap: () => ({ trim: () => true, setTrimThreshold: () => (set += 1) > 0 }),
      })
      assert.deepEqual(said, [
        [
          { setBy: ['MALLOC_TRIM_THRESHOLD_'] },
          "idle: glibc's trim threshold is the operator's; the service does not set its own",
        ],
      ])
      reducer.reduce('started')
      assert.equal(set, 0, 'the job sets no threshold of its own, at creation or at the start collection')
      assert.equal(said.length, 2, 'one line more: the collection, not the threshold again')
      assert.equal(said[1]?.[1], 'idle: memory given back')
    } finally {
      if (saved === undefined) delete process.env.MALLOC_TRIM_THRESHOLD_
      else process.env.MALLOC_TRIM_THRESHOLD_ = saved
    }
  })

  it('another C library (musl, macOS) is bound once, without a warning; a failed bind on glibc warns once', () => {
    for (const [unavailable, expected] of [
      ['not-glibc', []],
      ['failed', ["idle: glibc's malloc could not be bound; the C heap is not given back"]],
    ] as const) {
      let binds = 0
      const reductions: MemoryReduction[] = []
      const warnings: string[] = []
      const reducer = idleMemoryReducer({
        idleMs: 1000,
        log: { info: (figures) => reductions.push(figures as MemoryReduction), warn: (_o, msg) => warnings.push(msg) },
        nativeHeap: () => {
          binds += 1
          return { unavailable, detail: 'musl' }
        },
      })
      reducer.reduce('started')
      reducer.reduce('idle')
      assert.equal(binds, 1, unavailable)
      assert.deepEqual(warnings, expected, unavailable)
      assert.deepEqual(
        reductions.map((r) => r.nativeHeapTrimmed),
        [false, false],
      )
    }
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

/** The service's environment: its own data directory (and, on PostgreSQL, database), logging at info. */
async function serviceEnv(engine: string, name: string, idleMs: number): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    CUSTODIAN_DATA_DIR: path.join(dir, name),
    CUSTODIAN_LOG_LEVEL: 'info',
    CUSTODIAN_IDLE_MEMORY_MS: String(idleMs),
  }
  if (engine === 'postgres') {
    const db = await createTestDatabase('postgres')
    databases.push(db)
    assert.ok(db.url !== undefined)
    env.DATABASE_URL = db.url
  }
  return env
}

for (const engine of ENGINES) {
  describe(`idle memory: the service (${engine})`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    it('gives memory back when its start completes, and once after a burst of requests once idle', async () => {
      const env = await serviceEnv(engine, engine, 2000)
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
        // A burst of requests (none is collected while they come), then idle.
        for (let round = 0; round < 20; round++) {
          const answers = await Promise.all(
            Array.from({ length: 25 }, () => httpsJson(server.httpsPort, 'GET', '/v1/me')),
          )
          for (const answer of answers) assert.equal(answer.status, 401)
        }
        const deadline = Date.now() + 60_000
        while (reductionsOf(server).length <= before && Date.now() < deadline) await sleep(250)
        const reductions = reductionsOf(server)
        assert.ok(reductions.length > before, server.output().slice(-4000))
        const afterBurst = reductions.at(-1)
        assert.equal(afterBurst?.reason, 'idle')
        assert.ok((afterBurst?.youngAfterMiB ?? 99) <= 2, JSON.stringify(afterBurst))
        assert.ok((afterBurst?.rssAfterMiB ?? 0) > 0, JSON.stringify(afterBurst))
        assert.equal(afterBurst?.nativeHeapTrimmed, GLIBC !== undefined, JSON.stringify(afterBurst))
        // Idle on for three more periods: no collection after each one. (A background job's
        // run may grow the young generation again, and be followed by one more.)
        await sleep(6500)
        assert.ok(reductionsOf(server).length <= reductions.length + 1, JSON.stringify(reductionsOf(server)))
      } finally {
        assert.equal(await server.stop(), 0, server.output())
      }
    })

    it('with CUSTODIAN_IDLE_MEMORY_MS=0 never collects', async () => {
      const env = await serviceEnv(engine, `${engine}-off`, 0)
      const server = await spawnServer(env)
      await sleep(500)
      assert.equal(await server.stop(), 0, server.output())
      assert.deepEqual(reductionsOf(server), [])
    })
  })
}
