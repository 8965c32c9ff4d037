import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'

/**
 * A real HAProxy (Debian package `haproxy`) in front of servers on 127.0.0.1, for tests
 * that run several nodes behind a load balancer. The configuration is generated into a
 * temp directory; HAProxy runs in the foreground (`-db`) as a child of the test and is
 * killed when the test process ends. Its runtime API (a stats socket, level admin) tells
 * the test when a server is UP or DOWN, so a test awaits HAProxy's own health checks
 * instead of sleeping.
 *
 * One frontend, one backend, TCP mode (layer 4): TLS passes through to the servers,
 * which keep their own certificates. `check` chooses the health check:
 * - `{ http: { path } }` — `option httpchk GET path` over TLS (`check-ssl verify none`):
 *   Custodian's `/readyz` (503 while the database, migrations or the root key are not
 *   ready). `tls: false` checks over plain HTTP, `port` checks another port than the
 *   traffic port (e.g. Patroni's REST API `GET /primary` on 8008).
 * - `'tcp'` — a TCP connect is enough.
 */
export interface HaproxyOptions {
  servers: { name: string; port: number }[]
  check: { http: { path: string; tls?: boolean; port?: number } } | 'tcp'
  /** The frontend's port on 127.0.0.1; a free one when omitted. */
  port?: number
  /** Milliseconds between checks of a server; 500 unless told (tests want a dead node noticed fast). */
  checkIntervalMs?: number
}

export type ServerState = 'UP' | 'DOWN' | 'MAINT' | 'OTHER'

export interface Haproxy {
  /** The frontend's port on 127.0.0.1. */
  port: number
  /** The generated configuration (for a failure message or the docs). */
  config: string
  /** The operational state of each backend server, by name, as HAProxy sees it now. */
  states(): Promise<Record<string, ServerState>>
  /** Resolves once HAProxy's health checks put `server` in `state`; throws after `timeoutMs`. */
  waitFor(server: string, state: 'UP' | 'DOWN', timeoutMs?: number): Promise<void>
  /** One runtime API command (`show stat`, `disable server b/n`…); its answer. */
  command(line: string): Promise<string>
  /** HAProxy's own output so far (alerts, warnings). */
  output(): string
  stop(): Promise<void>
}

/** A port free on 127.0.0.1 now (for a server that must come back on the same port). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port
      server.close(() => resolve(port))
    })
  })
}

const BACKEND = 'nodes'
/** A bound on HAProxy's start and on a state change, not a speed target. */
const BOUND_MS = 60_000

const running = new Set<ChildProcess>()
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL')
})

/** The configuration HAProxy runs with (exported so docs and tests show the same shape). */
export function haproxyConfig(options: HaproxyOptions & { port: number; socket: string }): string {
  const inter = options.checkIntervalMs ?? 500
  const check = options.check
  const checkLines =
    check === 'tcp' ? [] : [`  option httpchk GET ${check.http.path}`, '  http-check expect status 200']
  const serverCheck =
    check === 'tcp'
      ? `check inter ${inter} fall 2 rise 1`
      : `check${check.http.tls === false ? '' : ' check-ssl verify none'}${
          check.http.port === undefined ? '' : ` port ${check.http.port}`
        } inter ${inter} fall 2 rise 1`
  return [
    'global',
    `  stats socket ${options.socket} mode 600 level admin`,
    '  maxconn 512',
    '  log stderr format raw local0 notice',
    '',
    'defaults',
    '  mode tcp',
    '  log global',
    '  timeout connect 5s',
    '  timeout client 120s',
    '  timeout server 120s',
    '  timeout check 5s',
    // A connection refused by a node that just died is retried on another (the client
    // never learns); a request already sent to it is lost with its connection, and the
    // client sees the error (never a 2xx), so nothing acknowledged depends on a dead node.
    '  retries 3',
    '  option redispatch',
    '',
    'frontend custodian',
    `  bind 127.0.0.1:${options.port}`,
    `  default_backend ${BACKEND}`,
    '',
    `backend ${BACKEND}`,
    '  balance roundrobin',
    ...checkLines,
    ...options.servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port} ${serverCheck}`),
    '',
  ].join('\n')
}

/** Starts HAProxy with a generated configuration (checked first with `haproxy -c`). */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-haproxy-'))
  const socket = path.join(dir, 'admin.sock')
  const port = options.port ?? (await freePort())
  const config = haproxyConfig({ ...options, port, socket })
  const file = path.join(dir, 'haproxy.cfg')
  writeFileSync(file, config)
  const validation = spawnSync('haproxy', ['-c', '-q', '-f', file], { encoding: 'utf8' })
  if (validation.status !== 0) throw new Error(`haproxy rejected its configuration:\n${validation.stderr}\n${config}`)

  const child = spawn('haproxy', ['-db', '-f', file], { stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  let output = ''
  const keep = (chunk: Buffer) => {
    if (output.length < 256 * 1024) output += chunk.toString()
  }
  child.stdout.on('data', keep)
  child.stderr.on('data', keep)
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child)
      resolve(code)
    }),
  )
  let exitCode: number | null | undefined
  void exited.then((code) => (exitCode = code))

  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const client = connect(socket)
      let answer = ''
      client.on('data', (chunk: Buffer) => (answer += chunk.toString()))
      client.on('end', () => resolve(answer))
      client.on('error', reject)
      client.end(`${line}\n`)
    })

  // The socket exists once HAProxy has parsed its configuration and bound its listeners.
  const deadline = Date.now() + BOUND_MS
  for (;;) {
    if (exitCode !== undefined) throw new Error(`haproxy exited with ${exitCode}:\n${output}\n${config}`)
    try {
      await command('show info')
      break
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill('SIGKILL')
        throw new Error(`haproxy did not open its runtime socket in ${BOUND_MS} ms:\n${output}`, { cause: error })
      }
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  async function states(): Promise<Record<string, ServerState>> {
    // `show stat` is CSV: pxname,svname,…,status,… (header line starts with "# ").
    const csv = await command('show stat')
    const [header, ...rows] = csv.trim().split('\n')
    const columns = (header ?? '').replace(/^# /, '').split(',')
    const name = columns.indexOf('svname')
    const proxy = columns.indexOf('pxname')
    const status = columns.indexOf('status')
    const result: Record<string, ServerState> = {}
    for (const row of rows) {
      const cells = row.split(',')
      if (cells[proxy] !== BACKEND || cells[name] === 'BACKEND') continue
      const raw = cells[status] ?? ''
      // "UP", "UP 1/2" (going down), "DOWN", "DOWN 1/2" (coming up), "MAINT", "no check".
      result[cells[name] as string] =
        raw === 'UP' ? 'UP' : raw === 'DOWN' ? 'DOWN' : raw === 'MAINT' ? 'MAINT' : 'OTHER'
    }
    return result
  }

  return {
    port,
    config,
    states,
    async waitFor(server, state, timeoutMs = BOUND_MS) {
      const until = Date.now() + timeoutMs
      for (;;) {
        const now = await states()
        if (now[server] === state) return
        if (Date.now() > until)
          throw new Error(`haproxy: ${server} is ${now[server] ?? 'unknown'}, not ${state}, after ${timeoutMs} ms`)
        // HAProxy has no push notification of a state change; its checks run every `inter`.
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    },
    command,
    output: () => output,
    async stop() {
      if (exitCode !== undefined) return
      child.kill('SIGTERM')
      await exited
    },
  }
}
