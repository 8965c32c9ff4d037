import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  hkdfSync,
  randomBytes,
  randomUUID,
  timingSafeEqual,
} from 'node:crypto'
import type { Kysely } from 'kysely'
import type { Clock } from '../../../clock.ts'
import { actorOf, type Principal, type RequestContext } from '../../../context.ts'
import { hashSecret, issueToken, parseToken, secretMatches } from '../../../crypto/tokens.ts'
import type { DB } from '../../../db/schema.ts'
import { withOrg } from '../../../db/tenant.ts'
import { AppError } from '../../../errors.ts'
import type { AuditService } from '../../audit/audit.service.ts'
import type { RequestMeta } from '../../audit/audit.types.ts'
import type { Subjects } from '../../privacy/subjects.ts'
import type { ConsentService } from '../consent.service.ts'
import type { ConsentEventViewT, NoticeViewT } from '../consent.types.ts'
import { CONSENT_BASES, OBJECTABLE_BASES } from '../consent.types.ts'
import * as store from './page.store.ts'
import type { OrgServedGuard } from '../../audit/rollback.service.ts'

/**
 * The hosted consent preference page (issue 22; docs/consent.md#hosted-preference-page).
 *
 * The host application's backend (`consent:record`) mints a **link** for its signed-in
 * user: one subject, one org, 60–900 seconds to open it. Its first load trades it for a
 * **page session** — a cookie (`__Host-`, HttpOnly, Secure, SameSite=Lax) — and the link is
 * dead from then on, so the link's secret is in a URL exactly once and what a proxy log or
 * the browser history keeps of it opens nothing. Only SHA-256 of either secret is stored;
 * the subject's id only sealed under a key derived from the live secret (AES-256-GCM,
 * HKDF-SHA256), so the table names nobody and only the holder of the cookie can act as the
 * subject. Forms carry a CSRF token bound to the session (HMAC of the session secret).
 *
 * What the page records goes through the consent service as any other record: events of
 * the org's audit log, by the link's issuer (the principal that minted it), with the
 * subject as actor; a grant is method `form` under the notice version the page showed, with
 * the user agent and the GPC header as sealed evidence. A link ends with its issuer's access.
 */
export interface ConsentPageService {
  /** Mints a link for `subject`, open for `ttlSeconds`; audited (`consent.page_link.issue`, never the subject or the secret). */
  mint(
    ctx: RequestContext,
    input: { subject: string; ttlSeconds: number },
  ): Promise<{ id: string; url: string; expiresAt: Date }>
  /**
   * Trades a link for a page session (once); UNAUTHENTICATED for an unknown, expired or
   * already opened link. Audited (`consent.page.open`).
   */
  open(link: string, meta: RequestMeta): Promise<{ cookie: string; expiresAt: Date }>
  /** The session a cookie stands for; UNAUTHENTICATED for anything else (unknown, expired, issuer gone). */
  session(cookie: string | undefined): Promise<PageSession>
  /** Throws CSRF_FAILED unless `token` is the session's CSRF token. */
  checkCsrf(session: PageSession, token: string | undefined): void
  /** Applies a `Sec-GPC: 1` the page saw, once per session: the events it recorded. */
  applyGpc(session: PageSession, meta: RequestMeta): Promise<ConsentEventViewT[]>
  view(session: PageSession, meta: RequestMeta): Promise<PageView>
  grant(
    session: PageSession,
    input: { purpose: string; noticeVersion: number; gpc: boolean },
    meta: RequestMeta,
  ): Promise<ConsentEventViewT>
  withdraw(session: PageSession, input: { purpose: string }, meta: RequestMeta): Promise<ConsentEventViewT>
  /**
   * Records the subject's objection (Art. 21) to a purpose: against direct marketing it
   * takes effect at once; otherwise it opens a review due within one month, and the purpose
   * is not processed meanwhile. Throws CONSENT_BASIS_MISMATCH (409) for a purpose one cannot
   * object to, CONFLICT (409) while an objection waits for a decision.
   */
  object(session: PageSession, input: { purpose: string }, meta: RequestMeta): Promise<ConsentEventViewT>
  /** The receipt of one of the subject's events; NOT_FOUND for any other event. */
  receipt(session: PageSession, eventId: string): Promise<unknown>
}

/**
 * Where the page gets a receipt for an event: the module gives it the signed consent
 * receipt (Kantara / ISO/IEC TS 27560 fields, with the inclusion proof of its audit event;
 * consent.receipts.ts), which answers CONSENT_RECEIPT_PENDING until a checkpoint covers it.
 */
export interface ConsentReceipts {
  /** What the page calls the receipt (its link text and file name). */
  kind: string
  forEvent(orgId: string, eventId: string): Promise<unknown>
}

export interface PageSession {
  linkId: string
  orgId: string
  orgName: string
  subject: string
  expiresAt: Date
  csrf: string
  gpcApplied: boolean
  ctx: (meta: RequestMeta) => RequestContext
}

export interface PagePurpose {
  key: string
  name: string
  description: string
  lawfulBasis: string
  dataCategories: string[]
  recipients: string[]
  directMarketing: boolean
  gpcEffect: string
  consentBased: boolean
  /** The subject may object here (Art. 21): legitimate interests, a public task, or direct marketing. */
  objectable: boolean
  allowed: boolean
  reason: string
  /** The notice version a grant on this page is recorded under (the newest covering the purpose), if any. */
  grantNotice: number | null
  expiresAt: string | null
  history: PageEvent[]
}

export interface PageEvent {
  id: string
  purpose: string
  action: string
  method: string
  noticeVersion: number | null
  collectedAt: string
  gpcConflict: boolean
}

export interface PageView {
  orgName: string
  expiresAt: Date
  notices: NoticeViewT[]
  purposes: PagePurpose[]
  receiptKind: string
}

/** Link lifetime bounds, seconds: the time to open it. */
export const PAGE_LINK_TTL = { min: 60, max: 900, default: 300 } as const
/** How long a page session lasts after the link is opened, seconds. */
export const PAGE_SESSION_SECONDS = 1800
/** How many of the subject's events the page shows. */
const HISTORY_LIMIT = 200
const INFO = 'custodian consent page subject'

function keyOf(secret: string, linkId: string): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), Buffer.from(linkId, 'utf8'), INFO, 32))
}

/** AES-256-GCM: nonce (12) ‖ ciphertext ‖ tag (16), the link id as associated data. */
function sealSubject(subject: string, secret: string, linkId: string): Buffer {
  const nonce = randomBytes(12)
  const cipher = createCipheriv('aes-256-gcm', keyOf(secret, linkId), nonce)
  cipher.setAAD(Buffer.from(linkId, 'utf8'))
  const body = Buffer.concat([cipher.update(subject, 'utf8'), cipher.final()])
  return Buffer.concat([nonce, body, cipher.getAuthTag()])
}

function openSubject(sealed: Buffer, secret: string, linkId: string): string | undefined {
  try {
    const decipher = createDecipheriv('aes-256-gcm', keyOf(secret, linkId), sealed.subarray(0, 12))
    decipher.setAAD(Buffer.from(linkId, 'utf8'))
    decipher.setAuthTag(sealed.subarray(sealed.length - 16))
    return Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]).toString('utf8')
  } catch {
    return undefined
  }
}

function csrfOf(secret: string, linkId: string): string {
  return createHmac('sha256', Buffer.from(secret, 'utf8'))
    .update(`custodian consent page csrf\0${linkId}`)
    .digest('base64url')
}

const unauthenticated = () =>
  new AppError('UNAUTHENTICATED', 'this preference page link is not valid: open the page again from the application')

export function createConsentPageService(deps: {
  db: Kysely<DB>
  consent: ConsentService
  subjects: Pick<Subjects, 'ref'>
  audit: Pick<AuditService, 'append'>
  receipts: ConsentReceipts
  clock: Clock
  /** Custodian's public base URL: where the links point. */
  publicUrl: string
  /** Rollback detection (P8.1): a link or a page session of a refused org opens nothing. */
  served: Pick<OrgServedGuard, 'assertServed'>
}): ConsentPageService {
  const { db, consent, subjects, audit, clock } = deps

  return {
    async mint(ctx, input) {
      const issued = issueToken('cst_cpl')
      const secret = parseToken('cst_cpl', issued.token)?.secret
      if (secret === undefined) throw new Error('an issued link does not parse')
      const now = clock()
      const expiresAt = new Date(now.getTime() + input.ttlSeconds * 1000)
      const actor = actorOf(ctx.principal)
      await withOrg(db, ctx.orgId, async (trx) => {
        await store.insertLink(trx, {
          id: issued.id,
          org_id: ctx.orgId,
          subject_ref: subjects.ref(ctx.orgId, input.subject),
          subject_sealed: sealSubject(input.subject, secret, issued.id),
          link_hash: issued.secretHash,
          session_hash: null,
          created_by_type: actor.type,
          created_by_id: actor.id,
          created_at: now,
          expires_at: expiresAt,
          opened_at: null,
          session_expires_at: null,
          gpc_applied_at: null,
        })
        await audit.append(trx, {
          orgId: ctx.orgId,
          actor,
          action: 'consent.page_link.issue',
          target: { type: 'consent_page_link', id: issued.id },
          outcome: 'success',
          details: { expiresAt: expiresAt.toISOString() },
          meta: ctx.meta,
        })
      })
      const url = new URL('/consent/page', deps.publicUrl)
      url.searchParams.set('link', issued.token)
      return { id: issued.id, url: url.toString(), expiresAt }
    },

    async open(link, meta) {
      const parsed = parseToken('cst_cpl', link)
      if (parsed === undefined) throw unauthenticated()
      const row = await store.linkForAuth(db, parsed.id)
      const now = clock()
      if (row === undefined || !secretMatches(parsed.secret, row.link_hash)) throw unauthenticated()
      // P8.1: the link is what tells us the org; nothing of a refused org is opened.
      deps.served.assertServed(row.org_id)
      if (row.opened_at !== null || row.expires_at.getTime() <= now.getTime() || !row.issuer_active)
        throw unauthenticated()
      const subject = openSubject(row.subject_sealed, parsed.secret, row.id)
      if (subject === undefined) throw unauthenticated()
      const session = issueToken('cst_cps')
      const sessionSecret = parseToken('cst_cps', session.token)?.secret
      if (sessionSecret === undefined) throw new Error('an issued session does not parse')
      const cookie = `cst_cps_${row.id.replaceAll('-', '')}_${sessionSecret}`
      const expiresAt = new Date(now.getTime() + PAGE_SESSION_SECONDS * 1000)
      await withOrg(db, row.org_id, async (trx) => {
        const won = await store.openLink(trx, row.id, {
          hash: hashSecret(sessionSecret),
          sealed: sealSubject(subject, sessionSecret, row.id),
          at: now,
          expiresAt,
        })
        if (!won) throw unauthenticated()
        await audit.append(trx, {
          orgId: row.org_id,
          actor: { type: 'anonymous', id: null },
          action: 'consent.page.open',
          target: { type: 'consent_page_link', id: row.id },
          outcome: 'success',
          details: { sessionExpiresAt: expiresAt.toISOString() },
          meta,
        })
      })
      return { cookie, expiresAt }
    },

    async session(cookie) {
      const parsed = cookie === undefined ? undefined : parseToken('cst_cps', cookie)
      if (parsed === undefined) throw unauthenticated()
      const row = await store.linkForAuth(db, parsed.id)
      if (
        row === undefined ||
        row.session_hash === null ||
        row.session_expires_at === null ||
        !secretMatches(parsed.secret, row.session_hash)
      )
        throw unauthenticated()
      // P8.1: every page act starts here; a session of an org refused since it opened ends here.
      deps.served.assertServed(row.org_id)
      if (row.session_expires_at.getTime() <= clock().getTime() || !row.issuer_active) throw unauthenticated()
      const subject = openSubject(row.subject_sealed, parsed.secret, row.id)
      if (subject === undefined) throw unauthenticated()
      const principal: Principal = {
        kind: row.created_by_type === 'user' ? 'user' : 'service_account',
        id: row.created_by_id ?? '',
        orgId: row.org_id,
        orgKind: row.org_kind,
        role: 'consent-page',
        permissions: new Set(['consent:read', 'consent:record', 'consent:check']),
        via: { type: 'token', tokenId: row.id },
        mfa: { enrolled: false, at: null },
        secretPaths: [],
        policy: { require2fa: false, stepUpMinutes: 10, ipAllowlist: [] },
      }
      return {
        linkId: row.id,
        orgId: row.org_id,
        orgName: row.org_name,
        subject,
        expiresAt: row.session_expires_at,
        csrf: csrfOf(parsed.secret, row.id),
        gpcApplied: row.gpc_applied_at !== null,
        ctx: (meta) => ({ principal, orgId: row.org_id, meta }),
      }
    },

    checkCsrf(session, token) {
      const expected = Buffer.from(session.csrf)
      const given = Buffer.from(token ?? '')
      if (given.length !== expected.length || !timingSafeEqual(given, expected))
        throw new AppError('CSRF_FAILED', 'this form is out of date: reload the page and try again')
    },

    async applyGpc(session, meta) {
      if (session.gpcApplied) return []
      const ctx = session.ctx(meta)
      const events = await consent.signalGpc(ctx, {
        subject: session.subject,
        evidence: { ...(meta.userAgent === null ? {} : { userAgent: meta.userAgent.slice(0, 500) }), formId: FORM_ID },
      })
      await withOrg(db, session.orgId, (trx) => store.markGpcApplied(trx, session.linkId, clock()))
      session.gpcApplied = true
      return events
    },

    async view(session, meta) {
      const ctx = session.ctx(meta)
      const purposes = []
      let cursor: string | undefined
      do {
        const page = await consent.listPurposes(ctx, { limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        purposes.push(...page.items)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      const notices = (await consent.listNotices(ctx, { limit: 100 })).items
      const grantNotice = new Map<string, number>()
      for (const p of purposes) {
        const newest = notices.find((n) => n.purposes.includes(p.key))
        if (newest !== undefined) grantNotice.set(p.key, newest.version)
      }
      const shown = [...new Set(grantNotice.values())].sort((a, b) => b - a)
      const texts = await Promise.all(shown.map((v) => consent.getNotice(ctx, v)))
      const decisions =
        purposes.length === 0
          ? []
          : await consent.check(
              ctx,
              purposes.map((p) => ({ subject: session.subject, purpose: p.key })),
            )
      const ref = subjects.ref(session.orgId, session.subject)
      const { events, keys } = await withOrg(db, session.orgId, async (trx) => {
        const rows = await store.subjectEvents(trx, ref, HISTORY_LIMIT)
        const ids = [...new Set(rows.map((r) => r.purpose_id))]
        const found =
          ids.length === 0
            ? []
            : await trx.selectFrom('consent_purposes').select(['id', 'key']).where('id', 'in', ids).execute()
        return { events: rows, keys: new Map(found.map((r) => [r.id, r.key])) }
      })
      const history: PageEvent[] = events.map((e) => ({
        id: e.id,
        purpose: keys.get(e.purpose_id) ?? '',
        action: e.action,
        method: e.method,
        noticeVersion: e.notice_version,
        collectedAt: e.collected_at.toISOString(),
        gpcConflict: e.gpc_conflict,
      }))
      return {
        orgName: session.orgName,
        expiresAt: session.expiresAt,
        notices: texts,
        receiptKind: deps.receipts.kind,
        purposes: purposes.map((p, i) => {
          const decision = decisions[i]
          return {
            key: p.key,
            name: p.name,
            description: p.description,
            lawfulBasis: p.lawfulBasis,
            dataCategories: p.dataCategories,
            recipients: p.recipients,
            directMarketing: p.directMarketing,
            gpcEffect: p.gpcEffect,
            consentBased: CONSENT_BASES.includes(p.lawfulBasis),
            objectable: p.directMarketing || OBJECTABLE_BASES.includes(p.lawfulBasis),
            allowed: decision?.allowed ?? false,
            reason: decision?.reason ?? 'unknown_purpose',
            grantNotice: grantNotice.get(p.key) ?? null,
            expiresAt: decision?.expiresAt ?? null,
            history: history.filter((e) => e.purpose === p.key),
          }
        }),
      }
    },

    async grant(session, input, meta) {
      const result = await consent.record(
        session.ctx(meta),
        {
          id: `custodian-page/${randomUUID()}`,
          subject: session.subject,
          purpose: input.purpose,
          action: 'grant',
          method: 'form',
          noticeVersion: input.noticeVersion,
          actor: { type: 'subject' },
          evidence: formEvidence(meta),
        },
        { gpc: input.gpc },
      )
      return result.event
    },

    async withdraw(session, input, meta) {
      const result = await consent.withdraw(session.ctx(meta), {
        subject: session.subject,
        purposes: [input.purpose],
        method: 'form',
        actor: { type: 'subject' },
        evidence: formEvidence(meta),
      })
      const [event] = result.events
      if (event === undefined) throw new Error('a withdrawal recorded no event')
      return event
    },

    async object(session, input, meta) {
      const result = await consent.record(
        session.ctx(meta),
        {
          id: `custodian-page/${randomUUID()}`,
          subject: session.subject,
          purpose: input.purpose,
          action: 'object',
          method: 'form',
          actor: { type: 'subject' },
          evidence: formEvidence(meta),
        },
        // The page applies a GPC signal when it is shown; an objection only restricts, so it
        // never conflicts with one.
        { gpc: false },
      )
      return result.event
    },

    async receipt(session, eventId) {
      const ref = subjects.ref(session.orgId, session.subject)
      const mine = await withOrg(db, session.orgId, (trx) => store.subjectEvent(trx, ref, eventId))
      if (mine === undefined) throw new AppError('NOT_FOUND', 'no such event of yours')
      return deps.receipts.forEvent(session.orgId, eventId)
    },
  }
}

/** The form id recorded in the evidence of what the page records. */
export const FORM_ID = 'custodian-preference-page'

/** The evidence a form of the page seals with its event: the user agent (500 characters at most) and the form id. */
function formEvidence(meta: RequestMeta): { userAgent?: string; formId: string } {
  return { ...(meta.userAgent === null ? {} : { userAgent: meta.userAgent.slice(0, 500) }), formId: FORM_ID }
}
