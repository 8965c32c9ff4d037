import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before } from 'node:test'
import { createTestDatabase, type TestDatabase } from './db.ts'
import { enrolTotp } from './totp.ts'
import type { JsonBody } from './json.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

/**
 * Node's compile cache for the children (https://nodejs.org/api/module.html#module-compile-cache):
 * every spawned service or CLI loads the same few hundred TypeScript modules, and with their
 * type-stripped source and V8 code cached under .cache/ (checksummed: a stale or torn entry
 * is recompiled) a start takes about half the CPU. A NODE_COMPILE_CACHE already set wins.
 */
export const CHILD_COMPILE_CACHE: Record<string, string> = {
  NODE_COMPILE_CACHE: process.env.NODE_COMPILE_CACHE ?? path.join(ROOT, '.cache', 'node-compile-cache'),
}

/**
 * Every child still running when this test process ends is killed: a server that failed a
 * test (or never listened) must not keep the file's pipes open and hang the whole run.
 */
const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

function track(child: ChildProcess): Promise<number | null> {
  running.add(child)
  return new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
}

/** SIGTERM, then SIGKILL if the process has not exited within `graceMs`; resolves to its exit code. */
async function terminate(child: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<number | null> {
  child.kill('SIGTERM')
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), graceMs)
  })
  const first = await Promise.race([exited, late])
  clearTimeout(timer)
  if (first !== 'late') return first
  child.kill('SIGKILL')
  await exited
  throw new Error(`process did not exit within ${graceMs} ms of SIGTERM (killed)`)
}

export interface ServerProcess {
  child: ChildProcess
  httpsPort: number
  httpPort: number | undefined
  bootstrapToken: string | undefined
  output: () => string
  /** SIGTERM and wait for exit. */
  stop(): Promise<number | null>
  /** SIGKILL: no shutdown code runs at all. */
  kill(): Promise<void>
}

/**
 * How long a test waits for a child process to start or finish before calling it hung: a
 * bound, not a speed target (those live in `npm run bench`). A start on PGlite (a new data
 * directory copies the migrated template) takes ≈10 s of CPU: tens of seconds on two cores
 * busy with three test files and their browsers.
 */
const CHILD_PROCESS_BOUND_MS = 180_000

/**
 * Starts `node src/main.ts` (the real service) and waits until it listens; `root` is the
 * checkout it runs from (another build's, for the bench's comparisons).
 */
export async function spawnServer(
  env: Record<string, string>,
  timeoutMs = CHILD_PROCESS_BOUND_MS,
  root = ROOT,
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [path.join(root, 'src/main.ts')], {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      ...CHILD_COMPILE_CACHE,
      CUSTODIAN_HTTPS_PORT: '0',
      CUSTODIAN_HTTP_PORT: '0',
      CUSTODIAN_LOG_LEVEL: 'warn',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  // Keep the start-up output (fingerprint, bootstrap token, errors); drop the request log
  // beyond that, so a long run does not grow this process's memory.
  let output = ''
  const keep = (chunk: Buffer) => {
    if (output.length < 256 * 1024) output += chunk.toString()
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  const exited = track(child)

  const ports = await new Promise<{ httpsPort: number; httpPort: number | undefined }>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`server did not start in ${timeoutMs} ms (killed):\n${output}`))
    }, timeoutMs)
    let scanned = 0
    const check = () => {
      const lines = output.slice(scanned).split('\n')
      // Scan only complete lines not seen before.
      scanned += output.slice(scanned).lastIndexOf('\n') + 1
      for (const line of lines.slice(0, -1)) {
        const match = /^Listening: https:\/\/[^:]+:(\d+)(?: \(HTTP (\d+) redirects)?/.exec(line)
        if (match !== null) {
          clearTimeout(timer)
          child.stdout?.off('data', check)
          resolve({ httpsPort: Number(match[1]), httpPort: match[2] === undefined ? undefined : Number(match[2]) })
          return
        }
      }
    }
    child.stdout?.on('data', check)
    // `exited` settles only by resolving (on the child's exit event).
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`server exited with ${code} before listening:\n${output}`))
    })
  })
  return {
    child,
    ...ports,
    bootstrapToken: /cst_boot_[0-9a-f]{32}_[A-Za-z0-9_-]{43}/.exec(output)?.[0],
    output: () => output,
    async stop() {
      return terminate(child, exited, 60_000)
    },
    async kill() {
      child.kill('SIGKILL')
      await exited
    },
  }
}

/** Waits for a process started separately (e.g. one expected to refuse to start). */
export async function runToExit(
  args: string[],
  env: Record<string, string>,
  timeoutMs = CHILD_PROCESS_BOUND_MS,
  input?: string,
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', ...CHILD_COMPILE_CACHE, ...env },
    stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  })
  if (input !== undefined) child.stdin?.end(input)
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
  const exited = track(child)
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  const code = await exited
  clearTimeout(timer)
  return { code, output }
}

export interface HttpsResponse {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: JsonBody
  text: string
}

/** A JSON request over real HTTPS to a local server (its self-signed certificate accepted). */
export function httpsJson(
  port: number,
  method: string,
  urlPath: string,
  options: {
    token?: string
    body?: unknown
    /** A Cookie header (a browser's session). */
    cookie?: string
    /** More request headers (e.g. X-Custodian-Grant). */
    headers?: Record<string, string>
  } = {},
): Promise<HttpsResponse> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body)
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        rejectUnauthorized: false,
        headers: {
          ...(payload === undefined
            ? {}
            : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
          ...(options.token === undefined ? {} : { authorization: `Bearer ${options.token}` }),
          ...(options.cookie === undefined ? {} : { cookie: options.cookie }),
          ...options.headers,
        },
      },
      (res) => {
        let text = ''
        res.on('data', (chunk: Buffer) => (text += chunk.toString()))
        res.on('end', () => {
          let body: JsonBody
          try {
            body = text === '' ? {} : (JSON.parse(text) as JsonBody)
          } catch {
            body = {}
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text })
        })
      },
    )
    req.on('error', reject)
    if (payload !== undefined) req.write(payload)
    req.end()
  })
}

/**
 * Bootstraps a running server over HTTPS and enrols the new owner in TOTP (operators need
 * a second factor before anything else, P3.2). Returns the bootstrap response, its body
 * extended with the owner's TOTP seed and recovery codes.
 */
export async function bootstrapOverHttps(
  port: number,
  token: string | undefined,
  options: { orgName?: string; email?: string; password?: string } = {},
): Promise<HttpsResponse> {
  const boot = await httpsJson(port, 'POST', '/v1/bootstrap', {
    body: {
      token,
      orgName: options.orgName ?? 'P',
      email: options.email ?? 'o@p.test',
      password: options.password ?? 'correct horse battery staple',
    },
  })
  if (boot.status !== 201) return boot
  const { secret, recoveryCodes } = await enrolTotp((method, url, body) =>
    httpsJson(port, method, url, { token: boot.body.apiToken, body }),
  )
  return { ...boot, body: { ...boot.body, totpSecret: secret, recoveryCodes } }
}

/**
 * Services in separate processes on one PostgreSQL database (a fresh one per describe),
 * sharing the root and audit keys as the nodes of one installation do; each its own data
 * directory. Returns a getter for them once started; stops them and drops the database after.
 */
export function useServersOnOnePostgres(
  names: readonly string[],
  env: Record<string, string> = {},
): () => { servers: ServerProcess[]; db: TestDatabase } {
  let db: TestDatabase | undefined
  const servers: ServerProcess[] = []
  before(async () => {
    db = await createTestDatabase('postgres')
    const shared = mkdtempSync(path.join(tmpdir(), 'custodian-nodes-'))
    for (const name of names)
      servers.push(
        await spawnServer({
          DATABASE_URL: db.url as string,
          CUSTODIAN_DATA_DIR: path.join(shared, name),
          CUSTODIAN_ROOT_KEY_FILE: path.join(shared, 'root.key'),
          CUSTODIAN_AUDIT_KEY_FILE: path.join(shared, 'audit.key'),
          ...env,
        }),
      )
  })
  after(async () => {
    for (const server of servers) await server.stop()
    await db?.close()
  })
  return () => ({ servers, db: db as TestDatabase })
}
