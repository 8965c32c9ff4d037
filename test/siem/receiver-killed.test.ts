import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { bootstrapProvider, createCustomerOrg, useTestApp, type Org } from '../helpers/app.ts'
import { testCertificate, writeCertificate, type Certificate } from '../helpers/siem-receivers.ts'
import { assertEveryEventOnce, receivedFrom, spawnReceiver, until } from '../helpers/siem-stream.ts'

/**
 * Issue 14's quality bar: "a SIEM receiver killed mid-stream receives every event exactly
 * once after it returns". The receiver is a process of its own that writes each event it
 * reads to a file before it answers; it is killed (SIGKILL) while events flow and started
 * again on the same port. Every event must be in its file, and copies only of the one
 * batch whose acknowledgement the kill swallowed — same id and seq, so the receiver's
 * dedupe by id leaves each exactly once (docs/siem.md, "Guarantees"). For syslog, where
 * RFC 5425 has no acknowledgement, the receiver's close_notify stands in for one.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-siem-kill-'))
const BATCH = 10
let certificate: Certificate
const certFile = path.join(dir, 'receiver.pem')
const keyFile = path.join(dir, 'receiver.key')
const env: Record<string, string> = {
  CUSTODIAN_SIEM_CHECK_MS: '50',
  CUSTODIAN_SIEM_RETRY_BASE_MS: '50',
  CUSTODIAN_SIEM_MAX_ATTEMPTS: '100',
  CUSTODIAN_SIEM_TIMEOUT_MS: '3000',
  CUSTODIAN_SIEM_BATCH_EVENTS: String(BATCH),
}

before(async () => {
  certificate = await testCertificate('killed receiver')
  writeCertificate(certificate, certFile, keyFile)
  env.CUSTODIAN_EXTRA_CA_FILE = certFile
})

forEachEngine('a SIEM receiver killed mid-stream (issue 14)', (engine) => {
  const t = useTestApp(engine, env)
  let acme: Org

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.killed.test`)
    t().app.sequencer.start()
    t().app.siemWorker.start()
  })
  after(async () => {
    await t().app.siemWorker.stop()
    await t().app.sequencer.stop()
  })

  for (const kind of ['https', 'syslog'] as const) {
    it(`${kind === 'https' ? 'JSON Lines over HTTPS' : 'syslog over TLS'}: receives every event exactly once after it returns`, {
      timeout: 600_000,
    }, async () => {
      const file = path.join(dir, `${engine}-${kind}.jsonl`)
      let receiver = await spawnReceiver({ kind, port: 0, certFile, keyFile, file })
      const port = receiver.port
      const created = await t().request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/siem/destinations`,
        token: acme.ownerToken,
        body:
          kind === 'https'
            ? { name: `killed-${kind}`, kind: 'jsonl', url: `https://localhost:${port}/in` }
            : {
                name: `killed-${kind}`,
                kind: 'syslog_tls',
                host: '127.0.0.1',
                port,
                settings: { caCertificate: certificate.cert, serverName: 'localhost' },
              },
      })
      assert.equal(created.status, 201, created.text)
      const destination = created.body.id as string

      let produced = 0
      let producing = true
      const producer = (async () => {
        while (producing) {
          await t().app.services.audit.recordSeparately({
            orgId: acme.orgId,
            actor: { type: 'system', id: 'producer' },
            action: 'siem_test.flow',
            outcome: 'success',
            details: { n: produced++ },
            meta: { requestId: null, ip: null, userAgent: null },
          })
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
      })()
      await until('the receiver to read 20 events', () => receivedFrom(file, acme.orgId).length >= 20)
      await receiver.kill()
      const atKill = receivedFrom(file, acme.orgId).length
      await new Promise((resolve) => setTimeout(resolve, 500)) // deliveries fail meanwhile, and are retried
      receiver = await spawnReceiver({ kind, port, certFile, keyFile, file })
      await until('more events after the restart', () => receivedFrom(file, acme.orgId).length >= atKill + 20)
      producing = false
      await producer
      await t().app.sequencer.flush()
      const head = async () =>
        (await t().request({ method: 'GET', url: `/v1/orgs/${acme.orgId}/audit/status`, token: acme.ownerToken })).body
          .headSeq as number
      let final = 0
      await until('the destination to catch up with the head', async () => {
        final = await head()
        const state = await t().request({
          method: 'GET',
          url: `/v1/orgs/${acme.orgId}/siem/destinations/${destination}`,
          token: acme.ownerToken,
        })
        return state.body.cursorSeq === final && (await head()) === final
      })
      await receiver.kill()
      assertEveryEventOnce(receivedFrom(file, acme.orgId), final, BATCH)
      // The stream is paused so that the next case's events do not go to this destination.
      await t().request({
        method: 'POST',
        url: `/v1/orgs/${acme.orgId}/siem/destinations/${destination}/pause`,
        token: acme.ownerToken,
      })
    })
  }
})
