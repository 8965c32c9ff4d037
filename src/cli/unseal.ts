import { existsSync, readFileSync } from 'node:fs'
import { request } from 'node:https'
import path from 'node:path'
import { createInterface } from 'node:readline'
import type { Command } from 'commander'
import { loadConfig } from '../config.ts'

/**
 * `custodian unseal`: reads unseal shares from standard input, one per line (so they stay
 * out of shell history and process lists), and submits them to a running service.
 */
export function registerUnseal(program: Command): void {
  program
    .command('unseal')
    .description('submit unseal shares (read from standard input, one per line) to a running service')
    .option('--url <url>', 'the service', '')
    .option('--ca <file>', 'CA or certificate to trust (default: the generated self-signed certificate)')
    .action(async (options: { url: string; ca?: string }) => {
      const config = loadConfig()
      const url = new URL(options.url || config.publicUrl || `https://localhost:${config.httpsPort}`)
      const caFile = options.ca ?? path.join(config.dataDir, 'tls', 'selfsigned-cert.pem')
      const ca = existsSync(caFile) ? readFileSync(caFile) : undefined
      const lines = createInterface({ input: process.stdin, terminal: false })
      let status: { sealed: boolean; progress: number; threshold: number } | undefined
      for await (const line of lines) {
        const share = line.trim()
        if (share === '') continue
        const response = await post(url, '/v1/vault/unseal', { share }, ca)
        if (response.status !== 200)
          throw new Error(`unseal refused (${response.status}): ${String(response.body.detail ?? response.body.code)}`)
        status = response.body as typeof status
        process.stdout.write(status?.sealed ? `share accepted: ${status.progress}/${status.threshold}\n` : 'unsealed\n')
        if (status?.sealed === false) break
      }
      if (status === undefined) throw new Error('no share read from standard input')
      if (status.sealed) process.exitCode = 3
    })
}

function post(
  url: URL,
  route: string,
  body: unknown,
  ca: Buffer | undefined,
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body)
    const req = request(
      {
        host: url.hostname,
        port: url.port || 443,
        path: route,
        method: 'POST',
        ca,
        servername: url.hostname,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
      },
      (res) => {
        let text = ''
        res.on('data', (c: Buffer) => (text += c.toString()))
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as Record<string, unknown> })
          } catch {
            resolve({ status: res.statusCode ?? 0, body: { detail: text.slice(0, 200) } })
          }
        })
      },
    )
    req.on('error', (error: NodeJS.ErrnoException) => reject(untrusted(error, url, ca !== undefined) ?? error))
    req.end(payload)
  })
}

/**
 * A TLS failure said in the command's own words: which option fixes it (`--ca <file>`), and
 * which certificate was tried when none was given. Any other error: undefined (kept as is).
 */
export function untrusted(error: NodeJS.ErrnoException, url: URL, caGiven: boolean): Error | undefined {
  if (error.code === undefined || !/CERT|SSL|TLS|SIGNATURE|ISSUER/.test(error.code)) return undefined
  return new Error(
    `the TLS certificate of ${url.origin} is not trusted (${error.code}): ${
      caGiven
        ? 'the certificate tried (--ca, else the data directory’s self-signed one) does not vouch for it'
        : 'no --ca given and no self-signed certificate in the data directory'
    }; give its CA (or its self-signed certificate) with --ca <file>`,
  )
}
