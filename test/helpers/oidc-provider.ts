import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { request } from 'node:https'
import path from 'node:path'
import { generate } from 'selfsigned'

/** A running OpenID provider process (see oidc-provider-process.ts). */
export interface OidcProvider {
  issuer: string
  /** The provider's TLS certificate (PEM), written to `caFile` for the relying party. */
  caFile: string
  ca: string
  stop(): Promise<void>
  /**
   * Plays the browser at the provider: follows the authorization URL through the
   * (automatic) login and consent until the provider redirects to the relying party, and
   * returns that redirect URL (the callback with code and state).
   */
  authorize(authorizationUrl: string): Promise<URL>
}

export async function startOidcProvider(options: { redirectUri: string; dir: string }): Promise<OidcProvider> {
  const tls = await generate(
    [{ name: 'commonName', value: `localhost test ${process.pid}-${Math.random().toString(36).slice(2)}` }],
    {
      keySize: 2048,
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    } as never,
  )
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), alg: 'RS256', use: 'sig' }
  const caFile = path.join(options.dir, 'oidc-ca.pem')
  writeFileSync(caFile, tls.cert)

  const child: ChildProcess = spawn(process.execPath, [path.join(import.meta.dirname, 'oidc-provider-process.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      OIDC_TLS_CERT: tls.cert,
      OIDC_TLS_KEY: tls.private,
      OIDC_JWK: JSON.stringify(jwk),
      OIDC_REDIRECT_URI: options.redirectUri,
      NODE_ENV: 'test',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const issuer = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`OIDC provider did not start:\n${output}`)), 30_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /OIDC listening (\S+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve(match[1] as string)
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.once('exit', (code) => reject(new Error(`OIDC provider exited with ${code}:\n${output}`)))
  })

  const get = (url: URL, jar: Map<string, string>) =>
    new Promise<{ status: number; location: string | undefined; body: string }>((resolve, reject) => {
      const req = request(
        url,
        { method: 'GET', ca: tls.cert, headers: { cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; ') } },
        (res) => {
          for (const line of res.headers['set-cookie'] ?? []) {
            const [pair] = line.split(';')
            const at = (pair as string).indexOf('=')
            jar.set((pair as string).slice(0, at), (pair as string).slice(at + 1))
          }
          let body = ''
          res.on('data', (c: Buffer) => (body += c.toString()))
          res.on('end', () => resolve({ status: res.statusCode ?? 0, location: res.headers.location, body }))
        },
      )
      req.on('error', reject)
      req.end()
    })

  return {
    issuer,
    caFile,
    ca: tls.cert,
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      // Never left waiting: killed outright if it has not exited 5 s after SIGTERM.
      const kill = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(kill)
    },
    async authorize(authorizationUrl) {
      // A fresh browser each time: no provider session carries over between sign-ins.
      const jar = new Map<string, string>()
      let url = new URL(authorizationUrl)
      for (let hop = 0; hop < 10; hop++) {
        if (url.origin !== issuer) return url
        const response = await get(url, jar)
        if (response.location === undefined)
          throw new Error(`the provider answered ${response.status} without a redirect: ${response.body.slice(0, 500)}`)
        url = new URL(response.location, url)
      }
      throw new Error('too many redirects at the provider')
    },
  }
}
