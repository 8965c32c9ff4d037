import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { after, before, it } from 'node:test'
import { createLogger } from '../../src/logger.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  auditActions,
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import {
  startHttpsSiemReceiver,
  startSyslogSiemReceiver,
  testCertificate,
  type Certificate,
  type HttpsSiemReceiver,
  type SyslogSiemReceiver,
} from '../helpers/siem-receivers.ts'

/**
 * Streaming the audit log to a SIEM (issue 14 §1, docs/siem.md), against real receivers on
 * 127.0.0.1 that read each format off the wire: an HTTPS server for JSON Lines, Splunk HEC
 * and Datadog (headers and shapes checked), a TLS syslog listener reading octet-counted
 * RFC 5424 strictly. Every event arrives once, in seq order, exactly as the export writes
 * it; the cursor moves only on acknowledgement; failures retry, then dead-letter and stop
 * the stream until someone resumes or skips it; credentials never come back out.
 */
const dir = mkdtempSync(path.join(tmpdir(), 'custodian-siem-'))
const HEC_TOKEN = 'hec-7f3a9c1e-5b2d-4e8f-a6c0-d1b2c3e4f5a6'
const DD_KEY = 'dd0123456789abcdef0123456789abcd'
const BEARER = 'jsonl-bearer-3c9e7a1b5d2f4e6a8c0b'
let httpsCert: Certificate
let syslogCert: Certificate
const env: Record<string, string> = {
  CUSTODIAN_SIEM_RETRY_BASE_MS: '1000',
  CUSTODIAN_SIEM_MAX_ATTEMPTS: '3',
  CUSTODIAN_SIEM_TIMEOUT_MS: '5000',
  CUSTODIAN_SIEM_BATCH_EVENTS: '7',
  CUSTODIAN_SIEM_CHECK_MS: '600000',
}

before(async () => {
  httpsCert = await testCertificate('siem https')
  syslogCert = await testCertificate('siem syslog')
  // The HTTPS receivers' certificate is trusted as an operator would trust a private CA;
  // syslog destinations name their CA themselves.
  const caFile = path.join(dir, 'ca.pem')
  writeFileSync(caFile, httpsCert.cert)
  env.CUSTODIAN_EXTRA_CA_FILE = caFile
})

forEachEngine('SIEM streaming (issue 14)', (engine) => {
  const time = testClock()
  const logLines: string[] = []
  const capture = new Writable({
    write(chunk, _encoding, done) {
      logLines.push(chunk.toString())
      done()
    },
  })
  const t = useTestApp(engine, env, createLogger({ logLevel: 'trace' }, capture), undefined, { clock: time.clock })
  let provider: Org
  let acme: Org
  const receivers: { https: HttpsSiemReceiver[]; syslog: SyslogSiemReceiver[] } = { https: [], syslog: [] }
  const answers: string[] = []

  before(async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.siem.test`)
  })
  after(async () => {
    for (const r of receivers.https) await r.close()
    for (const r of receivers.syslog) await r.close()
  })

  const api = async (method: string, tail: string, body?: unknown, token = acme.ownerToken) => {
    const response = await t().request({ method, url: `/v1/orgs/${acme.orgId}/siem/destinations${tail}`, token, body })
    answers.push(response.text)
    return response
  }
  /** Audit events of the org's own, chained: `n` of them. */
  const events = async (n: number) => {
    for (let i = 0; i < n; i++)
      await t().app.services.audit.recordSeparately({
        orgId: acme.orgId,
        actor: { type: 'system', id: 'siem-test' },
        action: 'siem_test.event',
        outcome: i % 5 === 4 ? 'denied' : 'success',
        details: { i, note: 'quote " backslash \\ bracket ] é' },
        meta: { requestId: null, ip: null, userAgent: null },
      })
    await t().app.sequencer.flush()
  }
  /** Runs the stream until it has nothing due (or `passes` passes). */
  const drain = async (passes = 10) => {
    for (let i = 0; i < passes; i++) if ((await t().app.services.siemDelivery.deliverDue()) === 0) return
  }
  /** The export's event lines by seq: what each destination must receive, byte for byte. */
  const exported = async (): Promise<Map<number, Record<string, unknown>>> => {
    const response = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/audit/export`,
      token: acme.ownerToken,
    })
    const lines = response.text
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { kind: string; event: { seq: number } })
    return new Map(lines.filter((l) => l.kind === 'event').map((l) => [l.event.seq, l as Record<string, unknown>]))
  }
  const head = async () => (await exported()).size

  /** Every event of the org arrived once, in seq order, equal to the export's line. */
  const assertComplete = async (received: { seq: number; line: Record<string, unknown>; org: string }[]) => {
    const expected = await exported()
    const seqs = received.filter((r) => r.org === acme.orgId).map((r) => r.seq)
    assert.deepEqual(seqs, [...expected.keys()], 'each seq once, in order')
    for (const r of received) assert.deepEqual(r.line, expected.get(r.seq), `seq ${r.seq} as the export writes it`)
  }

  it('streams every chained event to a JSON Lines endpoint as the export writes it, and moves the cursor only on acknowledgement', async () => {
    const receiver = await startHttpsSiemReceiver({ certificate: httpsCert, token: BEARER })
    receivers.https.push(receiver)
    const created = await api('POST', '', {
      name: 'lines',
      kind: 'jsonl',
      url: `${receiver.url}/ingest/custodian`,
      credential: BEARER,
    })
    assert.equal(created.status, 201, created.text)
    assert.equal(created.body.hasCredential, true)
    assert.equal(created.body.cursorSeq, 0, 'from the beginning by default')
    await events(20)
    await drain()
    await assertComplete(receiver.events)
    const request = receiver.requests[0]
    assert.equal(request?.path, '/ingest/custodian')
    assert.equal(request?.headers['x-custodian-org'], acme.orgId)
    assert.equal(request?.headers['x-custodian-first-seq'], '1')
    assert.equal(request?.headers['x-custodian-last-seq'], '7', 'batches of CUSTODIAN_SIEM_BATCH_EVENTS')
    const one = await api('GET', `/${created.body.id}`)
    assert.equal(one.status, 200, one.text)
    const total = await head()
    assert.equal(one.body.cursorSeq, total)
    assert.deepEqual(
      { events: one.body.lag.events, headSeq: one.body.lag.headSeq, lastError: one.body.lag.lastError },
      { events: 0, headSeq: total, lastError: null },
    )
    assert.equal(typeof one.body.lag.secondsSinceLastDelivery, 'number')
    assert.equal(one.body.deliveredEvents, total)
  })

  it('sends Splunk HEC envelopes with Authorization: Splunk <token>, and Datadog log items with DD-API-KEY', async () => {
    const hec = await startHttpsSiemReceiver({ certificate: httpsCert, token: HEC_TOKEN })
    const dd = await startHttpsSiemReceiver({ certificate: httpsCert, token: DD_KEY })
    receivers.https.push(hec, dd)
    const splunk = await api('POST', '', {
      name: 'splunk',
      kind: 'splunk_hec',
      url: hec.url,
      credential: HEC_TOKEN,
      settings: { index: 'audit', sourcetype: 'custodian:audit' },
    })
    assert.equal(splunk.status, 201, splunk.text)
    const datadog = await api('POST', '', {
      name: 'datadog',
      kind: 'datadog',
      url: `${dd.url}/`,
      credential: DD_KEY,
      settings: { service: 'acme-custodian', ddtags: 'env:test' },
    })
    assert.equal(datadog.status, 201, datadog.text)
    await events(3)
    await drain()
    await assertComplete(hec.events)
    await assertComplete(dd.events)
    const envelope = JSON.parse((hec.requests[0]?.body ?? '').split('\n')[0] as string)
    assert.equal(envelope.index, 'audit')
    assert.equal(envelope.source, 'custodian')
    assert.equal(envelope.host, 'localhost')
    const item = JSON.parse(dd.requests[0]?.body ?? '[]')[0]
    assert.deepEqual(
      { service: item.service, ddtags: item.ddtags, ddsource: item.ddsource, hostname: item.hostname },
      { service: 'acme-custodian', ddtags: 'env:test', ddsource: 'custodian', hostname: 'localhost' },
    )
  })

  it('sends octet-counted RFC 5424 over TLS, verifying the receiver against the destination’s CA and server name; the event in structured data', async () => {
    const receiver = await startSyslogSiemReceiver({ certificate: syslogCert })
    receivers.syslog.push(receiver)
    const created = await api('POST', '', {
      name: 'syslog',
      kind: 'syslog_tls',
      host: '127.0.0.1',
      port: receiver.port,
      settings: { caCertificate: syslogCert.cert, serverName: 'localhost', hostname: 'custodian.acme.test' },
    })
    assert.equal(created.status, 201, created.text)
    await events(2)
    await drain()
    assert.deepEqual(receiver.errors, [])
    await assertComplete(receiver.events)
    const message = receiver.messages.find((m) => m.sd[0]?.params.seq === '1')
    assert.ok(message !== undefined)
    assert.equal(message.version, 1)
    assert.equal(message.hostname, 'custodian.acme.test')
    assert.equal(message.appName, 'custodian')
    assert.equal(message.msgId, 'audit')
    assert.equal(message.bom, true)
    assert.equal(message.pri, 13 * 8 + 6, 'facility log audit, informational')
    assert.equal(message.sd[0]?.id, 'custodian@32473')
    assert.equal(message.sd[0]?.params.org, acme.orgId)
    const denied = receiver.messages.find((m) => m.sd[0]?.params.outcome === 'denied')
    assert.equal(denied?.pri, 13 * 8 + 5, 'a denied event is a notice')
    assert.ok(receiver.sessions >= 1, 'each batch closed with close_notify, and answered')
    // A receiver whose certificate does not carry the configured name is refused.
    const wrongName = await api('POST', '', {
      name: 'syslog-wrong-name',
      kind: 'syslog_tls',
      host: '127.0.0.1',
      port: receiver.port,
      settings: { caCertificate: syslogCert.cert, serverName: 'siem.elsewhere.test' },
    })
    assert.equal(wrongName.status, 201, wrongName.text)
    const tested = await api('POST', `/${wrongName.body.id}/test`)
    assert.equal(tested.status, 200, tested.text)
    assert.equal(tested.body.ok, false)
    assert.equal(tested.body.error, 'ERR_TLS_CERT_ALTNAME_INVALID')
    // And one that no trusted CA signed.
    const otherCa = await testCertificate('another ca')
    const wrongCa = await api('PATCH', `/${wrongName.body.id}`, {
      settings: { caCertificate: otherCa.cert, serverName: 'localhost' },
    })
    assert.equal(wrongCa.status, 200, wrongCa.text)
    const refused = await api('POST', `/${wrongName.body.id}/test`)
    assert.equal(refused.body.ok, false)
    assert.match(String(refused.body.error), /CERT|SIGNATURE|ISSUER|SELF_SIGNED/)
    assert.equal((await api('DELETE', `/${wrongName.body.id}`)).status, 204)
  })

  it('authenticates to a syslog receiver that asks for a client certificate (mTLS), the key kept as the credential', async () => {
    const client = await testCertificate('siem client')
    const receiver = await startSyslogSiemReceiver({ certificate: syslogCert, clientCa: client.cert })
    receivers.syslog.push(receiver)
    const withoutKey = await api('POST', '', {
      name: 'mtls',
      kind: 'syslog_tls',
      host: '127.0.0.1',
      port: receiver.port,
      settings: { caCertificate: syslogCert.cert, serverName: 'localhost', clientCertificate: client.cert },
    })
    assert.equal(withoutKey.status, 400)
    assert.equal(withoutKey.body.errors[0].path, '/body/credential')
    const otherKey = await testCertificate('not the client')
    const wrongKey = await api('POST', '', {
      name: 'mtls',
      kind: 'syslog_tls',
      host: '127.0.0.1',
      port: receiver.port,
      credential: otherKey.key,
      settings: { caCertificate: syslogCert.cert, serverName: 'localhost', clientCertificate: client.cert },
    })
    assert.equal(wrongKey.status, 400)
    assert.doesNotMatch(wrongKey.text, /PRIVATE KEY/)
    const created = await api('POST', '', {
      name: 'mtls',
      kind: 'syslog_tls',
      host: '127.0.0.1',
      port: receiver.port,
      credential: client.key,
      settings: { caCertificate: syslogCert.cert, serverName: 'localhost', clientCertificate: client.cert },
    })
    assert.equal(created.status, 201, created.text)
    assert.doesNotMatch(created.text, /PRIVATE KEY/)
    await drain()
    assert.deepEqual(receiver.errors, [])
    await assertComplete(receiver.events)
  })

  it('retries with backoff, dead-letters the batch after the last attempt and stops there; resume retries it, nothing skipped or sent twice', async () => {
    const receiver = await startHttpsSiemReceiver({ certificate: httpsCert })
    receivers.https.push(receiver)
    let down = true
    receiver.answer = () => (down ? 503 : 200)
    const created = await api('POST', '', { name: 'flaky', kind: 'jsonl', url: `${receiver.url}/flaky`, start: 'now' })
    assert.equal(created.status, 201, created.text)
    const from = created.body.cursorSeq as number
    await events(3)
    await drain()
    let state = (await api('GET', `/${created.body.id}`)).body
    assert.equal(state.state, 'active')
    assert.equal(state.attempts, 1)
    assert.equal(state.lastError, 'HTTP 503')
    assert.equal(state.lastStatus, 503)
    assert.ok(state.nextAttemptAt !== null)
    await drain()
    assert.equal((await api('GET', `/${created.body.id}`)).body.attempts, 1, 'not before the backoff')
    for (const wait of [1000, 2000]) {
      time.advance(wait)
      await drain()
    }
    state = (await api('GET', `/${created.body.id}`)).body
    assert.equal(state.state, 'stopped', JSON.stringify(state))
    assert.equal(state.cursorSeq, from, 'the cursor never moved')
    assert.equal(state.deadLetter.fromSeq, from + 1)
    assert.equal(state.deadLetter.attempts, 3)
    assert.equal(state.deadLetter.lastError, 'HTTP 503')
    const letters = await api('GET', `/${created.body.id}/dead-letters`)
    assert.equal(letters.body.deadLetters.length, 1)
    const audited = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'siem.dead_letter')
    assert.equal(audited.length, 1)
    assert.equal(audited[0]?.details.fromSeq, from + 1)
    // Stopped: more events wait, nothing is sent, nothing skipped.
    const requests = receiver.requests.length
    time.advance(3_600_000)
    await drain()
    assert.equal(receiver.requests.length, requests)
    down = false
    const resumed = await api('POST', `/${created.body.id}/resume`)
    assert.equal(resumed.status, 200, resumed.text)
    assert.equal(resumed.body.state, 'active')
    assert.equal(resumed.body.deadLetter, null)
    await drain()
    const expected = [...(await exported()).keys()].filter((seq) => seq > from)
    assert.deepEqual(
      receiver.events.map((e) => e.seq),
      expected,
      'from the dead-lettered batch on, each once',
    )
    const after = (await api('GET', `/${created.body.id}/dead-letters`)).body.deadLetters[0]
    assert.equal(after.resolution, 'retried')
    assert.equal(after.resolvedBy, `user:${acme.ownerId}`)
    assert.equal((await api('POST', `/${created.body.id}/resume`)).status, 409)
  })

  it('skips a dead-lettered batch only when asked, recorded and audited', async () => {
    const receiver = await startHttpsSiemReceiver({ certificate: httpsCert })
    receivers.https.push(receiver)
    let refuse = true
    receiver.answer = () => (refuse ? 400 : 200)
    const created = await api('POST', '', {
      name: 'poison',
      kind: 'jsonl',
      url: `${receiver.url}/poison`,
      start: 'now',
    })
    const from = created.body.cursorSeq as number
    await events(2)
    for (let i = 0; i < 3; i++) {
      await drain()
      time.advance(10_000)
    }
    const stopped = (await api('GET', `/${created.body.id}`)).body
    assert.equal(stopped.state, 'stopped')
    assert.equal(
      (await api('POST', `/${created.body.id}/skip`, undefined, (await principalWithRole(t(), acme, 'auditor')).token))
        .status,
      403,
    )
    refuse = false
    const skipped = await api('POST', `/${created.body.id}/skip`)
    assert.equal(skipped.status, 200, skipped.text)
    assert.equal(skipped.body.cursorSeq, stopped.deadLetter.toSeq)
    assert.equal(skipped.body.state, 'active')
    const audited = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'siem.destination.skip')
    assert.deepEqual(
      { fromSeq: audited[0]?.details.fromSeq, toSeq: audited[0]?.details.toSeq },
      { fromSeq: from + 1, toSeq: stopped.deadLetter.toSeq },
    )
    assert.equal((await api('POST', `/${created.body.id}/skip`)).status, 409, 'nothing left to skip')
    await events(1)
    await drain()
    assert.ok(
      receiver.events.every((e) => e.seq > stopped.deadLetter.toSeq),
      'the skipped batch is the only gap',
    )
    assert.ok(receiver.events.length > 0)
  })

  it('pauses and resumes: nothing leaves while paused, the lag shows it, and the stream continues from the cursor', async () => {
    const receiver = await startHttpsSiemReceiver({ certificate: httpsCert })
    receivers.https.push(receiver)
    const created = await api('POST', '', { name: 'pausable', kind: 'jsonl', url: `${receiver.url}/p`, start: 'now' })
    const paused = await api('POST', `/${created.body.id}/pause`)
    assert.equal(paused.status, 200, paused.text)
    assert.equal(paused.body.state, 'paused')
    assert.equal((await api('POST', `/${created.body.id}/pause`)).status, 409)
    await events(4)
    await drain()
    assert.equal(receiver.requests.length, 0)
    const lagging = (await api('GET', `/${created.body.id}`)).body
    assert.ok(lagging.lag.events >= 4, JSON.stringify(lagging.lag))
    await api('POST', `/${created.body.id}/resume`)
    await drain()
    assert.equal((await api('GET', `/${created.body.id}`)).body.lag.events, 0)
    assert.deepEqual(
      receiver.events.map((e) => e.seq),
      [...(await exported()).keys()].filter((seq) => seq > created.body.cursorSeq),
    )
  })

  it('test-sends one synthetic event (seq 0) without moving the cursor, audited before it leaves', async () => {
    const receiver = await startHttpsSiemReceiver({ certificate: httpsCert, token: HEC_TOKEN })
    receivers.https.push(receiver)
    const created = await api('POST', '', {
      name: 'probe',
      kind: 'splunk_hec',
      url: receiver.url,
      credential: HEC_TOKEN,
      start: 'now',
    })
    const tested = await api('POST', `/${created.body.id}/test`)
    assert.equal(tested.status, 200, tested.text)
    assert.deepEqual(tested.body, { ok: true, status: 200, error: null })
    assert.equal(receiver.events.length, 1)
    assert.equal(receiver.events[0]?.seq, 0)
    assert.equal((receiver.events[0]?.line.event as { action: string }).action, 'siem.test')
    assert.equal((await api('GET', `/${created.body.id}`)).body.cursorSeq, created.body.cursorSeq)
    const audited = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'siem.destination.test')
    assert.equal(audited.at(-1)?.details.destination, new URL(receiver.url).host)
    // A wrong token is the destination's answer, not ours to hide.
    await api('PATCH', `/${created.body.id}`, { credential: 'not-the-token' })
    const refused = await api('POST', `/${created.body.id}/test`)
    assert.deepEqual(refused.body, { ok: false, status: 400, error: 'HTTP 400' })
  })

  it('refuses destinations that are not HTTPS, carry credentials in the URL, or point at a special-purpose address (the webhooks’ SSRF guard)', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ kind: 'jsonl', url: 'http://siem.acme.test/in' }, '/body/url'],
      [{ kind: 'jsonl', url: 'https://user:pass@siem.acme.test/in' }, '/body/url'],
      [{ kind: 'jsonl', url: 'https://siem.acme.test/in?token=abc' }, '/body/url'],
      [{ kind: 'jsonl', url: 'https://10.1.2.3/in' }, '/body/url'],
      [{ kind: 'datadog', url: 'https://169.254.169.254', credential: DD_KEY }, '/body/url'],
      [{ kind: 'splunk_hec', url: 'https://splunk.acme.test/services/collector', credential: HEC_TOKEN }, '/body/url'],
      [{ kind: 'splunk_hec', url: 'https://splunk.acme.test' }, '/body/credential'],
      [{ kind: 'syslog_tls', host: '192.168.1.20', port: 6514 }, '/body/host'],
      [{ kind: 'syslog_tls', host: '127.0.0.1' }, '/body/port'],
      [{ kind: 'syslog_tls', url: 'https://siem.acme.test', host: '127.0.0.1', port: 6514 }, '/body/url'],
      [{ kind: 'jsonl', url: 'https://siem.acme.test/in', settings: { index: 'x' } }, '/body/settings/index'],
      [
        { kind: 'syslog_tls', host: '127.0.0.1', port: 6514, settings: { caCertificate: 'nope' } },
        '/body/settings/caCertificate',
      ],
      [
        { kind: 'syslog_tls', host: '127.0.0.1', port: 6514, settings: { appName: 'two words' } },
        '/body/settings/appName',
      ],
    ]
    for (const [body, pointer] of cases) {
      const response = await api('POST', '', { name: 'refused', ...body })
      assert.equal(response.status, 400, `${JSON.stringify(body)}: ${response.text}`)
      assert.equal(response.body.code, 'VALIDATION_FAILED')
      assert.equal(response.body.errors[0].path, pointer, JSON.stringify(body))
    }
    assert.equal(
      (await api('GET', '')).body.destinations.some((d: { name: string }) => d.name === 'refused'),
      false,
    )
  })

  it('keeps credentials in the vault: never in an answer, an error, an audit event or the log', async () => {
    const listed = await api('GET', '?limit=500')
    assert.equal(listed.status, 200)
    assert.ok(listed.body.destinations.length >= 5)
    const audit = JSON.stringify(await auditActions(t(), acme.orgId))
    const logs = logLines.join('')
    for (const secret of [HEC_TOKEN, DD_KEY, BEARER]) {
      for (const answer of answers) assert.ok(!answer.includes(secret), `an answer carried ${secret.slice(0, 6)}…`)
      assert.ok(!audit.includes(secret), 'an audit event carried a credential')
      assert.ok(!logs.includes(secret), 'the log carried a credential')
    }
    assert.doesNotMatch(audit, /PRIVATE KEY/)
    assert.doesNotMatch(logs, /PRIVATE KEY/)
    // The credentials are vault secrets (siem/<name>), encrypted at rest like every secret.
    const secrets = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/secrets?limit=500`,
      token: acme.ownerToken,
    })
    const names = secrets.body.secrets.map((s: { name: string }) => s.name)
    for (const name of ['siem/lines', 'siem/splunk', 'siem/datadog', 'siem/mtls']) assert.ok(names.includes(name), name)
    const stored = await t().db.kysely.selectFrom('siem_destinations').selectAll().execute()
    assert.ok(!JSON.stringify(stored).includes(HEC_TOKEN))
  })

  it('refuses to add or redirect a destination for a caller who may not export the log itself (siem:manage alone): 403 EXCEEDS_OWN_PERMISSIONS, nothing changed', async () => {
    const role = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/roles`,
      token: acme.ownerToken,
      body: {
        name: 'siem-only',
        description: 'streams, without audit:export',
        permissions: ['siem:read', 'siem:manage'],
      },
    })
    assert.equal(role.status, 201, role.text)
    const { token } = await principalWithRole(t(), acme, 'siem-only')
    const listed = async () =>
      ((await api('GET', '?limit=500')).body.destinations as { id: string; url: string | null }[]).map((d) => [
        d.id,
        d.url,
      ])
    const before = await listed()
    const first = before.find(([, url]) => url !== null)
    assert.ok(first !== undefined)
    for (const [method, tail, body] of [
      ['POST', '', { name: 'elsewhere', kind: 'jsonl', url: 'https://siem.elsewhere.test/in' }],
      ['PATCH', `/${first[0]}`, { url: 'https://siem.elsewhere.test/' }],
    ] as const) {
      const refused = await api(method, tail, body, token)
      assert.equal(refused.status, 403, refused.text)
      assert.equal(refused.body.code, 'EXCEEDS_OWN_PERMISSIONS')
      assert.deepEqual(refused.body.missingPermissions, ['audit:export'])
    }
    assert.deepEqual(await listed(), before)
  })

  it('removes a destination and crypto-erases its credential; another org sees none of it', async () => {
    const other = await createCustomerOrg(t(), provider, 'Other', `owner@${engine}.other.test`)
    const mine = (await api('GET', '')).body.destinations[0]
    const foreign = await t().request({
      method: 'GET',
      url: `/v1/orgs/${other.orgId}/siem/destinations/${mine.id}`,
      token: other.ownerToken,
    })
    assert.equal(foreign.status, 404)
    const splunk = (await api('GET', '?limit=500')).body.destinations.find((d: { name: string }) => d.name === 'splunk')
    assert.equal((await api('DELETE', `/${splunk.id}`)).status, 204)
    assert.equal((await api('GET', `/${splunk.id}`)).status, 404)
    const secrets = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/secrets?limit=500`,
      token: acme.ownerToken,
    })
    assert.equal(
      secrets.body.secrets.some((s: { name: string }) => s.name === 'siem/splunk'),
      false,
    )
    const removed = (await auditActions(t(), acme.orgId)).filter((e) => e.action === 'siem.destination.remove')
    assert.equal(removed.at(-1)?.details.name, 'splunk')
  })
})
