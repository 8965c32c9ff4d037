/**
 * The SDK's one way onto the network: undici's fetch through an Agent of its own (a custom
 * CA trusts exactly what the caller names, for this client only: nothing global such as
 * NODE_TLS_REJECT_UNAUTHORIZED is ever touched), the bearer token added here and nowhere
 * else, retries of 429 and 503, and every non-2xx answer turned into a CustodianError.
 *
 * Retrying is safe on exactly those answers: the API performs nothing it answers 429 or 503
 * to (docs/errors.md: "the action was not performed"), and a refused connection sent
 * nothing. An answer that never came (reset, timeout) is not retried here, since the
 * request may have been performed; callers whose requests are idempotent by design (the
 * audit recorder's event ids) retry those themselves.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { Agent, Headers as UndiciHeaders, fetch as undiciFetch, type Dispatcher } from 'undici'
import { CustodianError, problemError } from './errors.ts'

export interface RetryOptions {
  /** Attempts in all, the first included (default 4). */
  attempts?: number
  /** First backoff, doubled at each retry, with jitter (default 250 ms). */
  baseDelayMs?: number
  /**
   * The longest single wait (default 10 s). A Retry-After longer than this is not waited
   * for: the error is thrown with its `retryAfter`, for the caller to decide.
   */
  maxDelayMs?: number
}

export interface TransportOptions {
  url: string
  token: string
  ca?: string | Buffer | readonly (string | Buffer)[] | undefined
  retry?: RetryOptions | false | undefined
  /** Per attempt, until the answer's headers (default 30 s). */
  timeoutMs?: number | undefined
  userAgent?: string | undefined
}

/** What RFC 6750 allows in a bearer token (b64token), as the service issues them. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/

export class Transport {
  readonly origin: string
  readonly #token: string
  readonly #agent: Dispatcher
  readonly #retry: Required<RetryOptions>
  readonly #timeoutMs: number
  readonly #userAgent: string
  #closed = false

  constructor(options: TransportOptions) {
    let url: URL
    try {
      url = new URL(options.url)
    } catch {
      throw new CustodianError('INVALID_ARGUMENT', 'url: not a URL (e.g. https://custodian.example.com)')
    }
    if (url.protocol !== 'https:')
      throw new CustodianError('INVALID_ARGUMENT', 'url: Custodian is reached over HTTPS only (P4.3)')
    // The token's value is never part of a message, even this one.
    if (typeof options.token !== 'string' || options.token.length > 512 || !TOKEN.test(options.token))
      throw new CustodianError('INVALID_ARGUMENT', 'token: not an API token (letters, digits and -._~+/ only)')
    this.origin = url.origin
    this.#token = options.token
    const given = options.ca
    const ca = given === undefined || typeof given === 'string' || Buffer.isBuffer(given) ? given : [...given]
    this.#agent = new Agent({
      connect: {
        ...(ca === undefined ? {} : { ca }),
        minVersion: 'TLSv1.2',
      },
    })
    const retry = options.retry === false ? { attempts: 1 } : (options.retry ?? {})
    this.#retry = {
      attempts: Math.max(1, retry.attempts ?? 4),
      baseDelayMs: retry.baseDelayMs ?? 250,
      maxDelayMs: retry.maxDelayMs ?? 10_000,
    }
    this.#timeoutMs = options.timeoutMs ?? 30_000
    this.#userAgent = options.userAgent ?? '@custodian/client'
  }

  /**
   * Sends `request` (retrying 429/503 and refused connections) and answers the 2xx
   * response; anything else throws a CustodianError. The shape openapi-fetch's `fetch`
   * option takes.
   */
  readonly fetch = async (request: Request): Promise<Response> => {
    if (this.#closed) throw new CustodianError('CLIENT_CLOSED', 'this client was closed')
    const url = new URL(request.url)
    if (url.origin !== this.origin) throw new CustodianError('INVALID_ARGUMENT', 'a request outside the client’s url')
    const body = request.body === null ? undefined : await request.arrayBuffer()
    const headers = new UndiciHeaders()
    request.headers.forEach((value, name) => headers.set(name, value))
    headers.set('authorization', `Bearer ${this.#token}`)
    headers.set('user-agent', this.#userAgent)
    for (let attempt = 1; ; attempt++) {
      let response: Response
      try {
        // undici's own fetch and Response differ from the global types openapi-fetch works with.
        // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-assertion
        response = (await undiciFetch(url, {
          method: request.method,
          headers,
          ...(body === undefined ? {} : { body }),
          dispatcher: this.#agent,
          signal: AbortSignal.timeout(this.#timeoutMs),
          redirect: 'manual',
        })) as unknown as Response
      } catch (error) {
        const failure = connectionError(error, this.origin, this.#timeoutMs)
        if (failure.refused && attempt < this.#retry.attempts) {
          await sleep(this.#backoff(attempt))
          continue
        }
        throw failure.error
      }
      if (response.ok) return response
      const retryAfter = retryAfterSeconds(response.headers.get('retry-after'))
      if ((response.status === 429 || response.status === 503) && attempt < this.#retry.attempts) {
        const wait = retryAfter === undefined ? this.#backoff(attempt) : retryAfter * 1000
        if (wait <= this.#retry.maxDelayMs) {
          await response.body?.cancel()
          await sleep(wait)
          continue
        }
      }
      throw await errorOf(response, retryAfter, this.#token)
    }
  }

  /** Exponential backoff with jitter: base·2^(n-1), between half and all of it, capped. */
  #backoff(attempt: number): number {
    const full = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1))
    return full / 2 + Math.random() * (full / 2)
  }

  /** Closes the connections; later calls throw CLIENT_CLOSED. */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await this.#agent.close()
  }
}

/**
 * The error of a non-2xx answer. The service never echoes a credential (docs/errors.md);
 * should anything answering at that address do so, the token is cut out before the text
 * can reach a message.
 */
async function errorOf(response: Response, retryAfter: number | undefined, token: string): Promise<CustodianError> {
  const type = response.headers.get('content-type') ?? ''
  let body: unknown
  if (/json/i.test(type)) {
    const text = await response.text().catch(() => '')
    const redacted = text.replaceAll(token, '[redacted]').replaceAll(token.replaceAll('/', '\\/'), '[redacted]')
    try {
      body = JSON.parse(redacted)
    } catch {
      body = undefined
    }
  } else await response.body?.cancel()
  return problemError(response.status, body, retryAfter)
}

/** Seconds from a Retry-After header: delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
export function retryAfterSeconds(header: string | null): number | undefined {
  if (header === null) return undefined
  if (/^\d+$/.test(header.trim())) return Number(header.trim())
  const at = Date.parse(header)
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - Date.now()) / 1000))
}

/**
 * A CustodianError for a request that got no answer. Its cause keeps only the system's
 * error code and message (e.g. ECONNREFUSED, DEPTH_ZERO_SELF_SIGNED_CERT), never undici's
 * error objects, which could reference the request.
 */
function connectionError(
  error: unknown,
  origin: string,
  timeoutMs: number,
): { error: CustodianError; refused: boolean } {
  let root: unknown = error
  while (root instanceof Error && root.cause instanceof Error) root = root.cause
  const name = root instanceof Error ? root.name : ''
  if (name === 'TimeoutError' || name === 'AbortError')
    return {
      error: new CustodianError('TIMEOUT', `no answer from ${origin} within ${timeoutMs} ms`),
      refused: false,
    }
  const code = root instanceof Error ? (root as NodeJS.ErrnoException).code : undefined
  const message = root instanceof Error ? root.message : String(root)
  const cause = Object.assign(new Error(message), code === undefined ? {} : { code })
  const tls = code !== undefined && /CERT|SSL|TLS|SIGNATURE|ISSUER/.test(code)
  return {
    error: new CustodianError(
      'CONNECTION_FAILED',
      tls
        ? `the TLS certificate of ${origin} is not trusted (${code}): give its CA as \`ca\``
        : `could not reach ${origin} (${code ?? message})`,
      { cause },
    ),
    refused: code === 'ECONNREFUSED',
  }
}
