/**
 * Consent (P7.7, docs/consent.md): record what a data subject said, check before
 * processing (one or a batch) with a short local cache, withdraw in one step, and mint a
 * link to the hosted preference page.
 *
 * The cache keeps a decision no longer than its decision token says (`exp`, counted from
 * when the request was sent, on this machine's clock, and never past `tokenExpiresAt` as this
 * machine reads it), no longer than `ttlMs`, and an allowed answer never past the consent's
 * own `expiresAt`. Recording or withdrawing through the same client forgets the subject's
 * cached decisions at once — also those of checks still in flight — so a withdrawal made
 * here is never answered from the cache as allowed. A change made elsewhere (the hosted
 * page, another process) reaches this client when the cached decision expires: at most the
 * token's lifetime (5 minutes), or `ttlMs` if shorter.
 */
import type { paths } from './api.gen.ts'
import { check, data, type Context } from './context.ts'

type CheckPost = paths['/v1/orgs/{orgId}/consent/check']['post']
type CheckAnswer = CheckPost['responses'][200]['content']['application/json']
/** One decision: `allowed`, the basis, the reason, the deciding event, and the signed decision token. */
export type ConsentDecision = Extract<CheckAnswer, { allowed: boolean }>
type EventsPost = paths['/v1/orgs/{orgId}/consent/events']['post']
/** A consent event as `consent.record` sends it (docs/consent.md#recording-an-event). */
export type ConsentEventInput = EventsPost['requestBody']['content']['application/json']
/** The event as recorded (or the earlier one, for a retry: `status: 'duplicate'`) and the events a GPC signal recorded. */
export type ConsentRecordResult = EventsPost['responses'][201]['content']['application/json']
type WithdrawPost = paths['/v1/orgs/{orgId}/consent/withdraw']['post']
export type ConsentWithdrawInput = WithdrawPost['requestBody']['content']['application/json']
export type ConsentWithdrawResult = WithdrawPost['responses'][201]['content']['application/json']
type LinkPost = paths['/v1/orgs/{orgId}/consent/page-links']['post']
/** A link to the hosted preference page: `url` opens once, before `expiresAt`. */
export type PreferencePageLink = LinkPost['responses'][201]['content']['application/json']

/** What to check: may `purpose` be processed for `subject` now? */
export interface ConsentCheck {
  subject: string
  purpose: string
}

export interface ConsentCacheOptions {
  /** The longest a decision is kept, in milliseconds (default 30 000); never longer than its token. */
  ttlMs?: number
  /** The most decisions kept (default 10 000); the oldest is forgotten first. */
  maxEntries?: number
}

export interface Consent {
  /**
   * Records a consent event; `gpc: true` forwards the subject's `Sec-GPC: 1` (each
   * purpose's GPC effect is applied and recorded, method `gpc`). Idempotent by `event.id`.
   * Forgets the subject's cached decisions.
   */
  record(event: ConsentEventInput, options?: { gpc?: boolean }): Promise<ConsentRecordResult>
  /** One decision, from the cache while its token lasts, else from the service. */
  check(item: ConsentCheck): Promise<ConsentDecision>
  /** A decision per item, in order: cached ones from the cache, the rest in batches of 100. */
  check(items: readonly ConsentCheck[]): Promise<ConsentDecision[]>
  /** Withdraws consent to each purpose in one step; forgets the subject's cached decisions first. */
  withdraw(request: ConsentWithdrawInput): Promise<ConsentWithdrawResult>
  /**
   * A link to the hosted preference page for `subject` (the signed-in user of the host
   * application), to redirect that user's browser to. It opens once, within `ttlSeconds`
   * (60–900, default 300). Needs `consent:record`.
   */
  pageLink(subject: string, options?: { ttlSeconds?: number }): Promise<PreferencePageLink>
  /**
   * The reference by which the consent recipient `recipientId`'s messages name `subject`
   * (their `subject` field): hand it to that recipient with the data you share, so that it
   * can match later messages. The subject id goes in the body, never a URL. Needs
   * `consent:read`; NOT_FOUND for a recipient not of the org.
   */
  subjectReference(recipientId: string, subject: string): Promise<string>
  /** Forgets the cached decisions of `subject`, or all of them. */
  forget(subject?: string): void
}

interface Cached {
  decision: ConsentDecision
  /** Local epoch milliseconds after which it is not served. */
  until: number
}

const BATCH = 100

/** `exp - iat` of a decision token, in seconds, or undefined when it cannot be read. */
function tokenLifetime(token: string): number | undefined {
  const payload = token.split('.')[1]
  if (payload === undefined) return undefined
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { iat?: unknown; exp?: unknown }
    return typeof claims.iat === 'number' && typeof claims.exp === 'number' ? claims.exp - claims.iat : undefined
  } catch {
    return undefined
  }
}

/** How long a decision may be served from the cache: local epoch ms (`sentAt` or earlier: not at all). */
export function cacheUntil(decision: ConsentDecision, sentAt: number, ttlMs: number): number {
  const lifetime = tokenLifetime(decision.token)
  if (lifetime === undefined) return sentAt
  const bounds = [sentAt + lifetime * 1000, Date.parse(decision.tokenExpiresAt), sentAt + ttlMs]
  if (decision.allowed && decision.expiresAt !== null) bounds.push(Date.parse(decision.expiresAt))
  const until = Math.min(...bounds)
  return Number.isNaN(until) ? sentAt : until
}

export function createConsent(ctx: Context, options: ConsentCacheOptions | false = {}): Consent {
  const { api } = ctx
  const ttlMs = options === false ? 0 : Math.max(0, options.ttlMs ?? 30_000)
  const maxEntries = options === false ? 0 : Math.max(0, options.maxEntries ?? 10_000)
  /** subject → purpose → decision; a Map keeps insertion order, so the first key is the oldest. */
  const cache = new Map<string, Map<string, Cached>>()
  let size = 0
  /** Bumped for a subject whenever its cache is forgotten: an answer to an older request is not cached. */
  const generations = new Map<string, number>()
  const generation = (subject: string) => generations.get(subject) ?? 0

  function forget(subject?: string): void {
    if (subject === undefined) {
      for (const s of cache.keys()) generations.set(s, generation(s) + 1)
      cache.clear()
      size = 0
      return
    }
    generations.set(subject, generation(subject) + 1)
    size -= cache.get(subject)?.size ?? 0
    cache.delete(subject)
  }

  function cached(item: ConsentCheck, now: number): ConsentDecision | undefined {
    const entry = cache.get(item.subject)?.get(item.purpose)
    if (entry === undefined) return undefined
    if (entry.until > now) return entry.decision
    cache.get(item.subject)?.delete(item.purpose)
    size--
    return undefined
  }

  function keep(item: ConsentCheck, decision: ConsentDecision, sentAt: number, sentGeneration: number): void {
    if (maxEntries === 0 || sentGeneration !== generation(item.subject)) return
    const until = cacheUntil(decision, sentAt, ttlMs)
    if (until <= Date.now()) return
    let purposes = cache.get(item.subject)
    if (purposes === undefined) {
      purposes = new Map()
      cache.set(item.subject, purposes)
    }
    if (!purposes.has(item.purpose)) size++
    purposes.set(item.purpose, { decision, until })
    while (size > maxEntries) {
      const [oldestSubject, oldest] = cache.entries().next().value as [string, Map<string, Cached>]
      const first = oldest.keys().next().value
      if (first !== undefined) oldest.delete(first)
      if (oldest.size === 0) cache.delete(oldestSubject)
      size--
    }
  }

  async function ask(items: readonly ConsentCheck[]): Promise<ConsentDecision[]> {
    const orgId = await ctx.orgId()
    const sentAt = Date.now()
    const sentGenerations = items.map((item) => generation(item.subject))
    let decisions: ConsentDecision[]
    if (items.length === 1) {
      const [item] = items as [ConsentCheck]
      const answer = await data(
        api.POST('/v1/orgs/{orgId}/consent/check', {
          params: { path: { orgId } },
          body: { subject: item.subject, purpose: item.purpose },
        }),
      )
      decisions = ['decisions' in answer ? answer.decisions : [answer]].flat()
    } else {
      const answer = await data(
        api.POST('/v1/orgs/{orgId}/consent/check', {
          params: { path: { orgId } },
          body: { checks: items.map((i) => ({ subject: i.subject, purpose: i.purpose })) },
        }),
      )
      decisions = 'decisions' in answer ? answer.decisions : [answer]
    }
    items.forEach((item, i) => {
      const decision = decisions[i]
      if (decision !== undefined) keep(item, decision, sentAt, sentGenerations[i] ?? -1)
    })
    return decisions
  }

  function validItem(value: unknown, where: string): void {
    const item = typeof value === 'object' && value !== null ? (value as Partial<ConsentCheck>) : {}
    check(
      typeof item.subject === 'string' && item.subject.length > 0,
      `${where}.subject: the host application's id of the data subject`,
    )
    check(typeof item.purpose === 'string' && item.purpose.length > 0, `${where}.purpose: a purpose key`)
  }

  async function checkMany(items: readonly ConsentCheck[]): Promise<ConsentDecision[]> {
    items.forEach((item, i) => validItem(item, `items[${i}]`))
    const now = Date.now()
    const out: (ConsentDecision | undefined)[] = items.map((item) => cached(item, now))
    const missing = items.map((item, i) => ({ item, i })).filter(({ i }) => out[i] === undefined)
    for (let start = 0; start < missing.length; start += BATCH) {
      const chunk = missing.slice(start, start + BATCH)
      const decisions = await ask(chunk.map((m) => m.item))
      chunk.forEach((m, j) => {
        out[m.i] = decisions[j]
      })
    }
    return out as ConsentDecision[]
  }

  return {
    async record(event, recordOptions = {}) {
      const orgId = await ctx.orgId()
      forget(event.subject)
      try {
        return await data(
          api.POST('/v1/orgs/{orgId}/consent/events', {
            params: { path: { orgId }, ...(recordOptions.gpc === true ? { header: { 'sec-gpc': '1' } } : {}) },
            body: event,
          }),
        )
      } finally {
        // A check that started while this was in flight may have seen the state before it.
        forget(event.subject)
      }
    },

    check: (async (input: ConsentCheck | readonly ConsentCheck[]) => {
      if (Array.isArray(input)) return checkMany(input)
      const [decision] = await checkMany([input as ConsentCheck])
      return decision
    }) as Consent['check'],

    async withdraw(request) {
      const orgId = await ctx.orgId()
      forget(request.subject)
      try {
        return await data(api.POST('/v1/orgs/{orgId}/consent/withdraw', { params: { path: { orgId } }, body: request }))
      } finally {
        forget(request.subject)
      }
    },

    async subjectReference(recipientId, subject) {
      check(typeof subject === 'string' && subject.length > 0, "subject: the host application's id of the data subject")
      const orgId = await ctx.orgId()
      const answered = await data(
        api.POST('/v1/orgs/{orgId}/consent/recipients/{recipientId}/subject-references', {
          params: { path: { orgId, recipientId } },
          body: { subjectId: subject },
        }),
      )
      return answered.reference
    },

    async pageLink(subject, linkOptions = {}) {
      check(typeof subject === 'string' && subject.length > 0, "subject: the host application's id of its user")
      const orgId = await ctx.orgId()
      return data(
        api.POST('/v1/orgs/{orgId}/consent/page-links', {
          params: { path: { orgId } },
          body: { subject, ttlSeconds: linkOptions.ttlSeconds ?? 300 },
        }),
      )
    },

    forget,
  }
}
