/**
 * The org's audit log from the host application: record its own events (batched, see
 * audit-recorder.ts), query, the chain's status, and follow new events as they are chained.
 *
 * `follow` reads the chain by position, through the C2SP tlog-tiles entry bundles the API
 * serves (docs/transparency.md): each event exactly once, in `seq` order, with no gap,
 * whatever the order in which requests committed — which paging the query newest first
 * cannot promise. An event shows once it is chained (within about a second of its commit).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { paths } from './api.gen.ts'
import {
  AuditRecorder,
  type AppEvent,
  type CloseResult,
  type FlushResult,
  type RecorderOptions,
  type RecorderStats,
} from './audit-recorder.ts'
import { data, PAGE, type Context } from './context.ts'
import { CustodianError } from './errors.ts'

type EventsPath = paths['/v1/orgs/{orgId}/audit/events']['get']
export type AuditQuery = Omit<NonNullable<EventsPath['parameters']['query']>, 'limit'> & { limit?: number }
export type AuditEventPage = EventsPath['responses'][200]['content']['application/json']
export type AuditStatus = paths['/v1/orgs/{orgId}/audit/status']['get']['responses'][200]['content']['application/json']

/** An event as chained (docs/audit-format.md): what the tamper-evident log holds. */
export interface ChainedEvent {
  v: number
  org: string
  seq: number
  id: string
  time: string
  actor: { type: string; id: string | null }
  action: string
  target: { type: string; id: string | null } | null
  outcome: string
  ip: string | null
  userAgent: string | null
  requestId: string | null
  details: Record<string, unknown>
  [field: string]: unknown
}

export interface FollowOptions {
  /** The first `seq` to yield (default: the next event chained after the call). */
  fromSeq?: number
  /** How often to ask for new events (default 1000 ms). */
  intervalMs?: number
  /** Stops following. */
  signal?: AbortSignal
}

export interface Audit {
  /** Buffers one of the application's own events for the next batch (see RecorderOptions). */
  record(event: AppEvent): Promise<void>
  /** Sends what is buffered and waits until it is settled (or `timeoutMs` passes). */
  flush(options?: { timeoutMs?: number }): Promise<FlushResult>
  /** The recorder's figures: pending, sent, refused, last error. */
  stats(): RecorderStats
  /** Events newest first, filtered, a page at a time (`cursor`: the previous page's nextCursor). */
  query(filter?: AuditQuery): Promise<AuditEventPage>
  /** Chain head, events waiting to be chained, last checkpoint, witnessing. */
  status(): Promise<AuditStatus>
  /** Yields chained events in `seq` order, from `fromSeq`, then each new one as it is chained, until `signal` aborts. */
  follow(options?: FollowOptions): AsyncGenerator<ChainedEvent>
  /** Short-lived, read-only tokens for the embedded viewer `<custodian-audit-log>` (docs/embedded-viewer.md). */
  readonly viewerTokens: ViewerTokens
}

type ViewerTokensPath = paths['/v1/orgs/{orgId}/audit/viewer-tokens']
/** What a viewer token may read: `origin` (exact web origin of the embedding page), optional `actions`, `actorId`, `ttlSeconds` (60–900, default 300). */
export type ViewerTokenRequest = Omit<
  ViewerTokensPath['post']['requestBody']['content']['application/json'],
  'ttlSeconds'
> & {
  ttlSeconds?: number
}
/** The token (shown once), its id, expiry, canonical origin and scope. */
export type IssuedViewerToken = ViewerTokensPath['post']['responses'][201]['content']['application/json']
export type ViewerTokenPage = ViewerTokensPath['get']['responses'][200]['content']['application/json']

export interface ViewerTokens {
  /** Issues one (needs `audit:viewer`, and `audit:read` and `audit:export`, which the token exercises). Audited, never with the token. */
  create(request: ViewerTokenRequest): Promise<IssuedViewerToken>
  /** The org's viewer tokens (never the token itself), a page at a time. */
  list(options?: { cursor?: string; limit?: number }): Promise<ViewerTokenPage>
  /** Revokes one at once (its next request is a 401); answers it as listed, revoked. */
  revoke(tokenId: string): Promise<ViewerTokenPage['tokens'][number]>
}

export function createAudit(
  ctx: Context,
  options: RecorderOptions = {},
): Audit & { close(options?: { timeoutMs?: number }): Promise<CloseResult> } {
  const { api } = ctx
  const recorder = new AuditRecorder(ctx.transport, () => ctx.orgId(), options)

  async function status(): Promise<AuditStatus> {
    const orgId = await ctx.orgId()
    return data(api.GET('/v1/orgs/{orgId}/audit/status', { params: { path: { orgId } } }))
  }

  async function entryBundle(orgId: string, tile: number, width: number): Promise<ChainedEvent[]> {
    const suffix = width === TILE_WIDTH ? '' : `.p/${width}`
    const response = await ctx.transport.fetch(
      new Request(`${ctx.transport.origin}/v1/orgs/${orgId}/audit/tile/entries/${tileIndexPath(tile)}${suffix}`),
    )
    return parseEntryBundle(Buffer.from(await response.arrayBuffer()))
  }

  const viewerTokens: ViewerTokens = {
    async create(request) {
      const orgId = await ctx.orgId()
      return data(
        api.POST('/v1/orgs/{orgId}/audit/viewer-tokens', {
          params: { path: { orgId } },
          body: { ...request, ttlSeconds: request.ttlSeconds ?? 300 },
        }),
      )
    },
    async list(options = {}) {
      const orgId = await ctx.orgId()
      return data(
        api.GET('/v1/orgs/{orgId}/audit/viewer-tokens', {
          params: { path: { orgId }, query: { ...options, limit: options.limit ?? PAGE } },
        }),
      )
    },
    async revoke(tokenId) {
      const orgId = await ctx.orgId()
      return data(
        api.DELETE('/v1/orgs/{orgId}/audit/viewer-tokens/{tokenId}', { params: { path: { orgId, tokenId } } }),
      )
    },
  }

  return {
    viewerTokens,
    record: (event) => recorder.record(event),
    flush: (flushOptions) => recorder.flush(flushOptions),
    stats: () => recorder.stats(),
    close: (closeOptions) => recorder.close(closeOptions),
    status,

    async query(filter = {}) {
      const orgId = await ctx.orgId()
      return data(
        api.GET('/v1/orgs/{orgId}/audit/events', {
          params: { path: { orgId }, query: { ...filter, limit: filter.limit ?? PAGE } },
        }),
      )
    },

    async *follow(followOptions = {}) {
      const orgId = await ctx.orgId()
      const interval = followOptions.intervalMs ?? 1000
      const signal = followOptions.signal
      let next = followOptions.fromSeq ?? (await status()).headSeq + 1
      if (!Number.isInteger(next) || next < 1) throw new CustodianError('INVALID_ARGUMENT', 'fromSeq: a seq, 1 or more')
      while (!stopped(signal)) {
        const size = (await status()).headSeq
        while (next <= size && !stopped(signal)) {
          // Leaf index next-1 lies in entry bundle ⌊(next-1)/256⌋, which the tree fills up to `size`.
          const tile = Math.floor((next - 1) / TILE_WIDTH)
          const width = Math.min(TILE_WIDTH, size - tile * TILE_WIDTH)
          const events = await entryBundle(orgId, tile, width)
          for (const event of events.slice(next - 1 - tile * TILE_WIDTH)) {
            yield event
            next = event.seq + 1
          }
        }
        await sleep(interval, undefined, signal === undefined ? {} : { signal }).catch(() => undefined)
      }
    },
  }
}

const TILE_WIDTH = 256

/** Read at each use: a signal's state changes while the generator runs. */
const stopped = (signal: AbortSignal | undefined): boolean => signal?.aborted === true

/**
 * A tile index as C2SP tlog-tiles spells it in a path: groups of three digits, every group
 * but the last prefixed with `x` (1234067 → x001/x234/067).
 */
export function tileIndexPath(n: number): string {
  const groups: string[] = []
  let rest = n
  do {
    groups.unshift(String(rest % 1000).padStart(3, '0'))
    rest = Math.floor(rest / 1000)
  } while (rest > 0)
  return groups.map((g, i) => (i < groups.length - 1 ? `x${g}` : g)).join('/')
}

/** The events of an entry bundle: each a big-endian uint16 length and that many bytes of JCS JSON. */
export function parseEntryBundle(bytes: Buffer): ChainedEvent[] {
  const events: ChainedEvent[] = []
  let at = 0
  while (at < bytes.length) {
    if (at + 2 > bytes.length) throw new CustodianError('UNEXPECTED_RESPONSE', 'a truncated entry bundle')
    const length = bytes.readUInt16BE(at)
    at += 2
    if (at + length > bytes.length) throw new CustodianError('UNEXPECTED_RESPONSE', 'a truncated entry bundle')
    events.push(JSON.parse(bytes.subarray(at, at + length).toString('utf8')) as ChainedEvent)
    at += length
  }
  return events
}
