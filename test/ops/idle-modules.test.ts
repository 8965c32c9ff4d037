import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { spawnServer } from '../helpers/process.ts'

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
