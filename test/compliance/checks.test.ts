import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { it } from 'node:test'
import { sql } from 'kysely'
import { PROMISES } from '../../src/modules/compliance/catalogue.ts'
import { CHECKS } from '../../src/modules/compliance/checks/index.ts'
import { databaseHost, databaseLabel, isLoopbackHost } from '../../src/db/database-url.ts'
import { hashSecret } from '../../src/crypto/tokens.ts'
import { bootstrapProvider, createCustomerOrg, PASSWORD, testClock, useTestApp, type Org } from '../helpers/app.ts'
import { forEachEngine } from '../helpers/db.ts'
import { enrolTotp } from '../helpers/totp.ts'

interface Check {
  check: string
  promise: string
  scope: string
  verdict: string
  summary: string
  evidence: Record<string, unknown>
  ranAt: string
  since: string
}
interface Standing {
  id: string
  verdict: string
  frameworks: { soc2: string[]; iso27001: string[]; gdpr: string[] }
  checks: Check[]
}

forEachEngine('live compliance checks (P5.4, P10.2)', (engine) => {
  // Evaluations on demand are one a minute per org: the test's clock moves past that.
  const time = testClock()
  const t = useTestApp(engine, {}, undefined, undefined, { clock: time.clock })
  let provider: Org
  let acme: Org

  const standing = async (org: Org) => {
    const response = await t().request({
      method: 'GET',
      url: `/v1/orgs/${org.orgId}/compliance`,
      token: org.ownerToken,
    })
    assert.equal(response.status, 200, response.text)
    return response.body as { promises: Standing[]; lastRun: { id: string } | null; summary: Record<string, unknown> }
  }
  const checkOf = async (org: Org, id: string) => {
    const all = (await standing(org)).promises.flatMap((p) => p.checks)
    const found = all.find((c) => c.check === id)
    assert.ok(found, `${id} has a result`)
    return found
  }
  const runNow = async (org: Org) => {
    time.advance(61_000)
    const run = await t().request({
      method: 'POST',
      url: `/v1/orgs/${org.orgId}/compliance/runs`,
      token: org.ownerToken,
    })
    assert.equal(run.status, 200, run.text)
    return run.body as { id: string; passed: number; failed: number; notApplicable: number; trigger: string }
  }
  const alertsOf = async (org: Org) =>
    (
      (await t().request({ method: 'GET', url: `/v1/orgs/${org.orgId}/alerts`, token: org.ownerToken })).body
        .alerts as { rule: string; title: string; occurrences: number; details: { check?: string } }[]
    ).filter((a) => a.rule === 'compliance_check_failed')

  it('P10.2: every promise of the catalogue has at least one live check, each with a known promise', () => {
    const promises = new Set(PROMISES.map((p) => p.id))
    for (const c of CHECKS) assert.ok(promises.has(c.promise), `${c.id} proves an unknown promise`)
    const checked = new Set(CHECKS.map((c) => c.promise))
    assert.deepEqual(
      PROMISES.map((p) => p.id).filter((id) => !checked.has(id)),
      [],
    )
    assert.equal(new Set(CHECKS.map((c) => c.id)).size, CHECKS.length, 'check ids are unique')
  })

  it('P5.4: an on-demand run evaluates every promise — the service’s checks in the provider org, the org’s own in each org — and keeps the run and the history', async () => {
    provider = await bootstrapProvider(t())
    acme = await createCustomerOrg(t(), provider, 'Acme', 'owner@acme.test')
    const before = await standing(acme)
    assert.equal(before.lastRun, null)
    assert.ok(
      before.promises.every((p) => p.checks.length === 0 && p.verdict === 'not_applicable'),
      'nothing evaluated yet',
    )

    const service = await runNow(provider)
    assert.equal(service.trigger, 'demand')
    assert.equal(
      service.passed + service.failed + service.notApplicable,
      CHECKS.length,
      'the provider org: every check',
    )
    const run = await runNow(acme)
    assert.equal(
      run.passed + run.failed + run.notApplicable,
      CHECKS.filter((c) => c.scope === 'org').length,
      'a customer org: its own checks',
    )

    const after = await standing(acme)
    assert.equal(after.lastRun?.id, run.id)
    assert.equal(after.promises.length, PROMISES.length)
    for (const p of after.promises) {
      assert.ok(p.checks.length > 0, `${p.id} has a check result`)
      assert.ok(['met', 'not_met', 'not_applicable'].includes(p.verdict))
      assert.ok(p.frameworks.soc2.length > 0 && p.frameworks.iso27001.length > 0, `${p.id} is mapped`)
      for (const c of p.checks) {
        assert.ok(['pass', 'fail', 'not_applicable'].includes(c.verdict), `${c.check}: ${c.verdict}`)
        assert.ok(!Number.isNaN(Date.parse(c.ranAt)) && !Number.isNaN(Date.parse(c.since)))
        assert.doesNotMatch(c.summary, /could not run/, `${c.check} ran: ${c.summary}`)
      }
    }
    // The customer sees the service's checks (TLS, keys) beside its own, never the provider org's own.
    const scopes = new Set(after.promises.flatMap((p) => p.checks.map((c) => c.scope)))
    assert.deepEqual([...scopes].sort(), ['org', 'service'])
    const providerOwn = (await standing(provider)).promises.flatMap((p) => p.checks).filter((c) => c.scope === 'org')
    const acmeOwn = after.promises.flatMap((p) => p.checks).filter((c) => c.scope === 'org')
    assert.equal(providerOwn.length, acmeOwn.length)

    // Evidence holds figures and ids, never a person's email, a credential or the password.
    const text = JSON.stringify(after)
    for (const secret of ['owner@acme.test', 'owner@provider.test', PASSWORD, acme.ownerToken, provider.ownerToken])
      assert.ok(!text.includes(secret), 'no personal value or credential in the results')

    const runs = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/compliance/runs`,
      token: acme.ownerToken,
    })
    assert.deepEqual(
      runs.body.runs.map((r: { id: string }) => r.id),
      [run.id],
    )
    const history = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/compliance/history`,
      token: acme.ownerToken,
    })
    assert.equal(history.status, 200)
    assert.equal(history.body.history.length, acmeOwn.length, 'a first result of each check is history')
    assert.ok(history.body.history.every((h: { previousVerdict: unknown }) => h.previousVerdict === null))

    // Evaluated on demand, and audited as such; a second run with nothing changed adds no history.
    const events = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/audit/events?action=compliance.evaluate`,
      token: acme.ownerToken,
    })
    assert.equal(events.body.events.length, 1)
    await runNow(acme)
    const again = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/compliance/history`,
      token: acme.ownerToken,
    })
    const changed = again.body.history.length - history.body.history.length
    assert.ok(changed <= 2, `only checks whose figures moved (the audit log grew): ${changed}`)
  })

  it('P5.4: an evaluation on demand within a minute of the last is refused (429 with Retry-After), nothing recorded', async () => {
    const first = await runNow(acme)
    const again = await t().request({
      method: 'POST',
      url: `/v1/orgs/${acme.orgId}/compliance/runs`,
      token: acme.ownerToken,
    })
    assert.equal(again.status, 429, again.text)
    assert.equal(again.body.code, 'RATE_LIMITED')
    const retryAfter = Number(again.headers['retry-after'])
    assert.ok(retryAfter > 0 && retryAfter <= 60, String(retryAfter))
    const runs = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/compliance/runs?limit=1`,
      token: acme.ownerToken,
    })
    assert.equal(runs.body.runs[0].id, first.id)
  })

  it('P3.2: members with data access and no second factor fail the check (count and who); it passes once they enrol under a policy that requires it, and a turn back to fail raises one alert', async () => {
    const failing = await checkOf(acme, 'p3.2/data-access-needs-2fa')
    assert.equal(failing.verdict, 'fail')
    assert.equal(failing.evidence.withoutSecondFactor, 1)
    assert.deepEqual(failing.evidence.users, [acme.ownerId])
    const ofCheck = async () => (await alertsOf(acme)).filter((a) => a.details.check === 'p3.2/data-access-needs-2fa')
    assert.deepEqual(await ofCheck(), [], 'a first evaluation shows the gap without alerting')

    await enrolTotp((method, url, body) => t().request({ method, url, token: acme.ownerToken, body }))
    const setPolicy = async (require2fa: boolean) => {
      const policy = await t().request({
        method: 'PUT',
        url: `/v1/orgs/${acme.orgId}/security-policy`,
        token: acme.ownerToken,
        body: { require2fa, stepUpMinutes: 10 },
      })
      assert.equal(policy.status, 200, policy.text)
    }
    await setPolicy(true)
    await runNow(acme)
    const passing = await checkOf(acme, 'p3.2/data-access-needs-2fa')
    assert.equal(passing.verdict, 'pass', passing.summary)
    assert.notEqual(passing.since, failing.since)

    // The policy no longer requires a second factor: the promise no longer holds.
    await setPolicy(false)
    await runNow(acme)
    assert.equal((await checkOf(acme, 'p3.2/data-access-needs-2fa')).verdict, 'fail')
    const [alert, ...more] = await ofCheck()
    assert.ok(alert, 'the turn to fail raised compliance_check_failed')
    assert.deepEqual(more, [])
    assert.match(alert.title, /^P3\.2 not met: the org does not require two-factor authentication/)
    await runNow(acme)
    assert.equal((await ofCheck()).length, 1, 'still failing: not raised again')
    const history = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/compliance/history?check=p3.2/data-access-needs-2fa`,
      token: acme.ownerToken,
    })
    assert.deepEqual(
      history.body.history.map((h: { verdict: string; previousVerdict: string | null }) => [
        h.verdict,
        h.previousVerdict,
      ]),
      [
        ['fail', 'pass'],
        ['pass', 'fail'],
        ['fail', null],
      ],
    )
    await setPolicy(true)
    await runNow(acme)
  })

  it('P2.6: a live credential of someone no longer a member fails the check, naming the user, until it is revoked', async () => {
    // A token left behind (as a failed revocation would leave it), written beside the API.
    const userId = randomUUID()
    const tokenId = randomUUID()
    await t()
      .db.kysely.transaction()
      .execute(async (trx) => {
        await sql`INSERT INTO users (id, email) VALUES (${userId}, ${`gone-${userId}@acme.test`})`.execute(trx)
        await sql`INSERT INTO api_tokens (id, org_id, user_id, name, secret_hash, scopes, expires_at, created_by)
        VALUES (${tokenId}, ${acme.orgId}, ${userId}, 'left behind', ${hashSecret('x')}, NULL, now() + interval '1 day', ${acme.ownerId})`.execute(
          trx,
        )
      })
    await runNow(acme)
    const failing = await checkOf(acme, 'p2.6/removed-have-no-access')
    assert.equal(failing.verdict, 'fail', failing.summary)
    assert.equal(failing.evidence.liveTokensOfFormerMembers, 1)
    assert.deepEqual(failing.evidence.users, [userId])
    await sql`UPDATE api_tokens SET revoked_at = now() WHERE id = ${tokenId}`.execute(t().db.kysely)
    await runNow(acme)
    assert.equal((await checkOf(acme, 'p2.6/removed-have-no-access')).verdict, 'pass')
  })

  it('P2.1: row-level security on every tenant table, checked in the catalog — a table without a policy fails the check', async () => {
    const passing = await checkOf(provider, 'p2.1/row-level-security')
    assert.equal(passing.verdict, 'pass', passing.summary)
    assert.ok(Number(passing.evidence.tenantTables) > 50)
    await sql`CREATE TABLE compliance_probe (id uuid PRIMARY KEY, org_id uuid NOT NULL)`.execute(t().db.kysely)
    try {
      await runNow(provider)
      const failing = await checkOf(provider, 'p2.1/row-level-security')
      assert.equal(failing.verdict, 'fail')
      assert.deepEqual(failing.evidence.tables, ['compliance_probe'])
    } finally {
      await sql`DROP TABLE compliance_probe`.execute(t().db.kysely)
    }
    await runNow(provider)
    assert.equal((await checkOf(provider, 'p2.1/row-level-security')).verdict, 'pass')
  })

  it('P5.4: the schedule evaluates the orgs that are due, and only those', async () => {
    const due = await sql<{
      org_id: string
    }>`SELECT org_id FROM compliance_schedule WHERE next_run_at <= now()`.execute(t().db.kysely)
    assert.deepEqual(due.rows, [], 'both orgs ran on demand: not due for an hour')
    await sql`UPDATE compliance_schedule SET next_run_at = now() - interval '1 second' WHERE org_id = ${acme.orgId}`.execute(
      t().db.kysely,
    )
    assert.equal(await t().app.services.compliance.runDue(), 1)
    assert.equal(await t().app.services.compliance.runDue(), 0)
    const runs = await t().request({
      method: 'GET',
      url: `/v1/orgs/${acme.orgId}/compliance/runs`,
      token: acme.ownerToken,
    })
    assert.equal(runs.body.runs[0].trigger, 'schedule')
    // A new org is due at once.
    const beta = await createCustomerOrg(t(), provider, 'Beta', 'owner@beta.test')
    assert.equal(await t().app.services.compliance.runDue(), 1)
    assert.ok((await standing(beta)).lastRun !== null)
  })

  it('P10.2: operators see each org check across orgs, failing orgs by name, and the service’s checks', async () => {
    const response = await t().request({ method: 'GET', url: '/v1/operator/compliance', token: provider.ownerToken })
    assert.equal(response.status, 200, response.text)
    const twoFactor = (
      response.body.orgChecks as {
        check: string
        pass: number
        fail: number
        notApplicable: number
        failingOrgs: { name: string }[]
      }[]
    ).find((c) => c.check === 'p3.2/data-access-needs-2fa')
    assert.ok(twoFactor)
    assert.ok(twoFactor.pass + twoFactor.fail + twoFactor.notApplicable >= 3)
    assert.ok(
      twoFactor.failingOrgs.some((o) => o.name === 'Beta'),
      'Beta’s owner has no second factor',
    )
    assert.ok(!twoFactor.failingOrgs.some((o) => o.name === 'Acme'))
    assert.ok(response.body.service.length > 0)
    assert.ok(response.body.service.every((c: { scope: string }) => c.scope === 'service'))
    const denied = await t().request({ method: 'GET', url: '/v1/operator/compliance', token: acme.ownerToken })
    assert.equal(denied.status, 403)
  })
})

it('P4.1: the database-TLS check tells a connection through a Unix socket from a remote host, in every form of DATABASE_URL', () => {
  for (const [url, directory] of [
    ['postgres://custodian@%2Fvar%2Frun%2Fpostgresql/custodian', '/var/run/postgresql'],
    ['postgresql://custodian@%2Fvar%2Frun%2Fpostgresql:5432/custodian?sslmode=disable', '/var/run/postgresql'],
    ['postgres://localhost/custodian?host=/var/run/postgresql', '/var/run/postgresql'],
    ['postgres:///custodian?host=/var/run/postgresql', '/var/run/postgresql'],
    ['postgres://db.example.test/custodian?host=%2Ftmp', '/tmp'],
  ] as const)
    assert.equal(databaseHost(url), `unix socket ${directory}`, url)
  // A URL without a host takes PGHOST, else node-postgres's default, localhost over TCP (libpq
  // would take its socket): the check judges where the service connects, not the URL alone.
  const pgHost = process.env.PGHOST
  try {
    delete process.env.PGHOST
    assert.equal(databaseHost('postgres:///custodian'), 'localhost')
    assert.equal(databaseHost('postgres://custodian@/custodian'), 'localhost')
    process.env.PGHOST = 'db.example.test'
    assert.equal(databaseHost('postgres:///custodian'), 'db.example.test')
    assert.equal(databaseHost('postgres://custodian:pw@/custodian?sslmode=disable'), 'db.example.test')
    assert.equal(databaseHost('postgres://127.0.0.1/custodian'), '127.0.0.1')
  } finally {
    if (pgHost === undefined) delete process.env.PGHOST
    else process.env.PGHOST = pgHost
  }
  // Loopback by address, not by look: a name such as 127.0.0.256 is whatever the resolver says.
  for (const host of ['localhost', '127.0.0.1', '127.1.2.3', '::1', '[::1]']) assert.ok(isLoopbackHost(host), host)
  for (const host of ['127.0.0.256', '127.0.0.1.nip.io', 'localhost.example.test', '::ffff:7f00:1', '10.0.0.1', ''])
    assert.ok(!isLoopbackHost(host), host)
  assert.equal(
    databaseHost('postgres://custodian@/custodian?host=/var/run/postgresql'),
    'unix socket /var/run/postgresql',
  )
  assert.equal(databaseHost('postgres://custodian@127.0.0.1:5432/custodian'), '127.0.0.1')
  assert.equal(databaseHost('postgres://custodian@[::1]:5432/custodian'), '::1')
  assert.equal(databaseHost('postgres://custodian@db.example.test/custodian'), 'db.example.test')
  // A host parameter naming a network host is the host node-postgres connects to.
  assert.equal(databaseHost('postgres://localhost/custodian?host=db.example.test'), 'db.example.test')
  assert.equal(databaseHost('not a url'), 'unknown')
  assert.equal(databaseHost(undefined), 'unknown')
  // Not percent-decodable: node-postgres would look the text up as a host name, not a local one.
  assert.equal(databaseHost('postgres://%E0%A4%A/custodian'), '%E0%A4%A')
  // What the CLI says it checked: the database and host, never the user or password.
  assert.equal(
    databaseLabel({ databaseUrl: 'postgres://u:hunter2@db.example.test/cust%20odian', dataDir: 'data' }),
    'PostgreSQL database "cust odian" on db.example.test:5432',
  )
  assert.equal(databaseLabel({ dataDir: '/srv/custodian' }), 'the embedded database in /srv/custodian')
})
