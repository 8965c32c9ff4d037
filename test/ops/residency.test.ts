import assert from 'node:assert/strict'
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { deriveKey, ed25519FromSeed } from '../../src/crypto/keys.ts'
import { createLocalProvider } from '../../src/crypto/providers/local.ts'
import {
  BackupRefusedError,
  BackupVerificationError,
  createBackup,
  restoreBackup,
  verifyBackup,
  type BackupKeys,
} from '../../src/modules/ops/backup/backup.service.ts'
import { after, before, it } from 'node:test'
import { sql } from 'kysely'
import { PROVIDER_ONLY, type Permission } from '../../src/modules/access/permissions.ts'
import {
  assertResident,
  mintRegionOrgId,
  orgIdDigest,
  pinOrgs,
  regionTag,
  ResidencyError,
  tagOfOrgId,
} from '../../src/modules/ops/residency.ts'
import { loadConfig } from '../../src/config.ts'
import { fingerprint, startTestApp, type TestApp } from '../helpers/app.ts'
import { runToExit } from '../helpers/process.ts'
import { createTestDatabase, forEachEngine, type TestDatabase } from '../helpers/db.ts'
import { buildRouteFixture, ROUTES, type Fixture } from '../helpers/route-table.ts'

/**
 * P8.2, data residency: one deployment per region, each with its own database. Two
 * deployments (eu and us) run side by side on two databases; every route of /openapi.json
 * runs in each for its orgs, every route that names an org is sent to the wrong region,
 * and then no row of either database holds anything of an org of the other region —
 * checked over every table, every column (each row as text: ids in text, uuid, jsonb and
 * hex-encoded bytea columns alike).
 */
const DIRECTORY = 'eu=https://eu.custodian.test,us=https://us.custodian.test'
const ENV = {
  CUSTODIAN_REGIONS: DIRECTORY,
  CUSTODIAN_AUTH_RATE_LIMIT: '1000',
  CUSTODIAN_REPORT_RATE_LIMIT: '1000',
}

it('P8.2 an org id names its region: a UUIDv8 (RFC 9562) whose first 16 bits are the region’s tag, the rest random', () => {
  const ids = Array.from({ length: 200 }, () => mintRegionOrgId('eu'))
  assert.equal(new Set(ids).size, 200)
  for (const id of ids) {
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    assert.equal(tagOfOrgId(id), regionTag('eu'))
  }
  assert.notEqual(regionTag('eu'), regionTag('us'))
  assert.equal(tagOfOrgId(randomUUID()), undefined, 'a v4 id names no region')
  assert.equal(tagOfOrgId('not an id'), undefined)
  // 106 random bits: the bits outside the tag, version and variant differ between ids.
  const rest = (id: string) => id.replaceAll('-', '').slice(4)
  assert.ok(ids.slice(1).every((id) => rest(id) !== rest(ids[0] as string)))
})

it('P8.2 the region configuration is checked: names, https URLs, the deployment’s own region listed, distinct tags', () => {
  const problems = (env: Record<string, string>) => {
    try {
      loadConfig({ CUSTODIAN_DATA_DIR: '/tmp/x', ...env })
      return ''
    } catch (error) {
      return String((error as Error).message)
    }
  }
  assert.equal(problems({ CUSTODIAN_REGION: 'eu', CUSTODIAN_REGIONS: DIRECTORY }), '')
  assert.equal(problems({ CUSTODIAN_REGION: 'eu' }), '', 'a region without a directory of others')
  assert.match(problems({ CUSTODIAN_REGION: 'EU' }), /CUSTODIAN_REGION: a region name/)
  assert.match(problems({ CUSTODIAN_REGIONS: DIRECTORY }), /CUSTODIAN_REGIONS: only with CUSTODIAN_REGION/)
  assert.match(
    problems({ CUSTODIAN_REGION: 'eu', CUSTODIAN_REGIONS: 'us=https://us.custodian.test' }),
    /must list this deployment’s region eu/,
  )
  assert.match(
    problems({ CUSTODIAN_REGION: 'eu', CUSTODIAN_REGIONS: 'eu=http://eu.custodian.test' }),
    /eu: the URL must be https/,
  )
  assert.match(problems({ CUSTODIAN_REGION: 'eu', CUSTODIAN_REGIONS: 'eu' }), /expected eu=https/)
  assert.match(
    problems({ CUSTODIAN_REGION: 'eu', CUSTODIAN_REGIONS: `${DIRECTORY},eu=https://x.test` }),
    /eu is listed twice/,
  )
})

it('P8.2 an admin command naming (--org) an org of another region is refused before it opens anything', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'custodian-residency-cli-'))
  for (const args of [
    ['audit', 'verify', '--org', mintRegionOrgId('us')],
    ['keys', 'status', '--org', mintRegionOrgId('us')],
  ]) {
    const run = await runToExit(['bin/custodian.js', ...args], {
      CUSTODIAN_DATA_DIR: dir,
      CUSTODIAN_REGION: 'eu',
      CUSTODIAN_REGIONS: DIRECTORY,
    })
    assert.equal(run.code, 1, run.output)
    assert.match(run.output, /REGION_MISDIRECTED: this org belongs to the us region.*https:\/\/us\.custodian\.test/)
  }
  assert.deepEqual(readdirSync(dir), [], 'nothing created in the data directory')
})

forEachEngine('data residency: one deployment per region, each with its own database (P8.2)', (engine) => {
  const cells: { region: 'eu' | 'us'; db: TestDatabase; t: TestApp; f: Fixture; keys: BackupKeys }[] = []
  const cell = (region: 'eu' | 'us') => cells.find((c) => c.region === region) as (typeof cells)[number]
  const other = (region: 'eu' | 'us') => cell(region === 'eu' ? 'us' : 'eu')

  before(async () => {
    for (const region of ['eu', 'us'] as const) {
      const db = await createTestDatabase(engine)
      const rootKey = randomBytes(32)
      const keys: BackupKeys = {
        signer: ed25519FromSeed(deriveKey(rootKey, 'audit-signing-v1')),
        hmacKey: deriveKey(rootKey, 'audit-hmac-v1'),
        rootKey: createLocalProvider(rootKey),
      }
      const t = await startTestApp(
        engine,
        db,
        { ...ENV, CUSTODIAN_REGION: region },
        undefined,
        undefined,
        undefined,
        rootKey,
      )
      const f = await buildRouteFixture(t)
      const viewer = await t.request({
        method: 'POST',
        url: `/v1/orgs/${f.a.orgId}/audit/viewer-tokens`,
        token: f.a.ownerToken,
        body: { origin: 'https://app.a.test', ttlSeconds: 900 },
      })
      assert.equal(viewer.status, 201, viewer.text)
      f.aViewer = viewer.body.token
      f.aViewerToken = viewer.body.id
      cells.push({ region, db, t, f, keys })
    }
  })
  after(async () => {
    for (const c of cells) {
      await c.t.app.close()
      await c.db.close()
    }
  })

  const orgsOf = (f: Fixture) => [f.provider.orgId, f.a.orgId, f.b.orgId]
  const tokenFor = (f: Fixture, access: string) =>
    access === 'public'
      ? undefined
      : access === 'viewer'
        ? f.aViewer
        : PROVIDER_ONLY.has(access as Permission)
          ? f.provider.ownerToken
          : f.a.ownerToken
  // Routes that end what later routes need (the caller's token, session or vault) run last.
  const ENDING = (r: (typeof ROUTES)[number]) =>
    r.method === 'DELETE' || /\/(logout|seal|offboarding|revoke)\b/.test(r.path) ? 1 : 0
  const ordered = [...ROUTES].sort((x, y) => ENDING(x) - ENDING(y))

  it('P8.2 pins every org to the region of the deployment that created it: its row, its id, its view, the operators’ list', async () => {
    for (const c of cells) {
      const rows = await c.db.kysely.selectFrom('orgs').select(['id', 'region']).execute()
      assert.deepEqual(new Set(rows.map((r) => r.id)), new Set(orgsOf(c.f)))
      for (const row of rows) {
        assert.equal(row.region, c.region)
        assert.equal(tagOfOrgId(row.id), regionTag(c.region), `${row.id} names ${c.region}`)
      }
      const org = await c.t.request({ method: 'GET', url: `/v1/orgs/${c.f.a.orgId}`, token: c.f.a.ownerToken })
      assert.equal(org.body.region, c.region)
      const listed = await c.t.request({ method: 'GET', url: '/v1/operator/orgs', token: c.f.provider.ownerToken })
      assert.equal(listed.status, 200, listed.text)
      assert.deepEqual(
        listed.body.orgs.map((o: { region: string }) => o.region),
        [c.region, c.region, c.region],
      )
      // The live check the compliance report carries for P8.2.
      await c.t.app.services.compliance.evaluate(c.f.provider.orgId, 'schedule')
      const check = (await c.t.app.services.compliance.results(c.f.provider.orgId)).find(
        (r) => r.check === 'p8.2/residency',
      )
      assert.equal(check?.verdict, 'pass', JSON.stringify(check))
      assert.deepEqual(check.evidence, {
        engine,
        region: c.region,
        regions: ['eu', 'us'],
        orgs: 3,
        pinnedHere: 3,
      })
    }
  })

  it('P8.2 refuses every route that names an org of another region with 421 and its region’s URL, before any credential, changing nothing, recorded with a digest of the id', async () => {
    for (const c of cells) {
      const there = other(c.region)
      const named = ROUTES.filter((r) => r.path.includes('{orgId}'))
      assert.ok(named.length > 100, `${named.length} routes name an org`)
      const before = await fingerprint(c.t)
      let sent = 0
      for (const [i, route] of named.entries()) {
        // The other region's org, through this deployment's URL (its own credential, or none).
        const own = route.url(c.f)
        const url = own
          .replace(c.f.a.orgId, there.f.a.orgId)
          .replace(c.f.b.orgId, there.f.b.orgId)
          .replace(c.f.provider.orgId, there.f.provider.orgId)
        assert.notEqual(url, own, `${route.method} ${route.path} names one of the fixture's orgs`)
        for (const token of [tokenFor(c.f, route.access), undefined]) {
          const response = await c.t.request({
            method: route.method,
            url,
            token,
            ...(route.body === undefined ? {} : { body: route.body(c.f) }),
            remoteAddress: `10.8.${i}.${token === undefined ? 1 : 2}`,
          })
          const label = `${route.method} ${route.path} ${token === undefined ? 'without' : 'with'} credentials`
          assert.equal(response.status, 421, `${label}: ${response.text}`)
          assert.match(String(response.headers['content-type']), /^application\/problem\+json/)
          assert.equal(response.body.code, 'REGION_MISDIRECTED', label)
          assert.equal(response.body.region, there.region, label)
          assert.equal(response.body.regionUrl, `https://${there.region}.custodian.test`, label)
          sent++
        }
      }
      // A body naming an org of another region (a request for access) is refused the same way.
      const bodyRoutes = ROUTES.filter((r) => r.body !== undefined && 'orgId' in (r.body(c.f) as object))
      assert.ok(bodyRoutes.length > 0, 'some route takes an orgId in its body')
      for (const [i, route] of bodyRoutes.entries()) {
        const response = await c.t.request({
          method: route.method,
          url: route.url(c.f),
          token: tokenFor(c.f, route.access),
          body: { ...route.body?.(c.f), orgId: there.f.b.orgId },
          remoteAddress: `10.9.${i}.1`,
        })
        assert.equal(response.status, 421, `${route.method} ${route.path} (body orgId): ${response.text}`)
        sent++
      }
      // Nothing changed but the provider's log, where each refusal is recorded.
      assert.equal(await fingerprint(c.t), before)
      await c.t.app.sequencer.flush()
      const refusals = await c.db.kysely
        .selectFrom('audit_events')
        .select(['org_id', 'details', 'actor_type'])
        .where('action', '=', 'access.denied')
        .where(sql<boolean>`details->>'code' = 'REGION_MISDIRECTED'`)
        .execute()
      assert.equal(refusals.length, sent)
      for (const r of refusals) {
        assert.equal(r.org_id, c.f.provider.orgId, 'recorded in the provider’s log')
        const details = r.details as { requestedRegion: string; requestedOrgDigest: string }
        assert.equal(details.requestedRegion, there.region)
        assert.ok(
          orgsOf(there.f).map(orgIdDigest).includes(details.requestedOrgDigest),
          'the digest of the org asked for',
        )
      }
    }
  })

  it('P8.2 a backup of one region is refused by another region’s deployment: up front by its manifest’s org ids, and in the restored copy for ids that name no region', async () => {
    const { db, keys } = cell('us')
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-residency-'))
    const file = path.join(dir, 'us.cbk')
    await createBackup({ database: db, databaseUrl: db.url }, keys, { file })
    const postgresUrl = engine === 'postgres' ? process.env.TEST_DATABASE_URL : undefined
    let checked = false
    await assert.rejects(
      verifyBackup(file, { ...keys, region: 'eu' }, { postgresUrl, onChecked: () => void (checked = true) }),
      (error: unknown) => {
        assert.ok(error instanceof BackupRefusedError)
        assert.equal(error.code, 'BACKUP_REGION_MISMATCH')
        assert.match(error.message, /holds 3 orgs of another region .*this deployment serves eu/)
        return true
      },
    )
    assert.equal(checked, false, 'refused before anything was decrypted into a database')
    await assert.rejects(
      restoreBackup(
        file,
        { ...keys, region: 'eu' },
        { databaseUrl: undefined, dataDir: path.join(dir, 'target') },
        { force: true, onChecked: () => void (checked = true) },
      ),
      /BACKUP_REGION_MISMATCH|holds 3 orgs of another region/,
    )
    assert.equal(checked, false)
    const report = await verifyBackup(file, { ...keys, region: 'us' }, { postgresUrl })
    assert.deepEqual(report.figures.problems, [])
  })

  it('P8.2 a backup whose org ids name no region is checked in its restored copy: an org pinned elsewhere fails it', async () => {
    const db = await createTestDatabase(engine)
    try {
      const { keys } = cell('us')
      // An org from before the ids named their region, pinned to us since.
      await db.kysely
        .insertInto('orgs')
        .values({ id: randomUUID(), kind: 'customer', name: 'Legacy of us', region: 'us' })
        .execute()
      const file = path.join(mkdtempSync(path.join(tmpdir(), 'custodian-residency-')), 'legacy.cbk')
      await createBackup({ database: db, databaseUrl: db.url }, keys, { file })
      const postgresUrl = engine === 'postgres' ? process.env.TEST_DATABASE_URL : undefined
      await assert.rejects(verifyBackup(file, { ...keys, region: 'eu' }, { postgresUrl }), (error: unknown) => {
        assert.ok(error instanceof BackupVerificationError)
        assert.match(error.figures.problems.join(' '), /holds orgs of another region .*: us.*this deployment serves eu/)
        return true
      })
    } finally {
      await db.close()
    }
  })

  it('P8.2 an org never moves: a request to change its region, or to create one of another region, is refused and recorded; the database refuses the UPDATE', async () => {
    const { t, f, db } = cell('eu')
    const moved = await t.request({
      method: 'PATCH',
      url: `/v1/orgs/${f.a.orgId}`,
      token: f.a.ownerToken,
      body: { region: 'us' },
    })
    assert.equal(moved.status, 409, moved.text)
    assert.equal(moved.body.code, 'ORG_REGION_PINNED')
    const same = await t.request({
      method: 'PATCH',
      url: `/v1/orgs/${f.a.orgId}`,
      token: f.a.ownerToken,
      body: { region: 'eu' },
    })
    assert.equal(same.status, 200, same.text)
    const created = await t.request({
      method: 'POST',
      url: '/v1/orgs',
      token: f.provider.ownerToken,
      body: { name: 'Elsewhere', ownerEmail: 'owner@elsewhere.test', region: 'us' },
    })
    assert.equal(created.status, 409, created.text)
    assert.equal(created.body.code, 'ORG_REGION_PINNED')
    assert.match(created.body.detail, /https:\/\/us\.custodian\.test/)
    const here = await t.request({
      method: 'POST',
      url: '/v1/orgs',
      token: f.provider.ownerToken,
      body: { name: 'Here', ownerEmail: 'owner@here.test', region: 'eu' },
    })
    assert.equal(here.status, 201, here.text)
    assert.equal(here.body.org.region, 'eu')
    assert.equal(tagOfOrgId(here.body.org.id), regionTag('eu'))
    const refused = await db.kysely
      .selectFrom('audit_events')
      .select(['org_id', 'details'])
      .where('action', '=', 'org.region_refused')
      .orderBy('id')
      .execute()
    assert.deepEqual(
      refused.map((r) => [r.org_id, (r.details as { requestedRegion: string }).requestedRegion]),
      [
        [f.a.orgId, 'us'],
        [f.provider.orgId, 'us'],
      ],
    )
    await assert.rejects(
      sql`UPDATE orgs SET region = 'us' WHERE id = ${f.b.orgId}`.execute(db.kysely),
      /pinned to region eu/,
    )
    assert.equal(
      (await db.kysely.selectFrom('orgs').select('region').where('id', '=', f.b.orgId).executeTakeFirstOrThrow())
        .region,
      'eu',
    )
  })

  it('P8.2 after every route ran in both regions, no row of an org exists in the other region’s database (every table, every column)', async () => {
    for (const c of cells) {
      for (const route of ordered) {
        const response = await c.t.request({
          method: route.method,
          url: route.url(c.f),
          token: tokenFor(c.f, route.access),
          ...(route.body === undefined ? {} : { body: route.body(c.f) }),
        })
        assert.notEqual(response.status, 500, `${route.method} ${route.path}: ${response.text}`)
      }
      await c.t.app.sequencer.flush()
    }
    for (const c of cells) {
      const foreign = orgsOf(other(c.region).f)
      // Its own orgs: the fixture's and those the run created (POST /v1/orgs), each pinned here.
      const rows = await c.db.kysely.selectFrom('orgs').select(['id', 'region']).execute()
      for (const row of rows) assert.equal(row.region, c.region, `${row.id} is pinned to ${c.region}`)
      const own = new Set(rows.map((r) => r.id))
      assert.ok(orgsOf(c.f).every((id) => own.has(id)))
      const tables = await tablesOf(c.db)
      assert.ok(tables.length > 80, `${tables.length} tables`)
      for (const { table, orgColumns } of tables) {
        // Each row as text: uuid, text and jsonb columns show an id as is; bytea as hex, without dashes.
        const patterns = foreign.flatMap((id) => [`%${id}%`, `%${id.replaceAll('-', '')}%`])
        const hits = await sql<{ n: number }>`
          SELECT count(*)::int AS n FROM ${sql.table(table)} AS r WHERE r::text ILIKE ANY (${sql.val(patterns)}::text[])`.execute(
          c.db.kysely,
        )
        assert.equal(hits.rows[0]?.n, 0, `${c.region}: ${table} holds nothing of the other region’s orgs`)
        for (const column of orgColumns) {
          const values = await sql<{ v: string | null }>`
            SELECT DISTINCT ${sql.ref(column)}::text AS v FROM ${sql.table(table)}`.execute(c.db.kysely)
          for (const { v } of values.rows)
            if (v !== null) assert.ok(own.has(v), `${c.region}: ${table}.${column} = ${v} is an org of this region`)
        }
      }
    }
  })

  it('P8.2 a deployment does not start on a database holding an org of another region, and pins orgs created before residency', async () => {
    const db = await createTestDatabase(engine)
    try {
      const legacy = randomUUID()
      await db.kysely.insertInto('orgs').values({ id: legacy, kind: 'customer', name: 'Legacy' }).execute()
      // The first start with a region pins the org and records it in the org's own log.
      const started = await startTestApp(engine, db, { ...ENV, CUSTODIAN_REGION: 'eu' })
      await started.app.close()
      assert.equal(
        (await db.kysely.selectFrom('orgs').select('region').where('id', '=', legacy).executeTakeFirstOrThrow()).region,
        'eu',
      )
      const pinnedEvents = await db.kysely
        .selectFrom('audit_events')
        .select(['org_id', 'actor_type', 'details'])
        .where('action', '=', 'org.region_pinned')
        .execute()
      assert.deepEqual(
        pinnedEvents.map((e) => [e.org_id, e.actor_type, (e.details as { region: string }).region]),
        [[legacy, 'system', 'eu']],
      )
      assert.equal(await pinOrgs(db.kysely, 'eu'), 0, 'pinned once')
      // Residency is never turned off by leaving CUSTODIAN_REGION out.
      await assert.rejects(startTestApp(engine, db, { CUSTODIAN_AUTH_RATE_LIMIT: '1000' }), (error: unknown) => {
        assert.ok(error instanceof ResidencyError)
        assert.match(error.message, /pinned to a region .*: eu\) but no region is configured .*Set CUSTODIAN_REGION/)
        return true
      })
      // A backup of the us region restored into this database by hand: the eu deployment refuses to start on it.
      await db.kysely
        .insertInto('orgs')
        .values({ id: mintRegionOrgId('us'), kind: 'customer', name: 'Restored here by mistake', region: 'us' })
        .execute()
      await assert.rejects(startTestApp(engine, db, { ...ENV, CUSTODIAN_REGION: 'eu' }), (error: unknown) => {
        assert.ok(error instanceof ResidencyError)
        assert.match(error.message, /holds org of another region .*: us\) but this deployment serves eu/)
        assert.match(error.message, /If CUSTODIAN_REGION is wrong/)
        return true
      })
      // The admin CLI's commands that open the database (src/cli/context.ts) make the same check.
      await assert.rejects(
        assertResident(db.kysely, 'eu'),
        /holds org of another region .*: us\) but this deployment serves eu/,
      )
      // The legacy org is pinned to eu: for a us deployment that one is another region's.
      await assert.rejects(assertResident(db.kysely, 'us'), /: eu\b.*but this deployment serves us/)
    } finally {
      await db.close()
    }
  })
})

/** Every table of the schema, with its columns that hold an org's id. */
async function tablesOf(db: TestDatabase): Promise<{ table: string; orgColumns: string[] }[]> {
  const rows = await sql<{ table_name: string; column_name: string | null }>`
    SELECT t.table_name, c.column_name
      FROM information_schema.tables t
      LEFT JOIN information_schema.columns c
        ON c.table_schema = t.table_schema AND c.table_name = t.table_name
       AND (c.column_name = 'org_id' OR c.column_name LIKE '%\\_org\\_id' OR (t.table_name = 'orgs' AND c.column_name = 'id'))
     WHERE t.table_schema = 'public' AND t.table_type = 'BASE TABLE'
     ORDER BY t.table_name`.execute(db.kysely)
  const tables = new Map<string, string[]>()
  for (const r of rows.rows) {
    const columns = tables.get(r.table_name) ?? []
    if (r.column_name !== null) columns.push(r.column_name)
    tables.set(r.table_name, columns)
  }
  return [...tables].map(([table, orgColumns]) => ({ table, orgColumns }))
}
