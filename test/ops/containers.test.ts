import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse as parseYaml } from 'yaml'
import {
  type Argument,
  DockerfileParser,
  type From,
  type ImageTemplate,
  type Instruction,
  type JSONInstruction,
  Volume,
} from 'dockerfile-ast'
import { runToExit, spawnServer, type ServerProcess } from '../helpers/process.ts'

/**
 * The container image and the compose file (issue 16): a non-root image that runs on a
 * read-only root filesystem, writes only to its data volume and /tmp, takes its root key
 * as a secret file (never from the image or the environment), reports health from
 * /readyz, and starts the service as the README says to under a process manager.
 *
 * The static checks always run. Building and starting the images needs a container engine:
 * that part runs when `docker info` succeeds, and is skipped with the reason otherwise.
 */

const ROOT = path.resolve(import.meta.dirname, '../..')
const read = (file: string) => readFileSync(path.join(ROOT, file), 'utf8')

/** Names of settings that hold a secret's value (a `…_FILE` naming where it is, is fine). */
const SECRET_NAME = /PASSWORD|PASSPHRASE|SECRET|TOKEN|PIN$|(^|_)KEY$|DATABASE_URL|CREDENTIAL/i
/** A value that carries a secret in itself: a URL with a password, a PEM, a 32-byte key in hex or base64. */
const SECRET_VALUE = /:\/\/[^/\s:@]+:[^@\s]+@|-----BEGIN|^[0-9a-f]{64}$|^[A-Za-z0-9+/]{43}=$/

/**
 * The arguments of a CMD, VOLUME, … in exec form: the strings of its JSON array when the
 * whole of its arguments is one (the Dockerfile reference: otherwise it is shell form, one
 * command line); `undefined` for shell form.
 */
function execForm(instruction: JSONInstruction): string[] | undefined {
  const close = instruction.getClosingBracket()
  const args = instruction.getArgumentsRange()
  if (instruction.getOpeningBracket() === null || close === null || args === null) return undefined
  // dockerfile-ast reads `["a"] more` as the array ["a"]; Docker reads it as shell form.
  const end = close.getRange().end
  if (end.line !== args.end.line || end.character !== args.end.character) return undefined
  return instruction.getJSONStrings().map((s) => s.getJSONValue())
}

/** An instruction's words joined by one space (continuations and runs of blanks made one space). */
const words = (args: Argument[]) => args.map((a) => a.getValue()).join(' ')

describe('the Dockerfile', () => {
  const dockerfile = DockerfileParser.parse(read('Dockerfile'))
  const instructions = dockerfile.getInstructions()
  const froms = dockerfile.getFROMs()
  const last = froms.at(-1) as From
  // The final build stage: its FROM and the instructions after it.
  const stage = dockerfile.getContainingImage(last.getRange().start) as ImageTemplate
  const final = stage.getInstructions()
  const of = (keyword: string) => final.filter((i) => i.getKeyword() === keyword)
  const only = <T extends Instruction>(keyword: string, found: T[]): T => {
    assert.equal(found.length, 1, `one ${keyword} in the final stage`)
    return found[0] as T
  }
  const line = (i: Instruction) => i.getRange().start.line + 1

  it('builds in stages and runs on Debian with the Node the project pins', () => {
    assert.ok(froms.length >= 2, 'multi-stage')
    // ${…} in FROM expanded with the global ARGs (those before the first FROM), as the build does.
    assert.match(words(last.getExpandedArguments()), /^debian:[a-z]+-slim\b/)
    assert.match(words((froms[0] as From).getExpandedArguments()), /^node:24-[a-z]+-slim AS build$/)
    // The runtime's node is the `node` dependency's binary (package-lock.json pins it).
    const pkg = JSON.parse(read('package.json')) as { dependencies: Record<string, string> }
    assert.match(pkg.dependencies.node ?? '', /^\^?24\./)
    assert.ok(
      of('RUN').some((i) =>
        words(i.getArguments()).includes('ln -s /app/node_modules/node/bin/node /usr/local/bin/node'),
      ),
    )
    const copies = stage.getCOPYs()
    assert.ok(
      copies.length > 0 && copies.every((c) => c.getFromFlag()?.getValue() === 'build'),
      'the runtime copies only the build',
    )
  })

  it('runs as an unprivileged user that owns the data directory', () => {
    const user = of('USER').at(-1)
    assert.ok(user !== undefined, 'USER is set')
    const args = user.getArguments().map((a) => a.getValue())
    assert.equal(args.length, 1, `line ${line(user)}: USER user[:group]`)
    const [uid, gid] = (args[0] as string).split(':')
    assert.match(uid ?? '', /^[1-9]\d*$/, 'a numeric uid other than 0 (Kubernetes runAsNonRoot can check it)')
    assert.notEqual(gid, '0')
    const setup = of('RUN').map((i) => words(i.getArguments()))
    assert.ok(setup.some((r) => r.includes(`useradd --system --uid ${uid}`)))
    assert.ok(setup.some((r) => /install -d -o custodian -g custodian -m 0700 \/data/.test(r)))
  })

  it('writes only to its /data volume (the root filesystem can be read-only)', () => {
    const env = Object.fromEntries(
      stage
        .getENVs()
        .flatMap((i) => i.getProperties())
        .map((p) => [p.getName(), p.getValue()]),
    ) as Record<string, string | null>
    assert.equal(env.CUSTODIAN_DATA_DIR, '/data')
    assert.deepEqual(
      execForm(
        only(
          'VOLUME',
          final.filter((i) => i instanceof Volume),
        ),
      ),
      ['/data'],
    )
    // Listening inside a container means every interface of its own network namespace.
    assert.equal(env.CUSTODIAN_HOST, '0.0.0.0')
    // The embedded database's template is built into the image: a first start copies it
    // instead of building one next to the code.
    assert.ok(
      instructions.some((i) => i.getKeyword() === 'RUN' && words(i.getArguments()).includes('scripts/db-template.ts')),
    )
  })

  it('carries no secret in ENV or ARG, and the build context leaves keys and data out', () => {
    const settings = [...dockerfile.getENVs(), ...dockerfile.getARGs()]
    assert.ok(settings.length > 0)
    for (const instruction of settings) {
      // dockerfile-ast 0.7 folds `A=\"x\" B=y` into one property (A); its words still show B.
      for (const word of instruction.getArguments().map((a) => /^([A-Za-z_]\w*)=/.exec(a.getValue())?.[1]))
        assert.ok(
          word === undefined || !SECRET_NAME.test(word) || word.endsWith('_FILE'),
          `line ${line(instruction)}: ${word}`,
        )
      for (const property of instruction.getProperties()) {
        const [name, value] = [property.getName(), property.getValue()]
        assert.ok(!SECRET_NAME.test(name) || name.endsWith('_FILE'), `line ${line(instruction)}: ${name}`)
        assert.ok(value === null || !SECRET_VALUE.test(value), `line ${line(instruction)}: ${name}`)
      }
    }
    const ignored = read('.dockerignore')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '' && !l.startsWith('#'))
    for (const pattern of ['.git', 'node_modules', 'data', '.cache', 'secrets', '*.key', '*.pem', '.env'])
      assert.ok(ignored.includes(pattern), `.dockerignore leaves out ${pattern}`)
  })

  it('checks health with GET /readyz and starts the service as the README says', () => {
    const health = only('HEALTHCHECK', stage.getHEALTHCHECKs())
    // Bounded: a hung check counts as a failure; a first start (migrations) gets its grace.
    const flags = health.getFlags().map((f) => f.getName())
    assert.ok(['interval', 'timeout', 'start-period', 'retries'].every((flag) => flags.includes(flag)))
    assert.equal(health.getSubcommand()?.getValue(), 'CMD')
    // HEALTHCHECK CMD takes a CMD instruction's arguments: read them as one.
    const probe = only('CMD', DockerfileParser.parse(health.getArgumentsContent() ?? '').getCMDs())
    assert.deepEqual(execForm(probe), ['node', 'scripts/healthcheck.ts'])
    assert.match(read('scripts/healthcheck.ts'), /path: '\/readyz'/)
    assert.equal(of('ENTRYPOINT').length, 0)
    assert.deepEqual(
      execForm(only('CMD', stage.getCMDs())),
      ['node', 'src/main.ts'],
      'exec form: SIGTERM reaches the service itself',
    )
    assert.match(read('README.md'), /Under a process manager, run `node src\/main\.ts`/)
  })
})

describe('the compose file', () => {
  interface Service {
    image?: string
    build?: unknown
    user?: string
    read_only?: boolean
    tmpfs?: string[]
    environment?: Record<string, string>
    secrets?: string[]
    volumes?: string[]
    healthcheck?: { disable?: boolean; test?: string[] }
    depends_on?: Record<string, { condition: string }>
    cap_drop?: string[]
  }
  const compose = parseYaml(read('compose.yaml')) as {
    services: Record<string, Service>
    secrets: Record<string, { file?: string }>
    volumes: Record<string, unknown>
  }
  const custodian = compose.services.custodian as Service
  const postgres = compose.services.postgres as Service

  it('runs the image read-only, with /tmp as tmpfs and /data as a named volume', () => {
    assert.equal(custodian.build, '.')
    assert.equal(custodian.read_only, true)
    assert.deepEqual(custodian.tmpfs, ['/tmp'])
    const data = (custodian.volumes ?? []).find((v) => v.endsWith(':/data'))
    assert.ok(data !== undefined && (data.split(':')[0] as string) in compose.volumes, 'a named volume at /data')
    assert.equal(custodian.user, undefined, "the image's unprivileged user, not an override")
    assert.deepEqual(custodian.cap_drop, ['ALL'])
    assert.notEqual(custodian.healthcheck?.disable, true)
  })

  it('gives the root key, the audit key and the database URL as secrets, never in the environment', () => {
    const env = custodian.environment ?? {}
    for (const [name, value] of Object.entries(env)) {
      assert.ok(!SECRET_NAME.test(name) || name.endsWith('_FILE'), name)
      assert.ok(!SECRET_VALUE.test(value), name)
    }
    const mounted = new Set(custodian.secrets)
    for (const [name, secret] of [
      ['CUSTODIAN_ROOT_KEY_FILE', 'custodian_root_key'],
      ['CUSTODIAN_AUDIT_KEY_FILE', 'custodian_audit_key'],
      // DATABASE_URL (with its password) comes from the configuration file.
      ['CUSTODIAN_CONFIG_FILE', 'custodian_config'],
    ] as const) {
      assert.equal(env[name], `/run/secrets/${secret}`, name)
      assert.ok(mounted.has(secret), `${secret} is given to the service`)
      assert.match(compose.secrets[secret]?.file ?? '', /^\.\/secrets\//)
    }
    assert.ok(!('POSTGRES_PASSWORD' in (postgres.environment ?? {})))
    assert.equal(postgres.environment?.POSTGRES_PASSWORD_FILE, '/run/secrets/postgres_password')
  })

  it('runs PostgreSQL 15 and starts the service once it is healthy', () => {
    assert.match(postgres.image ?? '', /^postgres:15(\.|-|$)/)
    assert.equal(postgres.healthcheck?.test?.[1], 'pg_isready')
    assert.equal(custodian.depends_on?.postgres?.condition, 'service_healthy')
  })
})

describe('the health check script', () => {
  let server: ServerProcess
  before(async () => {
    server = await spawnServer({ CUSTODIAN_DATA_DIR: mkdtempSync(path.join(tmpdir(), 'custodian-health-')) })
  })
  after(async () => {
    await server?.stop()
  })

  it('exits 0 while /readyz answers 200, and 1 when nothing answers', async () => {
    const healthy = await runToExit(['scripts/healthcheck.ts'], { CUSTODIAN_HTTPS_PORT: String(server.httpsPort) })
    assert.equal(healthy.code, 0, healthy.output)
    assert.match(healthy.output, /^200 .*"status":"ready"/)
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as { port: number }
        probe.close(() => resolve(port))
      })
    })
    const nothing = await runToExit(['scripts/healthcheck.ts'], { CUSTODIAN_HTTPS_PORT: String(port) })
    assert.equal(nothing.code, 1, nothing.output)
    assert.match(nothing.output, /^unhealthy: /)
  })
})

const engine = spawnSync('docker', ['info'], { stdio: 'pipe', encoding: 'utf8' })
const noEngine =
  engine.status === 0
    ? false
    : `no container engine here (docker info: ${(engine.error?.message ?? engine.stderr).trim().split('\n').at(-1)})`

describe('the image built and started with compose', { skip: noEngine }, () => {
  const project = `custodian-test-${process.env.CUSTODIAN_TEST_NAMESPACE ?? 'main'}`.toLowerCase()
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-compose-'))
  const compose = (...args: string[]) =>
    spawnSync(
      'docker',
      ['compose', '-p', project, '-f', path.join(ROOT, 'compose.yaml'), '-f', path.join(dir, 'test.yaml'), ...args],
      { cwd: ROOT, stdio: 'pipe', encoding: 'utf8', timeout: 1_800_000 },
    )
  const ok = (result: ReturnType<typeof compose>) => {
    assert.equal(result.status, 0, `${result.stdout}\n${result.stderr}`)
    return result.stdout
  }

  before(() => {
    // Secrets of this run only, owned by the image's user, mode 0600; a published port of its own.
    const password = randomBytes(18).toString('base64url')
    const secrets: Record<string, string | Buffer> = {
      'root.key': randomBytes(32),
      'audit.key': randomBytes(32),
      postgres_password: password,
      'custodian.json': JSON.stringify({ DATABASE_URL: `postgres://custodian:${password}@postgres:5432/custodian` }),
    }
    for (const [name, content] of Object.entries(secrets)) {
      const file = path.join(dir, name)
      writeFileSync(file, content, { mode: 0o600 })
      if (name !== 'postgres_password') chownSync(file, 10001, 10001)
      chmodSync(file, 0o600)
    }
    writeFileSync(
      path.join(dir, 'test.yaml'),
      [
        'services:',
        '  custodian:',
        '    ports: !override',
        '      - "127.0.0.1::8443"',
        'secrets:',
        ...Object.entries({
          postgres_password: 'postgres_password',
          custodian_config: 'custodian.json',
          custodian_root_key: 'root.key',
          custodian_audit_key: 'audit.key',
        }).flatMap(([secret, file]) => [`  ${secret}:`, `    file: ${path.join(dir, file)}`]),
        '',
      ].join('\n'),
    )
  })
  after(() => {
    compose('down', '--volumes', '--remove-orphans')
  })

  it('builds, becomes healthy on PostgreSQL, serves /readyz, runs as uid 10001 on a read-only root', async () => {
    ok(compose('up', '--build', '--detach', '--wait', '--wait-timeout', '600'))
    const published = ok(compose('port', 'custodian', '8443')).trim()
    const port = Number(published.split(':').at(-1))
    const ready = await runToExit(['scripts/healthcheck.ts'], { CUSTODIAN_HTTPS_PORT: String(port) })
    assert.equal(ready.code, 0, ready.output)
    assert.match(ok(compose('exec', '-T', 'custodian', 'id', '-u')).trim(), /^10001$/)
    const write = compose('exec', '-T', 'custodian', 'node', '-e', "require('fs').writeFileSync('/app/x', '')")
    assert.notEqual(write.status, 0)
    assert.match(write.stderr, /EROFS/)
    assert.match(ok(compose('exec', '-T', 'custodian', 'ls', '/data')), /shred-ring\.json/)
  })
})
