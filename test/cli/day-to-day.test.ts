import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { parseEnv } from 'node:util'
import { forEachEngine } from '../helpers/db.ts'
import { startSdkWorld, type SdkWorld } from '../helpers/sdk-world.ts'

const ROOT = path.resolve(import.meta.dirname, '../..')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Every file under `dir` (recursively), with its bytes. */
function filesUnder(dir: string): { file: string; bytes: Buffer }[] {
  const out: { file: string; bytes: Buffer }[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue
    const file = path.join(entry.parentPath, entry.name)
    out.push({ file, bytes: readFileSync(file) })
  }
  return out
}

forEachEngine('the day-to-day CLI against a running service', (engine) => {
  let world: SdkWorld
  // A user of their own: home, config directory and temporary directory, all empty at first.
  const home = mkdtempSync(path.join(tmpdir(), 'custodian-cli-home-'))
  const config = path.join(home, 'config')
  const tmp = mkdtempSync(path.join(tmpdir(), 'custodian-cli-tmp-'))
  const env = { HOME: home, XDG_CONFIG_HOME: config, TMPDIR: tmp, PATH: process.env.PATH ?? '' }

  /** `custodian …` with `input` on standard input; its two outputs apart. */
  function cli(args: string[], input = ''): Promise<Run> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [path.join(ROOT, 'bin/custodian.js'), ...args], {
        cwd: ROOT,
        env,
        stdio: ['pipe', 'pipe', 'pipe'],
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()))
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()))
      child.stdin.end(input)
      child.once('exit', (code) => resolve({ code, stdout, stderr }))
    })
  }

  const login = (token: string) => cli(['login', '--url', world.url, '--ca', world.caFile], `${token}\n`)

  before(async () => {
    world = await startSdkWorld(engine)
  })
  after(async () => {
    await world?.stop()
  })

  it('login keeps the token (read from standard input) in a 0600 file of the user’s config directory', async () => {
    const refused = await login('cst_not_a_real_token')
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /custodian: UNAUTHENTICATED: .* \(HTTP 401\)/)
    assert.throws(() => statSync(path.join(config, 'custodian', 'login.json')), 'nothing kept after a refusal')

    const done = await login(world.appToken)
    assert.equal(done.code, 0, done.stderr)
    assert.match(done.stdout, new RegExp(`Logged in to ${world.url} as service_account .* in org ${world.orgId}`))
    assert.ok(!done.stdout.includes(world.appToken) && !done.stderr.includes(world.appToken))
    const file = path.join(config, 'custodian', 'login.json')
    assert.equal(statSync(file).mode & 0o777, 0o600)
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700)
    assert.equal(JSON.parse(readFileSync(file, 'utf8')).token, world.appToken)
  })

  it('names its own options in errors: an untrusted certificate asks for --ca, a bad URL for --url (issue 13)', async () => {
    const untrusted = await cli(['login', '--url', world.url], `${world.appToken}\n`)
    assert.equal(untrusted.code, 1)
    assert.match(
      untrusted.stderr,
      /custodian: CONNECTION_FAILED: the TLS certificate of .* is not trusted \(.+\): give its CA .*`custodian login --ca <file>`/,
    )
    assert.doesNotMatch(untrusted.stderr, /as `ca`/, 'not the SDK’s option name')
    const notUrl = await cli(['login', '--url', 'not a url'], `${world.appToken}\n`)
    assert.equal(notUrl.code, 1)
    assert.match(notUrl.stderr, /custodian: INVALID_ARGUMENT: --url: not a URL/)
    const kept = JSON.parse(readFileSync(path.join(config, 'custodian', 'login.json'), 'utf8'))
    assert.equal(kept.url, world.url, 'the earlier login is kept as it was')
  })

  it('secrets set (value from standard input), list, get, rm', async () => {
    const set = await cli(['secrets', 'set', 'app/api-key'], 'sk_first\n')
    assert.equal(set.code, 0, set.stderr)
    assert.match(set.stdout, /Stored app\/api-key, version 1/)
    assert.equal((await cli(['secrets', 'set', 'app/api-key'], 'sk_second')).code, 0)
    const list = await cli(['secrets', 'list'])
    assert.match(list.stdout, /^app\/api-key\s+generic\s+2 /m)
    assert.ok(!list.stdout.includes('sk_second'), 'list shows no value')
    const get = await cli(['secrets', 'get', 'app/api-key'])
    assert.equal(get.stdout, 'sk_second\n')
    const older = await cli(['secrets', 'get', 'app/api-key', '--version', '1', '--json'])
    assert.equal(JSON.parse(older.stdout).value, 'sk_first')

    const refusal = await cli(['secrets', 'set', 'bad name!'], 'v')
    assert.equal(refusal.code, 1)
    assert.match(refusal.stderr, /VALIDATION_FAILED: .*\n\s+\/body\/name: /)
    const missing = await cli(['secrets', 'get', 'nope'])
    assert.match(missing.stderr, /custodian: NOT_FOUND: /)

    assert.equal((await cli(['secrets', 'set', 'tmp/gone'], 'x')).code, 0)
    const unconfirmed = await cli(['secrets', 'rm', 'tmp/gone'])
    assert.equal(unconfirmed.code, 1)
    assert.match(unconfirmed.stderr, /--yes/)
    assert.equal((await cli(['secrets', 'rm', 'tmp/gone', '--yes'])).code, 0)
    assert.ok(!(await cli(['secrets', 'list'])).stdout.includes('tmp/gone'))
  })

  it('export writes dotenv that reads back exactly (newlines, quotes) and JSON, with a progress bar on stderr', async () => {
    const values: Record<string, string> = {
      'app/multi-line': 'line one\nline two',
      'app/quotes': `it's "quoted"`,
      'app/dollar': '$HOME stays',
    }
    for (const [name, value] of Object.entries(values))
      assert.equal((await cli(['secrets', 'set', name], value)).code, 0)
    const dotenv = await cli(['export', '--format', 'dotenv', '--prefix', 'app/', '--progress'])
    assert.equal(dotenv.code, 0, dotenv.stderr)
    assert.deepEqual(parseEnv(dotenv.stdout), {
      API_KEY: 'sk_second',
      DOLLAR: '$HOME stays',
      MULTI_LINE: 'line one\nline two',
      QUOTES: `it's "quoted"`,
    })
    assert.match(dotenv.stderr, /Revealing secrets: 100% \(4\/4\)/)
    const json = await cli(['export', '--format', 'json', '--prefix', 'app/'])
    assert.equal(JSON.parse(json.stdout).MULTI_LINE, 'line one\nline two')
    assert.equal((await cli(['export', '--format', 'yaml'])).code, 1)
  })

  it('run passes secrets to the child in its environment only: not to disk, logs or output', async () => {
    const value = 'run-secret-ONLY-in-env-6d1f'
    assert.equal((await cli(['secrets', 'set', 'run/db-password'], value)).code, 0)
    // The child answers a digest of what it got, and whether the token reached it (it must not).
    const script = [
      "const { createHash } = require('node:crypto')",
      "const got = process.env.DB_PASSWORD ?? ''",
      `const token = Object.values(process.env).some((v) => v.includes(${JSON.stringify(world.appToken.slice(-20))}))`,
      "process.stdout.write(createHash('sha256').update(got).digest('hex') + ' ' + token)",
      'process.exit(7)',
    ].join(';')
    const run = await cli(['run', '--prefix', 'run/', '--', process.execPath, '-e', script])
    assert.equal(run.code, 7, `the child's exit code is the command's: ${run.stderr}`)
    assert.equal(run.stdout, `${createHash('sha256').update(value).digest('hex')} false`)

    const places = [...filesUnder(home), ...filesUnder(tmp)]
    for (const { file, bytes } of places) assert.ok(!bytes.includes(value), `the value is in ${file}`)
    assert.ok(!run.stdout.includes(value) && !run.stderr.includes(value), 'not in the CLI’s output')
    assert.ok(!world.server.output().includes(value), 'not in the service’s log')

    const reveal = await cli(['audit', 'tail', '--no-follow', '-n', '3', '--json'])
    const actions = reveal.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
    assert.ok(
      actions.some((e) => e.action === 'secret.reveal'),
      'the reveal is audited',
    )

    const missing = await cli(['run', '--', path.join(tmp, 'no-such-command')])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /cannot run .*ENOENT/)
  })

  it('audit tail prints the latest events in chain order, then follows new ones', async () => {
    const last = await cli(['audit', 'tail', '--no-follow', '-n', '4', '--json'])
    assert.equal(last.code, 0, last.stderr)
    const seqs = last.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).seq as number)
    assert.equal(seqs.length, 4)
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => (seqs[0] ?? 0) + i),
    )

    const tail = spawn(
      process.execPath,
      [
        path.join(ROOT, 'bin/custodian.js'),
        'audit',
        'tail',
        '--from-seq',
        String((seqs.at(-1) ?? 0) + 1),
        '--interval',
        '200',
      ],
      {
        cwd: ROOT,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    let out = ''
    tail.stdout.on('data', (c: Buffer) => (out += c.toString()))
    const exited = new Promise<number | null>((resolve) => tail.once('exit', resolve))
    try {
      // Whenever the tail starts, it starts after the events printed above: the new one is its.
      assert.equal((await cli(['secrets', 'set', 'tail/new'], 'v')).code, 0)
      for (let i = 0; i < 300 && !out.includes('secret.create'); i++) await new Promise((r) => setTimeout(r, 100))
      assert.match(out, /^\s+\d+ {2}\S+ {2}secret\.create {2}success {2}actor=service_account:/m)
    } finally {
      tail.kill('SIGTERM')
    }
    assert.equal(await exited, 0, 'Ctrl-C or SIGTERM ends the tail cleanly')
  })

  it('a viewer’s refusal prints the code and the missing permission; logout forgets the token', async () => {
    assert.equal((await login(world.viewerToken)).code, 0)
    const refused = await cli(['secrets', 'get', 'app/api-key'])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /custodian: FORBIDDEN: .*\(HTTP 403\)\n\s+missing permission: vault:reveal/)
    const out = await cli(['logout'])
    assert.match(out.stdout, /Logged out/)
    const after = await cli(['secrets', 'list'])
    assert.equal(after.code, 1)
    assert.match(after.stderr, /not logged in: run `custodian login/)
  })
})
