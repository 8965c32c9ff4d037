import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import type { Logger } from 'pino'
import { acceptOnlyWellFormedJson, setValidators, type createModules } from '../app.ts'
import type { Config } from '../config.ts'
import type { RootKeyProvider } from '../crypto/providers/provider.ts'
import { AppError } from '../errors.ts'
import { vaultCompatRoutes } from '../modules/vault/vault-compat.routes.ts'
import { vaultKvRoutes } from '../modules/vault/vault-compat.kv.routes.ts'
import { registerAccessControl } from './access-control.ts'
import { listenerOptions, logEachRequestOnce, refuseWhileClosing, type ListenerTls } from './server-options.ts'
import { registerInputGuards } from './input.ts'

/**
 * The Vault-compatible listener (docs/vault-compat.md): a second Fastify instance on its own
 * port, on the very modules the main listener serves — one state, one transit service, one
 * audit chain. It registers the same access-control point, reading the API token from
 * `X-Vault-Token` (never a session) and the org from `X-Vault-Namespace` when sent, so every
 * call is authorized, refused, audited and failed closed exactly as on the native API.
 */
export async function buildVaultListener(deps: {
  config: Pick<Config, 'bodyLimitBytes' | 'trustedProxies'>
  logger: Logger
  modules: ReturnType<typeof createModules>
  rootKey: Pick<RootKeyProvider, 'sealed'>
  /** The database engine, reported as Vault's `storage_type`. */
  engine: string
  /** TLS: the main listener's certificate. Absent only in tests that use inject(). */
  https?: ListenerTls
}): Promise<FastifyInstance> {
  const { config, modules } = deps
  const app = Fastify({
    ...listenerOptions(config, deps.logger, deps.https),
    frameworkErrors: (_error, _request, reply) => {
      void (reply as unknown as FastifyReply).code(400).send({ errors: ['the URL is not valid percent-encoded UTF-8'] })
    },
    clientErrorHandler: vaultClientError,
  })
  logEachRequestOnce(app)
  setValidators(app)
  acceptOnlyWellFormedJson(app)
  refuseWhileClosing(app)
  registerAccessControl(app, {
    auth: modules.identity.auth,
    audit: modules.audit.service,
    grants: modules.governance.grants,
    usage: modules.governance.usage,
    rollback: modules.audit.rollback,
    residency: modules.residency,
    credential: 'x-vault-token',
    requestedOrg: namespaceOf,
  })
  registerInputGuards(app)
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ errors: [`no handler for route "${request.url.split('?')[0]?.slice(0, 200) ?? ''}"`] }),
  )
  app.addHook('onSend', async (request, reply) => {
    reply.header('cache-control', 'no-store')
    reply.header('x-request-id', request.id)
  })
  await app.register(
    vaultCompatRoutes({
      transit: modules.vault.transit,
      status: async () => {
        const seal = modules.vault.seal.status()
        return {
          initialized: (await modules.identity.auth.providerOrgId()) !== undefined,
          sealed: deps.rootKey.sealed(),
          provider: seal.provider,
          threshold: seal.threshold,
          progress: seal.progress,
          storage: deps.engine,
        }
      },
    }),
  )
  await app.register(vaultKvRoutes({ kv: modules.vault.kv }))
  return app
}

/**
 * A request Node.js's HTTP parser refused, answered in Vault's shape. Vault clients send
 * `LIST` by default, a method the parser does not know (it never reaches a route): the
 * answer says to send `GET` with `?list=true`, which every Vault client can be set to do.
 */
function vaultClientError(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const [status, text, message] =
    error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'Request Timeout', 'the request took too long']
      : error.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'Request Header Fields Too Large', 'the request headers are too large']
        : error.code === 'HPE_INVALID_METHOD'
          ? [400, 'Bad Request', 'unsupported HTTP method: for LIST, send GET with ?list=true']
          : [400, 'Bad Request', 'malformed HTTP request']
  const body = JSON.stringify({ errors: [message] })
  if (socket.writable)
    socket.write(
      `HTTP/1.1 ${status} ${text}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n${body}`,
    )
  socket.destroy()
}

/** `X-Vault-Namespace` names the org to act in (its id, optionally with Vault's trailing slash). */
function namespaceOf(request: FastifyRequest): string | undefined {
  const value = request.headers['x-vault-namespace']
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw new AppError('BAD_REQUEST', 'send one X-Vault-Namespace')
  const trimmed = value.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? undefined : trimmed
}
