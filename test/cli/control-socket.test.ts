import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  watch,
} from 'node:fs'
import { request } from 'node:http'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  bootstrapOverHttps,
  CHILD_COMPILE_CACHE,
  httpsJson,
  runToExit,
  spawnServer,
  type ServerProcess,
} from '../helpers/process.ts'

/*
 * The control socket (src/control): beside a running embedded service the admin CLI's
 * database commands run inside it, with the output and exit code a run on the stopped data
 * directory gives. PGlite only: the socket exists for the embedded database alone.
 */

const ROOT = path.resolve(import.meta.dirname, '../..')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

describe('the admin CLI beside a running embedded service (control socket)', () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-ctl-'))
  const env = { CUSTODIAN_DATA_DIR: dataDir }
  const controlDir = path.join(dataDir, 'control')
  const socket = path.join(controlDir, 'custodian.sock')
  let server: ServerProcess | undefined
  let orgId: string
  let ownerToken: string

  /** `custodian …` as a process, its two outputs apart. */
  function cli(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/custodian.js'), ...args], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', ...CHILD_COMPILE_CACHE, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      child.once('exit', (code) => resolve({ code, stdout, stderr }))
    })
  }

  /**
   * A raw HTTP request on the socket: status and body text. With `declaredLength`, the
   * request announces that many bytes and sends only `body`: the service answers an
   * oversized request from its header (413) without the client racing it to write the rest
   * (an EPIPE could otherwise lose the answer). Never waits forever: no answer in 120 s, or
   * the connection closed without one, fails naming the path.
   */
  function raw(
    urlPath: string,
    body: string | Buffer,
    headers: Record<string, string> = {},
    declaredLength?: number,
  ): Promise<{ status: number; text: string }> {
    return new Promise((resolve, reject) => {
      let answered = false
      const req = request(
        {
          socketPath: socket,
          method: 'POST',
          path: urlPath,
          headers: {
            'content-type': 'application/json',
            'x-custodian-uid': '0',
            'content-length': String(declaredLength ?? Buffer.byteLength(body)),
            ...headers,
          },
        },
        (res) => {
          let text = ''
          res.on('data', (c: Buffer) => (text += c.toString()))
          res.on('end', () => {
            answered = true
            resolve({ status: res.statusCode ?? 0, text })
            if (declaredLength !== undefined) req.destroy()
          })
        },
      )
      req.setTimeout(120_000, () => req.destroy(new Error(`no answer on the control socket to ${urlPath} in 120 s`)))
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (!answered && error.code !== 'EPIPE' && error.code !== 'ECONNRESET') reject(error)
      })
      req.on('close', () => {
        if (!answered) reject(new Error(`the control socket closed without answering ${urlPath}`))
      })
      if (declaredLength === undefined) req.end(body)
      else req.write(body)
    })
  }

  before(async () => {
    const init = await cli(['init', '--json'])
    assert.equal(init.code, 0, init.stderr)
    const { bootstrapToken } = JSON.parse(init.stdout) as { bootstrapToken: string }
    const first = await spawnServer(env)
    try {
      const boot = await bootstrapOverHttps(first.httpsPort, bootstrapToken)
      assert.equal(boot.status, 201, boot.text)
      ;({ orgId, apiToken: ownerToken } = boot.body as { orgId: string; apiToken: string })
      const account = await httpsJson(first.httpsPort, 'POST', `/v1/orgs/${orgId}/service-accounts`, {
        token: ownerToken,
        body: { name: 'app', role: 'admin' },
      })
      assert.equal(account.status, 201, account.text)
    } finally {
      assert.equal(await first.stop(), 0)
    }
  })
  after(async () => {
    await server?.stop().catch(() => undefined)
  })

  // Each command, first on the stopped data directory, then through the running service.
  // Tokens, times and ids vary from run to run and are masked; everything else is compared.
  const mask = (text: string) =>
    text
      .replaceAll(/cst_[A-Za-z0-9_-]+/g, '<token>')
      .replaceAll(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, '<time>')
      .replaceAll(/"id": "[0-9a-f-]{36}"/g, '"id": "<id>"')
      .replaceAll(/API token [0-9a-f-]{36}/g, 'API token <id>')
      .replaceAll(/pid \d+/g, 'pid <pid>')
      // The service's own jobs may add events while it runs: audit verify's counts move.
      .replaceAll(
        /: \d+ events?, last seq \d+, \d+ signed checkpoints?/g,
        ': <n> events, last seq <n>, <n> signed checkpoints',
      )
  const commands: (() => string[])[] = [
    () => ['migrate'],
    () => ['keys', 'status', '--org', orgId],
    () => ['audit', 'verify', '--org', orgId],
    () => ['bootstrap-token'],
    () => [
      'token',
      'create',
      '--org',
      orgId,
      '--service-account',
      'app',
      '--name',
      'ci',
      '--scopes',
      'org:read',
      '--json',
    ],
    () => ['token', 'create', '--org', orgId, '--service-account', 'nobody-here', '--name', 'x'],
  ]
  const stopped = new Map<string, Run>()

  // One test per command and way: each CLI run is a process that loads the service's code,
  // tens of seconds on a busy machine, and each test has its own time bound.
  for (const index of commands.keys()) {
    it(`runs command ${index + 1} of ${commands.length} on the stopped data directory (the reference output)`, async () => {
      const args = commands[index]?.() as string[]
      stopped.set(args.join(' '), await cli(args))
    })
  }

  it('starts the service with a control socket of mode 0600 in a directory of mode 0700', async () => {
    server = await spawnServer(env)
    const socketStats = lstatSync(socket)
    assert.ok(socketStats.isSocket())
    assert.equal(socketStats.mode & 0o777, 0o600)
    assert.equal(statSync(controlDir).mode & 0o777, 0o700)
    assert.equal(socketStats.uid, process.getuid?.())
  })

  for (const index of commands.keys()) {
    it(`gives command ${index + 1} of ${commands.length} through the service the output and exit code it gives on the stopped directory`, async () => {
      const args = commands[index]?.() as string[]
      const key = args.join(' ')
      const reference = stopped.get(key) as Run
      const beside = await cli(args)
      assert.equal(beside.code, reference.code, `${key}: exit code\n${beside.stderr}`)
      assert.equal(mask(beside.stdout), mask(reference.stdout), `${key}: stdout`)
      assert.equal(mask(beside.stderr), mask(reference.stderr), `${key}: stderr`)
      // The service's own data directory, named as the stopped run named it.
      if (args[0] === 'audit')
        assert.match(beside.stdout, new RegExp(`^Database: the embedded database in ${dataDir}\\nOK   org ${orgId}`))
    })
  }

  it('shows the progress of keys rotate through the service as a local run does', async () => {
    const keys = await cli(['keys', 'rotate', '--org', orgId])
    assert.equal(keys.code, 0, keys.stderr)
    assert.match(keys.stdout, new RegExp(`^org ${orgId}: key v1, rewrapping data keys: 100% \\(0/0\\)\\n`))
    assert.match(keys.stdout, /Rotated 1 org key\(s\); old versions retired and erased\.\n$/)
  })

  it('records the commands it ran in the audit log as system:cli, with the way (control socket) and the OS user', async () => {
    const events = await httpsJson(
      server?.httpsPort as number,
      'GET',
      `/v1/orgs/${orgId}/audit/events?action=token.create`,
      { token: ownerToken },
    )
    assert.equal(events.status, 200, events.text)
    const made = (
      events.body as { events: { actor: { type: string; id: string }; userAgent: string }[] }
    ).events.filter((e) => e.actor.type === 'system') // the owner's own token at bootstrap is not the CLI's
    const uid = process.getuid?.() ?? 0
    assert.deepEqual(made.map((e) => [e.actor.type, e.actor.id, e.userAgent]).sort(), [
      ['system', 'cli', `custodian-cli (control socket, uid ${uid})`],
      ['system', 'cli', `custodian-cli (local, uid ${uid})`],
    ])
  })

  it('refuses init and keys rotate-root beside the service, saying why', async () => {
    const init = await cli(['init'])
    assert.equal(init.code, 1)
    assert.match(
      init.stderr,
      /custodian: init: a Custodian service \(pid \d+\) runs on the data directory .*custodian `?bootstrap-token/,
    )
    const rotateRoot = await cli(['keys', 'rotate-root'])
    assert.equal(rotateRoot.code, 1)
    assert.match(rotateRoot.stderr, /keys rotate-root: a Custodian service .*stop it, rotate, then start it/)
    // The same refusal whoever sends it straight to the socket.
    const direct = await raw('/commands/init', JSON.stringify({ threshold: '3' }))
    assert.equal(direct.status, 409, direct.text)
  })

  it('refuses malformed, unknown and oversized requests (problem+json) and keeps serving', async () => {
    const badJson = await raw('/commands/keys/status', '{"org":')
    assert.equal(badJson.status, 400)
    assert.equal((JSON.parse(badJson.text) as { code: string }).code, 'BAD_REQUEST')
    const extra = await raw('/commands/keys/status', JSON.stringify({ org: orgId, sql: 'drop table orgs' }))
    assert.equal(extra.status, 400)
    assert.equal((JSON.parse(extra.text) as { code: string }).code, 'VALIDATION_FAILED')
    const wrongType = await raw('/commands/audit/verify', JSON.stringify({ org: 42 }))
    assert.equal(wrongType.status, 400)
    const noUid = await raw('/commands/migrate', '{}', { 'x-custodian-uid': 'root' })
    assert.equal(noUid.status, 400)
    const otherUid = await raw('/commands/migrate', '{}', { 'x-custodian-uid': '4242' })
    assert.equal(otherUid.status, 400)
    assert.match(otherUid.text, /uid 4242 cannot reach this socket/)
    const unknown = await raw('/commands/backup/drop', '{}')
    assert.equal(unknown.status, 404)
    const huge = await raw('/commands/keys/status', Buffer.alloc(64 * 1024, 'a'), {}, 5 * 1024 * 1024)
    assert.equal(huge.status, 413)
    // Not HTTP at all: the connection is answered 400 and closed.
    const garbage = await new Promise<string>((resolve, reject) => {
      const conn = connect(socket)
      let text = ''
      conn.on('data', (c: Buffer) => (text += c.toString()))
      conn.on('end', () => resolve(text))
      conn.on('error', reject)
      conn.end('\u0000\u0001 not a request\r\n\r\n')
    })
    assert.match(garbage, /^HTTP\/1\.1 400/)
    const still = await cli(['migrate'])
    assert.equal(still.code, 0, still.stderr)
    assert.equal(still.stdout, 'Schema is current.\n')
  })

  it('keeps other OS users out: the control directory does (runuser as nobody, with the data directory opened to all)', {
    skip: process.getuid?.() === 0 ? false : 'needs root to act as another user; the modes are checked above',
  }, () => {
    // The data directory itself is 0700 too (mkdtemp); opened up, only the control directory stands.
    chmodSync(dataDir, 0o755)
    try {
      const script = `require('net').connect(${JSON.stringify(socket)}).on('connect', () => { console.log('connected'); process.exit(0) }).on('error', (e) => { console.log(e.code); process.exit(3) })`
      const attempt = spawnSync('runuser', ['-u', 'nobody', '--', process.execPath, '-e', script], { encoding: 'utf8' })
      assert.equal(attempt.status, 3, `${attempt.stdout}${attempt.stderr}`)
      assert.equal(attempt.stdout.trim(), 'EACCES')
    } finally {
      chmodSync(dataDir, 0o700)
    }
  })

  it('fails a command clearly while the service shuts down, then stops cleanly and removes its socket', async () => {
    const running = server as ServerProcess
    const pid = running.child.pid as number
    // Caught between closing its socket and releasing the data directory: stopped right there.
    const gone = new Promise<void>((resolve) => {
      const watcher = watch(controlDir, () => {
        if (!existsSync(socket)) {
          try {
            process.kill(pid, 'SIGSTOP')
          } catch {
            // already exited: the assertions below say so
          }
          watcher.close()
          resolve()
        }
      })
    })
    const exited = running.stop()
    await gone
    try {
      assert.ok(existsSync(path.join(dataDir, 'custodian.lock')), 'the service still holds the data directory')
      const late = await cli(['keys', 'status', '--org', orgId])
      assert.equal(late.code, 1)
      assert.match(late.stderr, /custodian: no service answers on the control socket .* \(it may be stopping\)/)
      assert.equal(late.stdout, '')
    } finally {
      process.kill(pid, 'SIGCONT')
    }
    assert.equal(await exited, 0, 'graceful shutdown exits 0')
    server = undefined
    assert.ok(!existsSync(socket), 'the socket is removed')
    assert.ok(!existsSync(path.join(dataDir, 'custodian.lock')))
    // And the stopped directory is the CLI's own again.
    const local = await cli(['migrate'])
    assert.equal(local.stdout, 'Schema is current.\n')
  })

  it('replaces the stale socket a killed service left at its next start', async () => {
    const killed = await spawnServer(env)
    await killed.kill()
    assert.ok(lstatSync(socket).isSocket(), 'SIGKILL leaves the socket file behind')
    const stale = await cli(['migrate'])
    assert.equal(stale.code, 0, stale.stderr) // no live holder: the CLI opens the directory itself
    server = await spawnServer(env)
    const through = await cli(['keys', 'status', '--org', orgId])
    assert.equal(through.code, 0, through.stderr)
    assert.match(through.stdout, /"activeVersion": 1,/)
    assert.equal(await server.stop(), 0)
    server = undefined
  })

  it('refuses to start when the control directory is open to others or is a symbolic link', async () => {
    chmodSync(controlDir, 0o750)
    const open = await runToExit(['src/main.ts'], { ...env, CUSTODIAN_HTTPS_PORT: '0', CUSTODIAN_HTTP_PORT: '0' })
    assert.equal(open.code, 1, open.output)
    assert.match(
      open.output,
      /the control directory .*control has mode 0750: group or others may reach its socket; run chmod 700 on it/,
    )
    chmodSync(controlDir, 0o700)

    const elsewhere = mkdtempSync(path.join(tmpdir(), 'custodian-ctl-elsewhere-'))
    renameSync(controlDir, path.join(elsewhere, 'moved'))
    symlinkSync(elsewhere, controlDir)
    try {
      const linked = await runToExit(['src/main.ts'], { ...env, CUSTODIAN_HTTPS_PORT: '0', CUSTODIAN_HTTP_PORT: '0' })
      assert.equal(linked.code, 1, linked.output)
      assert.match(linked.output, /the control directory .*control is a symbolic link/)
    } finally {
      rmSync(controlDir)
      rmSync(elsewhere, { recursive: true })
      mkdirSync(controlDir, { mode: 0o700 })
    }
  })
})
