/**
 * The container's health check (Dockerfile HEALTHCHECK): `node scripts/healthcheck.ts`
 * asks the service on this host for `GET /readyz` and exits 0 when it answers 200, 1
 * otherwise (not ready, no answer within 4 s, nothing listening). Node built-ins only: the
 * runtime image has no curl.
 *
 * It reads the service's own configuration from the environment it shares with it:
 * CUSTODIAN_HTTPS_PORT (default 8443) and CUSTODIAN_HOST (a wildcard address means
 * loopback). The certificate is not verified: this asks "is it ready?" of the process next
 * to it, on loopback, and sends nothing secret.
 */
import { request } from 'node:https'

const port = Number(process.env.CUSTODIAN_HTTPS_PORT ?? '8443')
const configured = process.env.CUSTODIAN_HOST
const host =
  configured === undefined || configured === '' || configured === '0.0.0.0' || configured === '::'
    ? '127.0.0.1'
    : configured

const req = request({ host, port, method: 'GET', path: '/readyz', rejectUnauthorized: false, timeout: 4000 }, (res) => {
  let body = ''
  res.on('data', (chunk: Buffer) => (body += chunk.toString()))
  res.on('end', () => {
    process.stdout.write(`${res.statusCode ?? 0} ${body}\n`)
    process.exit(res.statusCode === 200 ? 0 : 1)
  })
})
req.on('timeout', () => req.destroy(new Error('no answer within 4 s')))
req.on('error', (error) => {
  process.stdout.write(`unhealthy: ${error.message}\n`)
  process.exit(1)
})
req.end()
