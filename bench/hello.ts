// Baseline for `npm run bench`: a bare Fastify hello-world with the same TLS settings as
// Custodian, in its own process, so the ratio measures what Custodian adds.
import Fastify from 'fastify'
import { loadOrCreateCertificate, httpsOptions } from '../src/http/tls.ts'

const dataDir = process.argv[2] as string
const tls = await loadOrCreateCertificate({
  dataDir,
  tls: { certFile: undefined, keyFile: undefined, minVersion: 'TLSv1.2' },
})
const app = Fastify({ logger: false, https: httpsOptions(tls, 'TLSv1.2') })
app.get('/', async () => ({ hello: 'world' }))
await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`Listening: https://127.0.0.1:${(app.server.address() as { port: number }).port}\n`)
