/**
 * `new Custodian({ url, token, ca })`: the SDK's entry point. One client per token; it
 * keeps one connection pool (closed by `close()`, which first sends the audit events
 * still buffered and answers those it could not).
 */
import createClient from 'openapi-fetch'
import type { paths } from './api.gen.ts'
import { createAudit, type Audit } from './audit.ts'
import type { CloseResult, RecorderOptions } from './audit-recorder.ts'
import { createConsent, type Consent, type ConsentCacheOptions } from './consent.ts'
import { data, isUuid, type Context } from './context.ts'
import { CustodianError } from './errors.ts'
import { createGrants, type Grants } from './grants.ts'
import { createPrivacy, type Privacy } from './privacy.ts'
import { createRecords, type Records } from './records.ts'
import { createSecrets, type Secrets } from './secrets.ts'
import { createServiceAccounts, type ServiceAccounts } from './service-accounts.ts'
import { createTransit, type Transit } from './transit.ts'
import { Transport, type RetryOptions } from './transport.ts'

export type Me = paths['/v1/me']['get']['responses'][200]['content']['application/json']

export interface CustodianOptions {
  /** The service's base URL, e.g. `https://custodian.internal:8443`. HTTPS only. */
  url: string
  /** An API token (a service account's, for an application). Never logged, never in an error. */
  token: string
  /**
   * The CA (PEM) that signed the service's certificate — or, for a self-signed one, the
   * certificate itself. Given, it is the only one this client trusts; absent, Node's
   * bundled roots are.
   */
  ca?: string | Buffer | readonly (string | Buffer)[]
  /** The org the calls are about (default: the token's own org, asked once from GET /v1/me). */
  orgId?: string
  /** The reason reveals are audited with when a call gives none (at least 3 characters). */
  reason?: string
  /** Retries of 429 and 503 (honouring Retry-After) and refused connections; `false`: none. */
  retry?: RetryOptions | false
  /** Per attempt, until the answer's headers (default 30 000 ms). */
  timeoutMs?: number
  /** The User-Agent header (default `@custodian/client`). */
  userAgent?: string
  /** How `audit.record` batches and buffers. */
  audit?: RecorderOptions
  /** How long `consent.check` keeps decisions (never longer than their decision token); `false`: not at all. */
  consentCache?: ConsentCacheOptions | false
}

export class Custodian {
  readonly secrets: Secrets
  readonly transit: Transit
  readonly records: Records
  readonly privacy: Privacy
  readonly grants: Grants
  readonly serviceAccounts: ServiceAccounts
  readonly audit: Audit
  readonly consent: Consent
  readonly #transport: Transport
  readonly #close: (options?: { timeoutMs?: number }) => Promise<CloseResult>
  readonly #api: ReturnType<typeof createClient<paths>>
  #orgId: Promise<string> | undefined

  constructor(options: CustodianOptions) {
    if (options.orgId !== undefined && !isUuid(options.orgId))
      throw new CustodianError('INVALID_ARGUMENT', 'orgId: an org id (UUID)')
    this.#transport = new Transport(options)
    this.#api = createClient<paths>({
      baseUrl: this.#transport.origin,
      fetch: this.#transport.fetch,
    })
    if (options.orgId !== undefined) this.#orgId = Promise.resolve(options.orgId)
    const ctx: Context = {
      api: this.#api,
      transport: this.#transport,
      orgId: () => this.orgId(),
      defaultReason: options.reason,
    }
    this.secrets = createSecrets(ctx)
    this.transit = createTransit(ctx)
    this.records = createRecords(ctx)
    this.privacy = createPrivacy(ctx)
    this.grants = createGrants(ctx)
    this.serviceAccounts = createServiceAccounts(ctx)
    this.consent = createConsent(ctx, options.consentCache)
    const audit = createAudit(ctx, options.audit)
    this.audit = audit
    this.#close = (closeOptions) => audit.close(closeOptions)
  }

  /** Who the token belongs to, its org and what it may do. */
  async me(): Promise<Me> {
    return data(this.#api.GET('/v1/me'))
  }

  /** Revokes this client's own token (POST /v1/logout): every later use of it is refused. */
  async revokeToken(): Promise<void> {
    await data(this.#api.POST('/v1/logout'))
  }

  /** The org the calls are about. */
  async orgId(): Promise<string> {
    this.#orgId ??= this.me().then(
      (me) => me.orgId,
      (error: unknown) => {
        this.#orgId = undefined
        throw error
      },
    )
    return this.#orgId
  }

  /**
   * Sends the buffered audit events (for up to `timeoutMs`, default 10 s), then closes the
   * connections. Answers every audit event that did not reach Custodian, with why.
   */
  async close(options: { timeoutMs?: number } = {}): Promise<CloseResult> {
    const result = await this.#close(options)
    await this.#transport.close()
    return result
  }
}
