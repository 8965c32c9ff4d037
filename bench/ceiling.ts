// The same-run ceiling for `npm run bench -- requests`: a bare Fastify handler over the same
// HTTPS as Custodian (its certificate and TLS settings) doing one prepared INSERT per request
// into its own table, on the database named by argv[3], in its own process. What an audited
// request could cost at best with this stack: one round trip, one planned-once statement,
// one durable commit (autocommit), no authentication, no audit.
import Fastify from 'fastify'
import pg from 'pg'
import { loadOrCreateCertificate, httpsOptions } from '../src/http/tls.ts'

const dataDir = process.argv[2] as string
const databaseUrl = process.argv[3] as string
const pool = new pg.Pool({ connectionString: databaseUrl, max: 20 })
await pool.query(
  'CREATE TABLE IF NOT EXISTS ceiling_events (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(), body text NOT NULL)',
)
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
await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`Listening: https://127.0.0.1:${(app.server.address() as { port: number }).port}\n`)
process.on('SIGTERM', () => {
  void app.close().then(() => pool.end())
})
