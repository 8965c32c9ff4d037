/**
 * What the bench parts share: the baseline server, the ceiling, fresh PostgreSQL databases,
 * temporary directories and the service, each acquired into a part's {@link benchResources}
 * so that the bench leaves nothing behind.
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { openDatabase, type Database, type Engine } from '../src/db/connect.ts'
import { bootstrapOverHttps, spawnServer, type ServerProcess } from '../test/helpers/process.ts'

const root = path.resolve(import.meta.dirname, '..')

/** The PostgreSQL server the bench uses (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the local test one). */
export const PG_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** The directory of the PostgreSQL server's Unix socket (BENCH_DATABASE_SOCKET; Debian's by default). */
export const SOCKET_DIRECTORY = process.env.BENCH_DATABASE_SOCKET ?? '/var/run/postgresql'

/**
 * `databaseUrl` with its host replaced by the server's Unix socket directory
 * ({@link SOCKET_DIRECTORY}, percent-encoded as libpq and node-postgres read it), the port
 * kept (it names the socket file, `.s.PGSQL.<port>`); undefined when that socket file does
 * not exist.
 */
export function socketUrl(databaseUrl: string): string | undefined {
  const url = new URL(databaseUrl)
  const port = url.port === '' ? '5432' : url.port
  if (!existsSync(path.join(SOCKET_DIRECTORY, `.s.PGSQL.${port}`))) return undefined
  return `${url.protocol}//${url.username === '' ? '' : `${url.username}${url.password === '' ? '' : `:${url.password}`}@`}${encodeURIComponent(SOCKET_DIRECTORY)}:${port}${url.pathname}${url.search}`
}

/**
 * A bench part's resources — databases, directories, processes, connections — released in the
 * reverse order of their acquisition when the part ends, however it ends: returned normally,
 * threw, or the bench was interrupted (SIGINT, SIGTERM: released, then the process exits with
 * 128 + the signal's number). A standard `AsyncDisposableStack` (ECMAScript's explicit
 * resource management, in Node.js 24); use it as `await using resources = benchResources()`
 * and acquire through the functions below, which add each resource to it ({@link adopt}). A
 * release that fails is reported with the others (`SuppressedError`), after all have run.
 *
 * An interruption releases while the part's own code is still running: a measurement then
 * fails on a connection already closed, and that failure must not end the process before the
 * release has, so from the signal on, uncaught errors are reported, not fatal. A second
 * signal while releasing (an impatient Ctrl-C) only says so; a third exits at once, leaving
 * what was not yet released. A signal while the part releases after its end waits for that
 * release too.
 */
export function benchResources(): AsyncDisposableStack {
  const resources = new AsyncDisposableStack()
  let releasedAll = () => {}
  const released = new Promise<void>((resolve) => {
    releasedAll = resolve
  })
  let signals = 0
  const interrupted = (signal: NodeJS.Signals) => {
    const code = 128 + os.constants.signals[signal]
    signals++
    if (signals > 2) process.exit(code)
    if (signals === 2) {
      process.stderr.write(
        'bench: still releasing its databases, directories and processes; a third signal exits at once, leaving them\n',
      )
      return
    }
    const report = (error: unknown) => {
      process.stderr.write(
        `bench: interrupted (${signal}); releasing its resources: ${error instanceof Error ? error.message : String(error)}\n`,
      )
    }
    process.on('uncaughtException', report)
    process.on('unhandledRejection', report)
    // Already releasing (the part had ended): that release, not this call, is awaited.
    void resources
      .disposeAsync()
      .catch(report)
      .then(() => released)
      .finally(() => process.exit(code))
  }
  process.on('SIGINT', interrupted)
  process.on('SIGTERM', interrupted)
  // Registered first, so released last: the end of every release.
  resources.defer(() => {
    process.off('SIGINT', interrupted)
    process.off('SIGTERM', interrupted)
    releasedAll()
  })
  return resources
}

/**
 * Adds `release` to `resources`, or — when they were released meanwhile (the bench was
 * interrupted while the resource was being acquired) — runs it now and throws, so that
 * nothing acquired after an interruption outlives it.
 * @throws Error `bench: interrupted` after releasing, when `resources` are released
 */
export async function adopt(resources: AsyncDisposableStack, release: () => unknown): Promise<void> {
  if (!resources.disposed) {
    resources.defer(async () => {
      await release()
    })
    return
  }
  await release()
  throw new Error('bench: interrupted')
}

/** A new temporary directory named `prefix…`, removed with everything in it when `resources` are released. */
export function benchDirectory(resources: AsyncDisposableStack, prefix: string): string {
  if (resources.disposed) throw new Error('bench: interrupted')
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  resources.defer(() => {
    rmSync(dir, { recursive: true, force: true })
  })
  return dir
}

/**
 * Starts the service (src/main.ts, or another build's in `root`) with `env`, stopped when
 * `resources` are released; see test/helpers/process.ts's `spawnServer`.
 */
export async function benchServer(
  resources: AsyncDisposableStack,
  env: Record<string, string>,
  root?: string,
): Promise<ServerProcess> {
  if (resources.disposed) throw new Error('bench: interrupted')
  const server = await spawnServer(env, undefined, root)
  await adopt(resources, () => server.stop())
  return server
}

/**
 * Bootstraps the org "Bench" on a service started afresh, with `bootstrapToken` (by default
 * the one it printed); its owner's API token and the org's id.
 * @throws Error when the service refuses the bootstrap
 */
export async function bootstrapBench(
  server: ServerProcess,
  bootstrapToken = server.bootstrapToken,
): Promise<{ apiToken: string; orgId: string }> {
  const boot = await bootstrapOverHttps(server.httpsPort, bootstrapToken, {
    orgName: 'Bench',
    email: 'bench@bench.test',
  })
  if (boot.status !== 201) throw new Error(`bootstrap failed: ${boot.text}`)
  return boot.body as { apiToken: string; orgId: string }
}

/** A connected client of `databaseUrl`, ended when `resources` are released. */
export async function benchClient(resources: AsyncDisposableStack, databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  await adopt(resources, () => client.end().catch(() => undefined))
  return client
}

/** Starts bench/hello.ts (a bare Fastify hello-world over HTTPS) in its own process, stopped when `resources` are released; see {@link BenchProcess}. */
export async function startHello(resources: AsyncDisposableStack): Promise<BenchProcess> {
  return startWithDirectory(resources, 'bench/hello.ts', 'bench-hello-', [])
}

/** A bench process: its pid and port. */
export interface BenchProcess {
  pid: number
  port: number
  /** Sends SIGTERM (unless it has exited); resolves once it has exited and its directory (its TLS files) is removed. */
  stop: () => Promise<void>
}

/**
 * Spawns `script` with a new temporary directory (removed once the process exits) and
 * `args`; resolves at its first output (the port).
 * @throws Error when the process cannot be spawned or exits before it prints its port
 */
async function startWithDirectory(
  resources: AsyncDisposableStack,
  script: string,
  prefix: string,
  args: string[],
): Promise<BenchProcess> {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix))
  const child = spawn(process.execPath, [path.join(root, script), dir, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      rmSync(dir, { recursive: true, force: true })
      resolve(code)
    }),
  )
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject)
    child.stdout.on('data', (chunk: Buffer) => resolve(Number(/:(\d+)/.exec(chunk.toString())?.[1])))
    void exited.then((code) => reject(new Error(`${script} exited with ${code} before printing its port`)))
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
    await exited
  }
  await adopt(resources, stop)
  return { pid: child.pid ?? 0, port, stop }
}

/**
 * Starts bench/ceiling.ts (the ceiling, one prepared INSERT per request, and the floors: a
 * read's and a write's transaction with no application around them) in its own process, on
 * the database at `databaseUrl`; see {@link BenchProcess}.
 */
export async function startCeiling(resources: AsyncDisposableStack, databaseUrl: string): Promise<BenchProcess> {
  return startWithDirectory(resources, 'bench/ceiling.ts', 'bench-ceiling-', [databaseUrl])
}

/**
 * Drops (if an interrupted run left it) and creates the database `name` on PG_URL's server,
 * dropped again when `resources` are released; its URL.
 * @throws Error when `name` is not a plain lower-case identifier
 */
export async function freshDatabase(resources: AsyncDisposableStack, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bench database name ${name}: lower-case letters, digits and _`)
  if (resources.disposed) throw new Error('bench: interrupted')
  await dropDatabase(name)
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  await adopt(resources, () => dropDatabase(name))
  const url = new URL(PG_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/**
 * A database opened in this process on `engine`, closed and removed when `resources` are
 * released: on PostgreSQL the fresh database `name` ({@link freshDatabase}) with a pool of
 * `poolSize`, on PGlite a new data directory `name-…`. `url`: the PostgreSQL database's.
 */
export async function openBenchDatabase(
  resources: AsyncDisposableStack,
  engine: Engine,
  name: string,
  poolSize: number,
): Promise<{ database: Database; url?: string }> {
  const url = engine === 'postgres' ? await freshDatabase(resources, name) : undefined
  const database = await openDatabase(
    url === undefined ? { dataDir: benchDirectory(resources, `${name}-`) } : { databaseUrl: url, poolSize },
  )
  await adopt(resources, () => database.close())
  return url === undefined ? { database } : { database, url }
}

/** Drops the database `name` on PG_URL's server, if it exists. */
async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  } finally {
    await admin.end()
  }
}
