/**
 * A real OpenID provider (panva/oidc-provider, OpenID-certified) run as its own process
 * for the SSO tests, over HTTPS with a self-signed certificate.
 *
 * Test-only behaviour, and nothing else:
 * - The login and consent pages are skipped: the account is the `login_hint` the relying
 *   party sent (see subjectOf), and consent is granted for the requested scopes.
 * - Some clients get a tampered ID token from the token endpoint, to exercise the
 *   relying party's validation with a token the provider really issued: `wrong-aud`
 *   (re-signed with the provider's own key for another audience), `expired` (re-signed
 *   with an expiry in the past) and `bad-sig` (signature bytes altered).
 *
 * Input (environment): OIDC_TLS_CERT, OIDC_TLS_KEY (PEM), OIDC_JWK (private RSA JWK with
 * kid), OIDC_REDIRECT_URI. Prints `OIDC listening <issuer>` when ready.
 */
import { createHash } from 'node:crypto'
import { createServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import { CompactSign, decodeJwt, importJWK, type JWK } from 'jose'
import Provider from 'oidc-provider'

const jwk = JSON.parse(process.env.OIDC_JWK as string) as JWK & { kid: string }
const redirectUri = process.env.OIDC_REDIRECT_URI as string
const server = createServer({ cert: process.env.OIDC_TLS_CERT, key: process.env.OIDC_TLS_KEY })
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const issuer = `https://localhost:${(server.address() as AddressInfo).port}`

/**
 * Accounts: the login hint is `email` or `email#n`; the subject is derived from the whole
 * hint, as stable as a real provider's, and `#n` gives another account (another subject)
 * holding the same address — an address reassigned at the provider.
 */
const emails = new Map<string, string>()
const subjectOf = (hint: string) => {
  const sub = createHash('sha256').update(hint).digest('hex').slice(0, 24)
  emails.set(sub, hint.split('#')[0] as string)
  return sub
}

const TAMPERED = ['wrong-aud', 'expired', 'bad-sig'] as const
const clients = ['good', 'other', ...TAMPERED].map((id) => ({
  client_id: id,
  client_secret: `${id}-secret-value`,
  redirect_uris: [redirectUri],
  grant_types: ['authorization_code'],
  response_types: ['code' as const],
  token_endpoint_auth_method: 'client_secret_post' as const,
}))

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [jwk] },
  cookies: { keys: ['test-cookie-key-not-a-secret'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'] },
  // Put the scope's claims (email) in the ID token itself, as Google and Microsoft do.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: { devInteractions: { enabled: false } },
  async findAccount(_ctx, id) {
    const email = emails.get(id)
    if (email === undefined) return undefined
    return {
      accountId: id,
      // An address starting "unverified" is not verified.
      async claims() {
        return { sub: id, email, email_verified: !email.startsWith('unverified') }
      },
    }
  },
})

const privateKey = await importJWK(jwk, 'RS256')

async function resign(idToken: string, change: (claims: Record<string, unknown>) => void): Promise<string> {
  const claims = decodeJwt(idToken) as Record<string, unknown>
  change(claims)
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader({ alg: 'RS256', kid: jwk.kid })
    .sign(privateKey)
}

provider.use(async (ctx, next) => {
  if (ctx.path.startsWith('/interaction/')) {
    const details = await provider.interactionDetails(ctx.req, ctx.res)
    const accountId = subjectOf(typeof details.params.login_hint === 'string' ? details.params.login_hint : '')
    let result: Record<string, unknown>
    if (details.prompt.name === 'login') {
      result = { login: { accountId } }
    } else {
      const grant = new provider.Grant({
        accountId: details.session?.accountId ?? accountId,
        clientId: String(details.params.client_id),
      })
      grant.addOIDCScope(String(details.params.scope))
      result = { consent: { grantId: await grant.save() } }
    }
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false }))
    return
  }
  await next()
  const clientId = (ctx as unknown as { oidc?: { client?: { clientId: string } } }).oidc?.client?.clientId
  const body = ctx.body as { id_token?: string } | undefined
  if (
    ctx.path === '/token' &&
    ctx.status === 200 &&
    body?.id_token !== undefined &&
    (TAMPERED as readonly string[]).includes(clientId ?? '')
  ) {
    if (clientId === 'wrong-aud') body.id_token = await resign(body.id_token, (c) => (c.aud = 'someone-else'))
    if (clientId === 'expired')
      body.id_token = await resign(body.id_token, (c) => {
        c.iat = Math.floor(Date.now() / 1000) - 7200
        c.exp = Math.floor(Date.now() / 1000) - 3600
      })
    if (clientId === 'bad-sig') {
      const [header, payload, signature] = body.id_token.split('.') as [string, string, string]
      body.id_token = `${header}.${payload}.${signature.startsWith('A') ? 'B' : 'A'}${signature.slice(1)}`
    }
  }
})

const handle = provider.callback()
// Koa answers its own errors: the promise of a handled request has nothing left to report.
server.on('request', (req, res) => void handle(req, res))
process.stdout.write(`OIDC listening ${issuer}\n`)
// Stopping does not wait for a client's kept-alive (or stalled) connection: close() alone would.
process.on('SIGTERM', () => {
  server.close(() => process.exit(0))
  server.closeAllConnections()
})
