/**
 * What the bench parts share: the baseline server and a fresh PostgreSQL database.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'

const root = path.resolve(import.meta.dirname, '..')

/** The PostgreSQL server the bench uses (BENCH_DATABASE_URL, else TEST_DATABASE_URL, else the local test one). */
export const PG_URL =
  process.env.BENCH_DATABASE_URL ?? process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'

/** Starts bench/hello.ts (a bare Fastify hello-world over HTTPS) in its own process; see {@link BenchProcess}. */
export async function startHello(): Promise<BenchProcess> {
  return startWithDirectory('bench/hello.ts', 'bench-hello-', [])
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
async function startWithDirectory(script: string, prefix: string, args: string[]): Promise<BenchProcess> {
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
  return {
    pid: child.pid ?? 0,
    port,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
      await exited
    },
  }
}

/**
 * Starts bench/ceiling.ts (the ceiling, one prepared INSERT per request, and the floors: a
 * read's and a write's transaction with no application around them) in its own process, on
 * the database at `databaseUrl`; see {@link BenchProcess}.
 */
export async function startCeiling(databaseUrl: string): Promise<BenchProcess> {
  return startWithDirectory('bench/ceiling.ts', 'bench-ceiling-', [databaseUrl])
}

/** Drops and creates the database `name` on PG_URL's server; its URL. */
export async function freshDatabase(name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(PG_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** Drops the database `name` on PG_URL's server (the bench leaves none behind). */
export async function dropDatabase(name: string): Promise<void> {
  const admin = new pg.Client({ connectionString: PG_URL })
  await admin.connect()
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
  } finally {
    await admin.end()
  }
}
