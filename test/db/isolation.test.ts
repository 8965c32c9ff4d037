import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { before, it } from 'node:test'
import { sql } from 'kysely'
import { withOrg } from '../../src/db/tenant.ts'
import { forEachEngine, useDatabase } from '../helpers/db.ts'

/** P2.1: tenant isolation is enforced by PostgreSQL itself, under the application. */
forEachEngine('tenant isolation in the database (P2.1)', (engine) => {
  const database = useDatabase(engine)
  const orgA = randomUUID()
  const orgB = randomUUID()
  const userA = randomUUID()
  const userB = randomUUID()

  before(async () => {
    const k = database().kysely
    await k
      .insertInto('orgs')
      .values([
        { id: orgA, kind: 'provider', name: 'A' },
        { id: orgB, kind: 'customer', name: 'B' },
      ])
      .execute()
    await k
      .insertInto('users')
      .values([
        { id: userA, email: 'a@a.test', password_hash: 'x', last_login_at: null },
        { id: userB, email: 'b@b.test', password_hash: 'y', last_login_at: null },
      ])
      .execute()
    await k
      .insertInto('memberships')
      .values([
        { org_id: orgA, user_id: userA, role: 'owner' },
        { org_id: orgB, user_id: userB, role: 'owner' },
      ])
      .execute()
    await k
      .insertInto('service_accounts')
      .values([
        { id: randomUUID(), org_id: orgA, name: 'app', role: 'admin' },
        { id: randomUUID(), org_id: orgB, name: 'app', role: 'admin' },
      ])
      .execute()
    await k
      .insertInto('custom_roles')
      .values([
        { org_id: orgA, name: 'ra', permissions: ['org:read'] },
        { org_id: orgB, name: 'rb', permissions: ['org:read'] },
      ])
      .execute()
  })

  const db = {
    get kysely() {
      return database().kysely
    },
  }

  it('a query with no org filter sees only its own org’s rows, in every tenant table', async () => {
    const queries = {
      orgs: sql<{ owner: string }>`SELECT id AS owner FROM orgs`,
      memberships: sql<{ owner: string }>`SELECT org_id AS owner FROM memberships`,
      service_accounts: sql<{ owner: string }>`SELECT org_id AS owner FROM service_accounts`,
      custom_roles: sql<{ owner: string }>`SELECT org_id AS owner FROM custom_roles`,
    }
    for (const [table, query] of Object.entries(queries)) {
      const rows = await withOrg(db.kysely, orgA, (trx) => query.execute(trx))
      assert.ok(rows.rows.length >= 1, `${table}: own rows visible`)
      assert.deepEqual(new Set(rows.rows.map((r) => r.owner)), new Set([orgA]), `${table}: another org's row leaked`)
    }
    const users = await withOrg(db.kysely, orgA, (trx) => sql<{ id: string }>`SELECT id FROM users`.execute(trx))
    assert.deepEqual(
      users.rows.map((r) => r.id),
      [userA],
      'users: only members of the current org',
    )
  })

  it('runs as the non-owner role, so row-level security cannot be bypassed', async () => {
    const result = await withOrg(db.kysely, orgA, (trx) =>
      sql<{ role: string; bypass: boolean; superuser: boolean }>`
      SELECT current_user AS role, r.rolbypassrls AS bypass, r.rolsuper AS superuser FROM pg_roles r WHERE r.rolname = current_user`.execute(
        trx,
      ),
    )
    assert.deepEqual(result.rows[0], { role: 'custodian_app', bypass: false, superuser: false })
  })

  it('refuses to write a row into another org', async () => {
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) =>
        trx
          .insertInto('service_accounts')
          .values({ id: randomUUID(), org_id: orgB, name: 'sneaky', role: 'admin' })
          .execute(),
      ),
      /row-level security/,
    )
  })

  it('cannot update or delete another org’s rows even without a WHERE', async () => {
    await withOrg(db.kysely, orgA, (trx) => sql`UPDATE service_accounts SET role = 'viewer'`.execute(trx))
    await withOrg(db.kysely, orgA, (trx) => sql`DELETE FROM custom_roles`.execute(trx))
    const b = await db.kysely
      .selectFrom('service_accounts')
      .select('role')
      .where('org_id', '=', orgB)
      .executeTakeFirstOrThrow()
    assert.equal(b.role, 'admin')
    const rolesB = await db.kysely.selectFrom('custom_roles').selectAll().where('org_id', '=', orgB).execute()
    assert.equal(rolesB.length, 1)
  })

  it('sees nothing when no org is set', async () => {
    const rows = await db.kysely.transaction().execute(async (trx) => {
      await sql`SELECT set_config('role', 'custodian_app', true)`.execute(trx)
      return sql`SELECT * FROM service_accounts`.execute(trx)
    })
    assert.equal(rows.rows.length, 0)
  })

  it('cannot read password hashes or bootstrap tokens at all', async () => {
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) => sql`SELECT password_hash FROM users`.execute(trx)),
      /permission denied/,
    )
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) => sql`SELECT * FROM bootstrap_tokens`.execute(trx)),
      /permission denied/,
    )
  })

  it('can append audit events for its own org but never change or remove one', async () => {
    await withOrg(db.kysely, orgA, (trx) =>
      trx
        .insertInto('audit_events')
        .values({
          org_id: orgA,
          event_id: randomUUID(),
          occurred_at: new Date(),
          actor_type: 'system',
          actor_id: null,
          action: 'test',
          target_type: null,
          target_id: null,
          outcome: 'success',
          ip: null,
          user_agent: null,
          request_id: null,
          details: '{}',
        })
        .execute(),
    )
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) => sql`UPDATE audit_events SET action = 'x'`.execute(trx)),
      /permission denied/,
    )
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) => sql`DELETE FROM audit_events`.execute(trx)),
      /permission denied/,
    )
    // The chain beside the events (migration 0023) is the sequencer's alone; the app may
    // only queue its own events and read its own chain.
    for (const statement of [
      sql`UPDATE audit_chain SET hash = decode('00', 'hex')`,
      sql`DELETE FROM audit_chain`,
      sql`INSERT INTO audit_chain (org_id, seq, id, prev_hash, hash) VALUES (${orgA}, 1, 1, decode('00', 'hex'), decode('00', 'hex'))`,
      sql`DELETE FROM audit_unchained`,
      sql`UPDATE audit_unchained SET id = 0`,
    ])
      await assert.rejects(
        withOrg(db.kysely, orgA, (trx) => statement.execute(trx)),
        /permission denied/,
      )
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) =>
        sql`INSERT INTO audit_unchained (org_id, id) SELECT ${orgB}::uuid, max(id) FROM audit_events`.execute(trx),
      ),
      /row-level security/,
    )
    await assert.rejects(
      withOrg(db.kysely, orgA, (trx) =>
        trx
          .insertInto('audit_events')
          .values({
            org_id: orgB,
            event_id: randomUUID(),
            occurred_at: new Date(),
            actor_type: 'system',
            actor_id: null,
            action: 'forged',
            target_type: null,
            target_id: null,
            outcome: 'success',
            ip: null,
            user_agent: null,
            request_id: null,
            details: '{}',
          })
          .execute(),
      ),
      /row-level security/,
    )
  })
})
