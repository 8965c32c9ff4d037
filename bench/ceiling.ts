// The same-run ceiling and floors for `npm run bench -- requests`: bare Fastify handlers over
// the same HTTPS as Custodian (its certificate and TLS settings), on the database named by
// argv[3], in their own process. No authentication, no routing beyond Fastify's, no audit
// chain: what the database work of a request costs on this stack and this machine.
//
// - `POST /`: one prepared INSERT per request (autocommit): one round trip, one planned-once
//   statement, one durable commit. What an audited request could cost at best.
// - `GET /read`: an authenticated read's transaction shape (docs/benchmarks.md): BEGIN and a
//   prepared statement setting two transaction-local settings, sent with the transaction's
//   first statement (src/db/prepared.ts, `OPENS_TRANSACTION`, as the service does), that
//   statement a prepared SELECT of one row under a row-level security policy reading the
//   setting; then COMMIT: two round trips.
// - `POST /write`: an audited write's (and a reveal's) shape: the same opening sent with one
//   prepared INSERT of the change, then its event's prepared INSERT sent with COMMIT in one
//   submission (`WITH_COMMIT`, as the service does): two round trips, one durable commit. The
//   connections are wrapped as the service's are (prepareStatements).
import { randomUUID } from 'node:crypto'
import Fastify from 'fastify'
import pg from 'pg'
import { OPENS_TRANSACTION, prepareStatements, WITH_COMMIT } from '../src/db/prepared.ts'
import { loadOrCreateCertificate, httpsOptions } from '../src/http/tls.ts'

const dataDir = process.argv[2] as string
const databaseUrl = process.argv[3] as string
const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 })
pool.on('connect', (client) => prepareStatements(client, 100))
await pool.query(`
  CREATE TABLE IF NOT EXISTS ceiling_events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), body text NOT NULL);
  CREATE TABLE IF NOT EXISTS floor_orgs (id uuid PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS floor_accounts (id uuid PRIMARY KEY, org_id uuid NOT NULL, name text NOT NULL, created_at timestamptz NOT NULL DEFAULT now());
  CREATE TABLE IF NOT EXISTS floor_events (id bigserial PRIMARY KEY, org_id uuid NOT NULL, at timestamptz NOT NULL DEFAULT now(), action text NOT NULL, details jsonb NOT NULL);
  ALTER TABLE floor_orgs ENABLE ROW LEVEL SECURITY;
  ALTER TABLE floor_orgs FORCE ROW LEVEL SECURITY;
  DROP POLICY IF EXISTS floor_tenant ON floor_orgs;
  CREATE POLICY floor_tenant ON floor_orgs USING (id = current_setting('floor.org_id', true)::uuid);
`)
const orgId = randomUUID()
await pool.query('INSERT INTO floor_orgs (id, name) VALUES ($1, $2)', [orgId, 'Bench'])
const opening = `${OPENS_TRANSACTION}SELECT set_config('floor.org_id', $1, true), set_config('floor.actor', 'bench', true)`

/** Runs `work` between the opening and COMMIT on one pooled connection (ROLLBACK on error). */
async function transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query(opening, [orgId])
    const result = await work(client)
    await client.query('COMMIT')
    return result
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined)
    throw error
  } finally {
    client.release()
  }
}

const tls = await loadOrCreateCertificate({
  dataDir,
  tls: { certFile: undefined, keyFile: undefined, minVersion: 'TLSv1.2' },
})
const app = Fastify({ logger: false, https: httpsOptions(tls, 'TLSv1.2') })
app.post('/', async (request) => {
  const result = await pool.query<{ id: string }>({
    name: 'ceiling_insert',
    text: 'INSERT INTO ceiling_events (body) VALUES ($1) RETURNING id',
    values: [JSON.stringify(request.body)],
  })
  return { id: result.rows[0]?.id }
})
app.get('/read', async () =>
  transaction(async (client) => {
    // A text with values, as Kysely sends it: named by the connection's wrapper.
    const result = await client.query('SELECT id, name, created_at FROM floor_orgs WHERE id = $1', [orgId])
    return result.rows[0]
  }),
)
app.post('/write', async (request, reply) => {
  const row = await transaction(async (client) => {
    const created = await client.query(
      'INSERT INTO floor_accounts (id, org_id, name) VALUES ($1, $2, $3) RETURNING *',
      [randomUUID(), orgId, (request.body as { name?: string }).name ?? 'x'],
    )
    await client.query(`${WITH_COMMIT}INSERT INTO floor_events (org_id, action, details) VALUES ($1, $2, $3)`, [
      orgId,
      'account.create',
      JSON.stringify(request.body),
    ])
    return created.rows[0]
  })
  return reply.code(201).send(row)
})
await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`Listening: https://127.0.0.1:${(app.server.address() as { port: number }).port}\n`)
process.on('SIGTERM', () => {
  void app.close().then(() => pool.end())
})
