import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { runToExit, spawnServer } from '../helpers/process.ts'

/**
 * Idle memory (issue 18; docs/benchmarks.md, "libraries loaded on first use"): a start of the
 * service loads no library of a feature it has not been asked for yet — mail, PDF, passkeys,
 * TOTP's QR code, OpenID Connect, outbound HTTP, JWS verification, the HSM and cloud KMS
 * providers, the CLI's HTTP client, and (on a restart) certificate generation. Each is
 * loaded on first use (src/on-first-use.ts); imported at the top of a module, each would
 * cost every process its code's memory and start CPU, about 40 MiB of an idle service's
 * resident memory together. The service is started as users start it, with the recorder
 * preloaded (test/fixtures/module-load-record.ts), and stopped.
 */
const ON_FIRST_USE = [
  'nodemailer',
  'pdfkit',
  'fontkit',
  '@simplewebauthn/server',
  '@peculiar/x509',
  'qrcode',
  'openid-client',
  'jose',
  'undici',
  'openapi-fetch',
  'pkcs11js',
  'selfsigned',
  '@aws-sdk/client-kms',
  '@google-cloud/kms',
  '@azure/keyvault-keys',
  '@azure/identity',
]
const RECORDER = path.resolve(import.meta.dirname, '../fixtures/module-load-record.ts')
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-idle-modules-'))
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

for (const engine of ENGINES) {
  describe(`idle modules (${engine})`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    it('a restart of an idle service loads none of the libraries loaded on first use', async () => {
      const env: Record<string, string> = { CUSTODIAN_DATA_DIR: path.join(dir, engine) }
      if (engine === 'postgres') {
        const db = await createTestDatabase('postgres')
        databases.push(db)
        assert.ok(db.url !== undefined)
        env.DATABASE_URL = db.url
      }
      // The first start makes the data directory and its certificate (selfsigned, legitimately).
      const first = await spawnServer(env)
      assert.equal(await first.stop(), 0, first.output())
      const record = path.join(dir, `${engine}.modules`)
      const restart = await spawnServer({ ...env, NODE_OPTIONS: `--import=${RECORDER}`, MODULE_LOAD_RECORD: record })
      // Idle for a moment after "Listening:", so that jobs started with the service have run.
      await new Promise((resolve) => setTimeout(resolve, 1500))
      assert.equal(await restart.stop(), 0, restart.output())
      const loaded = readFileSync(record, 'utf8').split('\n')
      // The recorder works: the service's own framework and driver are in the list.
      assert.ok(loaded.includes('fastify'), loaded.join(' '))
      assert.ok(loaded.includes(engine === 'postgres' ? 'pg' : '@electric-sql/pglite'), loaded.join(' '))
      assert.deepEqual(
        ON_FIRST_USE.filter((name) => loaded.includes(name)),
        [],
        'loaded by an idle start: import it on first use (src/on-first-use.ts)',
      )
    })
  })
}

describe('a library that cannot be loaded at its first use', () => {
  const UNRESOLVABLE = path.resolve(import.meta.dirname, '../fixtures/unresolvable-libraries.ts')
  const VERDICTS = path.resolve(import.meta.dirname, '../fixtures/library-unavailable-verdicts.ts')
  type Outcome = { returned?: unknown; threw?: string; message?: string }
  const verdicts = async (env: Record<string, string>) => {
    const { code, output } = await runToExit([VERDICTS], env)
    assert.equal(code, 0, output)
    return JSON.parse(output.trim().split('\n').at(-1) ?? '') as Record<'manifest' | 'receipt' | 'sso', Outcome>
  }

  it('is reported as the service’s fault (LibraryUnavailable), never as a bad signature or an unreachable provider', async () => {
    const broken = await verdicts({ NODE_OPTIONS: `--import=${UNRESOLVABLE}`, UNRESOLVABLE: 'jose,undici' })
    for (const [what, outcome] of Object.entries(broken)) {
      assert.equal(outcome.threw, 'LibraryUnavailable', `${what}: ${JSON.stringify(outcome)}`)
      assert.match(outcome.message ?? '', /could not be loaded: Cannot find package '(jose|undici)'/, what)
    }
    // The same calls with every library there: the verdicts the failures used to be mistaken for.
    const whole = await verdicts({})
    assert.equal(whole.manifest.threw, 'ManifestError', JSON.stringify(whole.manifest))
    assert.match(JSON.stringify(whole.receipt.returned), /the signature does not verify/)
    assert.equal(whole.sso.threw, 'AppError', JSON.stringify(whole.sso))
    assert.match(whole.sso.message ?? '', /discovery document/)
  })
})
