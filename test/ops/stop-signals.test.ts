import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, describe, it } from 'node:test'
import { createTestDatabase, ENGINES, postgresAvailable, type TestDatabase } from '../helpers/db.ts'
import { spawnServer } from '../helpers/process.ts'

/**
 * SIGTERM is honoured at every moment of the service's life (README, "Shutdown"): one that
 * arrives while the service starts — here, the instant its "Listening:" line is read, when the
 * start's last steps are still running — stops it once it is up, with the usual graceful
 * shutdown. Before the fix, the start swapped its early signal listener for the running one;
 * between the two the process had no listener, Node stopped watching the signal, and a SIGTERM
 * already delivered but not yet read was lost: about one start in twelve ignored it and ran on.
 * The preloaded watch (test/fixtures/signal-listener-watch.ts) reports any such gap, so the
 * kind is caught on every run, not only when the race is lost.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-stop-signals-'))
const WATCH = path.resolve(import.meta.dirname, '../fixtures/signal-listener-watch.ts')
const STARTS = 3
const databases: TestDatabase[] = []
after(async () => {
  for (const db of databases) await db.close()
})

for (const engine of ENGINES) {
  describe(`stop signals (${engine})`, {
    skip: engine === 'postgres' && !postgresAvailable() ? 'TEST_DATABASE_URL not set' : false,
  }, () => {
    it(`SIGTERM sent as "Listening:" is printed stops the service, ${STARTS} starts in a row, with no moment without a listener`, async () => {
      let url: string | undefined
      if (engine === 'postgres') {
        const db = await createTestDatabase('postgres')
        databases.push(db)
        url = db.url
      }
      for (let start = 0; start < STARTS; start++) {
        const server = await spawnServer({
          CUSTODIAN_DATA_DIR: path.join(dir, `${engine}-${start}`),
          CUSTODIAN_LOG_LEVEL: 'info',
          NODE_OPTIONS: `--import=${WATCH}`,
          ...(url === undefined ? {} : { DATABASE_URL: url }),
        })
        // stop() sends SIGTERM and waits; it throws if the process has not exited within 60 s.
        const code = await server.stop()
        const output = server.output()
        assert.equal(code, 0, output)
        assert.doesNotMatch(output, /SIGNAL-GAP/, 'a moment without a stop-signal listener')
        assert.match(output, /"signal":"SIGTERM".*shutting down/)
      }
    })
  })
}
