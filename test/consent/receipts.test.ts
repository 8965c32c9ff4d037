import assert from 'node:assert/strict'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { before, it } from 'node:test'
import { verifyJws } from '../../src/crypto/jws.ts'
import { withOrg } from '../../src/db/tenant.ts'
import { verifyConsentReceipt, type ConsentReceiptPayload } from '../../src/modules/consent/consent.receipts.ts'
import { verifyConsentReceipt as verifyInBrowser } from '../../console/src/lib/consent-receipt.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  principalWithRole,
  testClock,
  useTestApp,
  type Org,
} from '../helpers/app.ts'
import { runToExit } from '../helpers/process.ts'

const dir = mkdtempSync(path.join(tmpdir(), 'custodian-consent-receipts-'))

interface ReceiptDocument {
  id: string
  eventId: string
  jws: string
  receipt: {
    event: Record<string, unknown> & { details: Record<string, unknown> }
    proof: string[]
    checkpoint: string
    size: number
  }
}

/** Consent receipts, the subject's access export and erasure (P7.7, issue 22). */
forEachEngine('consent receipts, access export and erasure (P7.7)', (engine) => {
  const time = testClock()
  const t = useTestApp(
    engine,
    {
      // The sequencer runs when the test says (flush): "not yet sequenced" is observable.
      CUSTODIAN_AUDIT_SEQUENCER_INTERVAL_MS: '60000',
      // A checkpoint at every sequencer pass: once flushed, a receipt is there.
      CUSTODIAN_AUDIT_CHECKPOINT_EVERY: '1',
      CUSTODIAN_SHRED_RING_GRACE_MS: '0',
    },
    undefined,
    undefined,
    { clock: time.clock },
  )
  let acme: Org
  let other: Org
  let n = 0
  const keysOf = new Map<string, { publicKey: string; verifierKey: string }>()
  const as = (method: string, p: string, body?: unknown, org: Org = acme, token = org.ownerToken) =>
    t().request({ method, url: `/v1/orgs/${org.orgId}${p}`, token, body })
  const record = async (subject: string, purpose: string, action: string, org: Org = acme) => {
    const recorded = await as(
      'POST',
      '/consent/events',
      {
        id: `receipt-${engine}-${++n}`,
        subject,
        purpose,
        action,
        method: 'form',
        ...(action === 'grant' ? { noticeVersion: 1 } : {}),
        evidence: { ip: '203.0.113.9', userAgent: 'Mozilla/5.0 (receipts)', formId: 'signup' },
      },
      org,
    )
    assert.equal(recorded.status, 201, recorded.text)
    return recorded.body.event as { id: string }
  }
  const receiptOf = async (eventId: string, org: Org = acme) => {
    const answered = await as('GET', `/consent/receipts/${eventId}`, undefined, org)
    assert.equal(answered.status, 200, answered.text)
    return answered.body as ReceiptDocument
  }
  const keys = async (org: Org = acme) => {
    const known = keysOf.get(org.orgId)
    if (known !== undefined) return known
    const listed = await t().request({ method: 'GET', url: `/v1/audit/keys?org=${org.orgId}` })
    const [key] = listed.body.keys as { publicKey: string; verifierKey: string }[]
    assert.ok(key !== undefined)
    keysOf.set(org.orgId, key)
    return key
  }
  const verify = async (document: unknown, org: Org = acme) => {
    const { publicKey, verifierKey } = await keys(org)
    return verifyConsentReceipt(document, { publicKey, logKey: verifierKey })
  }

  before(async () => {
    const provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    other = await createCustomerOrg(t(), provider, 'Other', 'owner@other.test')
    for (const org of [acme, other]) {
      // A purpose names registered recipients (docs/consent.md#propagation-to-recipients).
      const registered = await as(
        'POST',
        '/consent/recipients',
        { name: 'Mailer Ltd', url: 'https://mailer.example.test/consent', deadlineHours: 72 },
        org,
      )
      assert.equal(registered.status, 201, registered.text)
      for (const body of [
        {
          key: 'newsletter',
          name: 'Product newsletter',
          lawfulBasis: 'consent',
          directMarketing: true,
          recipients: ['Mailer Ltd'],
          dataCategories: ['email'],
          lifetimeDays: 365,
        },
        { key: 'analytics', name: 'Product analytics', lawfulBasis: 'consent' },
        { key: 'profiling', name: 'Profiling', lawfulBasis: 'explicit_consent' },
      ]) {
        const created = await as('POST', '/consent/purposes', body, org)
        assert.equal(created.status, 201, created.text)
      }
      const notice = await as(
        'POST',
        '/consent/notices',
        {
          language: 'en',
          text: 'We email you news and measure use. Withdraw at any time.',
          purposes: ['newsletter', 'analytics', 'profiling'],
          materialChange: false,
        },
        org,
      )
      assert.equal(notice.status, 201, notice.text)
    }
  })

  it('answers a signed receipt once the event is sequenced (409 before), with the Kantara / ISO 27560 fields', async () => {
    const event = await record('user-receipt-1', 'newsletter', 'grant')
    const pending = await as('GET', `/consent/receipts/${event.id}`)
    assert.equal(pending.status, 409, pending.text)
    assert.equal(pending.body.code, 'CONSENT_RECEIPT_PENDING')
    await t().app.sequencer.flush()
    const document = await receiptOf(event.id)
    assert.equal(document.id, event.id)
    assert.equal(document.eventId, event.id)
    assert.equal(document.receipt.event.id, event.id)
    assert.equal(document.receipt.event.action, 'consent.grant')

    const { publicKey } = await keys()
    const { header, payload } = await verifyJws(document.jws, new Map([[String(headerKid(document.jws)), publicKey]]))
    assert.equal(header.typ, 'custodian-consent-receipt+jws')
    const p = payload as unknown as ConsentReceiptPayload
    assert.equal(p.version, 'KI-CR-v1.1.0')
    assert.equal(p.jurisdiction, 'EU')
    assert.equal(p.consentReceiptID, event.id)
    assert.deepEqual(p.event, { org: acme.orgId, id: event.id })
    assert.equal(p.action, 'grant')
    assert.equal(p.collectionMethod, 'form')
    assert.equal(p.language, 'en')
    assert.deepEqual(p.piiControllers, [{ piiController: 'Acme', org: acme.orgId }])
    assert.equal(p.consentTimestamp, Math.floor(Date.parse(p.collectedAt) / 1000))
    assert.equal(p.notice?.version, 1)
    assert.match(p.notice?.sha256 ?? '', /^[0-9a-f]{64}$/)
    assert.deepEqual(p.purposes, [
      {
        purpose: 'newsletter',
        purposeName: 'Product newsletter',
        lawfulBasis: 'consent',
        directMarketing: true,
        piiCategory: ['email'],
        thirdPartyDisclosure: true,
        thirdPartyName: ['Mailer Ltd'],
        termination: new Date(Date.parse(p.collectedAt) + 365 * 86_400_000).toISOString(),
      },
    ])
    // The subject is named by its keyed reference only: the receipt names nobody.
    const ref = t().app.services.subjects.ref(acme.orgId, 'user-receipt-1').toString('base64url')
    assert.equal(p.piiPrincipalId, ref)
    assert.ok(!JSON.stringify(document).includes('user-receipt-1'))
    assert.ok(!JSON.stringify(document).includes('203.0.113.9'), 'the evidence is not in the receipt')

    const check = await verify(document)
    assert.equal(check.ok, true, check.problems.join('; '))
    assert.equal(check.seq, document.receipt.event.seq)
  })

  it('verifies offline and fails when any part is tampered with (signature, event, proof, checkpoint, pairing, keys)', async () => {
    const granted = await record('user-receipt-2', 'analytics', 'grant')
    const withdrawn = await record('user-receipt-2', 'analytics', 'withdraw')
    await t().app.sequencer.flush()
    const document = await receiptOf(granted.id)
    const otherDocument = await receiptOf(withdrawn.id)
    assert.equal((await verify(document)).ok, true)
    assert.equal((await verify(otherDocument)).ok, true)

    const [h, body, sig] = document.jws.split('.') as [string, string, string]
    const edited = JSON.parse(Buffer.from(body, 'base64url').toString('utf8')) as Record<string, unknown>
    const cases: [string, unknown, RegExp][] = [
      [
        'a payload field changed',
        {
          ...document,
          jws: `${h}.${Buffer.from(JSON.stringify({ ...edited, action: 'deny' })).toString('base64url')}.${sig}`,
        },
        /signature does not verify/,
      ],
      ['a signature byte changed', { ...document, jws: `${h}.${body}.${flip(sig)}` }, /signature does not verify/],
      [
        'the logged event changed',
        {
          ...document,
          receipt: {
            ...document.receipt,
            event: { ...document.receipt.event, details: { ...document.receipt.event.details, purpose: 'newsletter' } },
          },
        },
        /inclusion proof does not lead/,
      ],
      [
        'a proof hash changed',
        {
          ...document,
          receipt: {
            ...document.receipt,
            proof:
              document.receipt.proof.length === 0
                ? [Buffer.alloc(32).toString('base64')]
                : [flipBase64(document.receipt.proof[0] as string), ...document.receipt.proof.slice(1)],
          },
        },
        /inclusion proof does not lead/,
      ],
      [
        'the checkpoint changed',
        { ...document, receipt: { ...document.receipt, checkpoint: flipCheckpointRoot(document.receipt.checkpoint) } },
        /checkpoint does not open/,
      ],
      [
        'the audit receipt of another consent event',
        { ...document, receipt: otherDocument.receipt },
        /the log records the event/,
      ],
      ['no audit receipt', { ...document, receipt: null }, /holds no audit receipt/],
    ]
    // The console's verifier (WebCrypto, the published keys) agrees, part by part.
    const published = (await t().request({ method: 'GET', url: '/v1/audit/keys' })).body.keys as {
      keyId: string
      publicKey: string
    }[]
    assert.deepEqual(await verifyInBrowser(document, published), {
      ok: true,
      problem: '',
      payload: JSON.parse(Buffer.from(body, 'base64url').toString('utf8')),
    })
    for (const [name, tampered, problem] of cases) {
      const check = await verify(tampered)
      assert.equal(check.ok, false, name)
      assert.match(check.problems.join('; '), problem, name)
      assert.equal((await verifyInBrowser(tampered, published)).ok, false, `${name} (console)`)
    }
    // The other org's log key: its checkpoints are another log.
    const theirs = await keys(other)
    const { publicKey } = await keys()
    const foreign = await verifyConsentReceipt(document, { publicKey, logKey: theirs.verifierKey })
    assert.equal(foreign.ok, false)
    const wrongKey = await verifyConsentReceipt(document, {
      publicKey: Buffer.alloc(32, 7).toString('base64url'),
      logKey: (await keys()).verifierKey,
    })
    assert.equal(wrongKey.ok, false)
    assert.match(wrongKey.problems.join('; '), /signature does not verify/)

    // Offline with the CLI: the API's answer saved as it came, then tampered with.
    const { verifierKey } = await keys()
    const file = path.join(dir, `receipt-${engine}.json`)
    writeFileSync(file, JSON.stringify(document))
    const cli = (at: string) =>
      runToExit(
        ['bin/custodian.js', 'consent', 'verify-receipt', at, '--public-key', publicKey, '--log-key', verifierKey],
        {},
      )
    const ok = await cli(file)
    assert.equal(ok.code, 0, ok.output)
    assert.match(ok.output, /^OK {3}consent receipt .*: grant of analytics \(consent\)/)
    const bad = path.join(dir, `receipt-tampered-${engine}.json`)
    writeFileSync(bad, JSON.stringify({ ...document, receipt: otherDocument.receipt }))
    const refused = await cli(bad)
    assert.equal(refused.code, 1, refused.output)
    assert.match(refused.output, /FAIL the consent receipt does not verify/)
  })

  it('guards the receipt route: 401, 403 without consent:read, 404 for another org’s event, 400 for a bad id', async () => {
    const mine = await record('user-receipt-3', 'newsletter', 'grant')
    const theirs = await record('user-receipt-3', 'newsletter', 'grant', other)
    await t().app.sequencer.flush()
    const url = `/v1/orgs/${acme.orgId}/consent/receipts/${mine.id}`
    const anonymous = await t().request({ method: 'GET', url })
    assert.equal(anonymous.status, 401)
    const viewer = await principalWithRole(t(), acme, 'viewer')
    const forbidden = await t().request({ method: 'GET', url, token: viewer.token })
    assert.equal(forbidden.status, 403)
    assert.equal(forbidden.body.permission, 'consent:read')
    const foreign = await as('GET', `/consent/receipts/${theirs.id}`)
    assert.equal(foreign.status, 404)
    assert.equal(foreign.body.code, 'NOT_FOUND')
    assert.equal((await as('GET', `/consent/receipts/${theirs.id}`, undefined, other)).status, 200)
    // An audit event that is not a consent event has no consent receipt.
    const purposeEvent = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      trx
        .selectFrom('audit_events')
        .select('event_id')
        .where('action', '=', 'consent.purpose.create')
        .executeTakeFirstOrThrow(),
    )
    assert.equal((await as('GET', `/consent/receipts/${purposeEvent.event_id}`)).status, 404)
    const bad = await as('GET', '/consent/receipts/not-a-uuid')
    assert.equal(bad.status, 400)
    assert.equal(bad.body.errors[0].path, '/params/eventId')
    const typo = await as('GET', `/consent/receipts/${mine.id}?typo=1`)
    assert.equal(typo.status, 400)
  })

  it('an access export carries the subject’s consent history with its evidence opened, and its receipts', async () => {
    const subject = 'user-access-1'
    const granted = await record(subject, 'newsletter', 'grant')
    const withdrawn = await record(subject, 'newsletter', 'withdraw')
    await record('someone-else', 'newsletter', 'grant')
    await t().app.sequencer.flush()
    const request = await as('POST', '/privacy-requests', {
      kind: 'access',
      subjectId: subject,
      verification: { method: 'signed-in-account' },
    })
    assert.equal(request.status, 201, request.text)
    const done = await as('POST', `/privacy-requests/${request.body.id}/complete`, {})
    assert.equal(done.status, 200, done.text)
    const download = await as('GET', `/privacy-exports/${done.body.exportId}`)
    assert.equal(download.status, 200, download.text)
    const content = JSON.parse(download.text) as {
      consent: {
        events: { eventId: string; purpose: string; action: string; evidence: Record<string, unknown> | null }[]
        receipts: ReceiptDocument[]
      }
    }
    assert.deepEqual(
      content.consent.events.map((e) => [e.eventId, e.purpose, e.action]),
      [
        [granted.id, 'newsletter', 'grant'],
        [withdrawn.id, 'newsletter', 'withdraw'],
      ],
    )
    assert.deepEqual(content.consent.events[0]?.evidence, {
      ip: '203.0.113.9',
      userAgent: 'Mozilla/5.0 (receipts)',
      formId: 'signup',
    })
    assert.deepEqual(
      content.consent.receipts.map((r) => r.id),
      [granted.id, withdrawn.id],
    )
    for (const receipt of content.consent.receipts) {
      const check = await verify(receipt)
      assert.equal(check.ok, true, check.problems.join('; '))
    }
  })

  it('erasure withdraws each current grant before the key is shredded; then no evidence opens and receipts still verify', async () => {
    const subject = 'user-erase-1'
    const newsletter = await record(subject, 'newsletter', 'grant')
    await record(subject, 'profiling', 'grant')
    await record(subject, 'analytics', 'deny')
    const ref = t().app.services.subjects.ref(acme.orgId, subject)
    await t().app.sequencer.flush()
    const before = await receiptOf(newsletter.id)
    assert.equal((await verify(before)).ok, true)

    const request = await as('POST', '/privacy-requests', {
      kind: 'erase',
      subjectId: subject,
      verification: { method: 'signed-in-account' },
    })
    assert.equal(request.status, 201, request.text)
    const done = await as('POST', `/privacy-requests/${request.body.id}/complete`, {})
    assert.equal(done.status, 200, done.text)

    const events = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      trx
        .selectFrom('consent_events as e')
        .innerJoin('consent_purposes as p', 'p.id', 'e.purpose_id')
        .select(['e.id', 'p.key', 'e.action', 'e.method', 'e.actor_type', 'e.actor_id', 'e.evidence_commitment'])
        .where('e.subject_ref', '=', ref)
        .orderBy('e.received_at')
        .orderBy('p.key')
        .execute(),
    )
    const withdrawals = events.filter((e) => e.action === 'withdraw')
    assert.deepEqual(
      withdrawals.map((e) => [e.key, e.method, e.actor_type, e.actor_id]),
      [
        ['newsletter', 'staff', 'system', 'privacy.erasure'],
        ['profiling', 'staff', 'system', 'privacy.erasure'],
      ],
      'one withdrawal per current grant, none for the denied purpose',
    )
    // Each withdrawal is an audit event naming the erasure request, in the log like any other.
    const logged = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      trx
        .selectFrom('audit_events')
        .select(['event_id', 'action', 'details'])
        .where(
          'event_id',
          'in',
          withdrawals.map((w) => w.id),
        )
        .execute(),
    )
    assert.equal(logged.length, 2)
    for (const row of logged) {
      assert.equal(row.action, 'consent.withdraw')
      assert.equal((row.details as { erasureRequest?: string }).erasureRequest, request.body.id)
    }
    // The checks answer erased; the state says withdrawn.
    const checked = await as('POST', '/consent/check', { subject, purpose: 'newsletter' })
    assert.equal(checked.body.allowed, false)
    assert.equal(checked.body.reason, 'erased')
    // No evidence field opens: the sealed personal fields are gone, the key too.
    const personal = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      trx.selectFrom('audit_personal').select('event_id').where('subject_ref', '=', ref).execute(),
    )
    assert.deepEqual(personal, [])
    const key = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      t().app.services.subjects.keyByRef(trx, acme.orgId, ref),
    )
    assert.equal(key, undefined)
    // Idempotent: once withdrawn, nothing is granted (and the erased subject has no key).
    const again = await withOrg(t().db.kysely, acme.orgId, (trx) =>
      t().app.services.consent.withdrawForErasure(
        trx,
        {
          orgId: acme.orgId,
          principal: { kind: 'user', id: 'x' },
          meta: { requestId: null, ip: null, userAgent: null },
        } as never,
        subject,
        request.body.id as string,
      ),
    )
    assert.equal(again, 0)

    // Checkpoints and receipts still verify: the chain holds commitments only.
    await t().app.sequencer.flush()
    const verified = await as('GET', '/audit/verify')
    assert.equal(verified.status, 200, verified.text)
    assert.equal(verified.body.ok, true, verified.text)
    assert.equal((await verify(before)).ok, true, 'the receipt handed out before the erasure')
    for (const id of [newsletter.id, ...withdrawals.map((w) => w.id)]) {
      const check = await verify(await receiptOf(id))
      assert.equal(check.ok, true, check.problems.join('; '))
    }
  })
})

function headerKid(jws: string): unknown {
  return (JSON.parse(Buffer.from(jws.split('.')[0] ?? '', 'base64url').toString('utf8')) as { kid?: unknown }).kid
}

function flip(base64url: string): string {
  const bytes = Buffer.from(base64url, 'base64url')
  bytes[0] = (bytes[0] ?? 0) ^ 1
  return bytes.toString('base64url')
}

function flipBase64(base64: string): string {
  const bytes = Buffer.from(base64, 'base64')
  bytes[0] = (bytes[0] ?? 0) ^ 1
  return bytes.toString('base64')
}

/** The checkpoint note with its root hash (third line) altered: its signature no longer matches. */
function flipCheckpointRoot(note: string): string {
  const lines = note.split('\n')
  lines[2] = flipBase64(lines[2] ?? '')
  return lines.join('\n')
}
