import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { AppError } from '../../../errors.ts'
import type { Html } from '../../../http/html.ts'
import { ctxOf } from '../../../http/route-helpers.ts'
import { errorResponses, Strict, Timestamp, Uuid } from '../../../http/schemas.ts'
import { PurposeKey } from '../consent.types.ts'
import {
  DONE,
  errorPage,
  GRANT_PATH,
  PAGE_PATH,
  preferencePage,
  RECEIPT_PATH,
  STYLE_PATH,
  WITHDRAW_PATH,
  OBJECT_PATH,
} from './page.html.ts'
import { PAGE_LINK_TTL, type ConsentPageService } from './page.service.ts'

/** The page session's cookie: `__Host-` (Secure, Path=/, no Domain), HttpOnly, SameSite=Lax. */
export const PAGE_COOKIE = '__Host-custodian_consent_page'

/**
 * Only this origin's stylesheet and form targets; no script at all, never framed. The
 * host application links to the page; it does not embed it.
 */
export const PAGE_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

/**
 * The GPC support resource (Global Privacy Control specification, §3.5 "the
 * `/.well-known/gpc.json` resource"): this origin honours the signal. `lastUpdate` is the
 * date this statement last changed.
 */
export const GPC_JSON = { gpc: true, lastUpdate: '2026-12-02' } as const

/** A form's body is a few short fields: anything larger is refused (413) before it is read. */
const FORM_BODY_LIMIT = 4096
const STYLE = readFileSync(path.join(import.meta.dirname, 'page.css'), 'utf8')

const MintBody = Type.Object(
  {
    subject: Type.String({
      minLength: 1,
      maxLength: 200,
      description: 'the host application’s id of its signed-in user (never stored in clear)',
    }),
    ttlSeconds: Type.Integer({
      minimum: PAGE_LINK_TTL.min,
      maximum: PAGE_LINK_TTL.max,
      default: PAGE_LINK_TTL.default,
      description: 'seconds the link may be opened in (once); the page session then lasts 30 minutes',
    }),
  },
  Strict,
)
const MintResult = Type.Object({
  id: Uuid,
  url: Type.String({ description: 'the link to send the user to; opens once, within ttlSeconds' }),
  expiresAt: Timestamp,
})
const GpcResource = Type.Object({ gpc: Type.Boolean(), lastUpdate: Type.String() })

const PageQuery = Type.Object(
  {
    link: Type.Optional(Type.String({ maxLength: 200 })),
    done: Type.Optional(Type.Union([Type.Literal('granted'), Type.Literal('withdrawn'), Type.Literal('objected')])),
  },
  Strict,
)
const Csrf = Type.String({ minLength: 1, maxLength: 100 })
const GrantForm = Type.Object(
  { csrf: Csrf, purpose: PurposeKey, noticeVersion: Type.String({ pattern: '^[1-9][0-9]{0,9}$' }) },
  Strict,
)
const WithdrawForm = Type.Object({ csrf: Csrf, purpose: PurposeKey }, Strict)
const ReceiptParams = Type.Object({ eventId: Uuid }, Strict)

function send(reply: FastifyReply, status: number, page: Html): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', PAGE_CSP)
    .header('cache-control', 'no-store')
    .send(page.toString())
}

/** Whether the request carries `Sec-GPC: 1` (Global Privacy Control). */
function gpcOf(request: FastifyRequest): boolean {
  const value = request.headers['sec-gpc']
  return typeof value === 'string' && value.trim() === '1'
}

/** Back to the page (POST-redirect-GET): a 303, so a reload never posts again. */
function back(reply: FastifyReply, done?: keyof typeof DONE): FastifyReply {
  return reply
    .code(303)
    .header('location', done === undefined ? PAGE_PATH : `${PAGE_PATH}?done=${done}`)
    .send()
}

async function pageError(_request: FastifyRequest, reply: FastifyReply, error: AppError): Promise<FastifyReply> {
  const [title, detail] =
    error.status === 401
      ? [
          'This link has expired or was already used',
          'For your privacy, a link to this page opens once and only for a few minutes. Go back to the application and open your privacy settings again.',
        ]
      : error.status === 403
        ? ['Please try again', `${error.message}.`]
        : error.status === 413
          ? ['Too large', 'The form sent more than this page takes. Nothing was changed.']
          : error.status === 404
            ? ['Not found', 'There is nothing of yours here.']
            : error.status >= 500
              ? ['Something went wrong on our side', 'Nothing was changed. Please try again later.']
              : ['Please check your choice', `${error.message}. Nothing was changed.`]
  if (error.status === 429) reply.header('retry-after', String(error.extras.retryAfter ?? 60))
  return send(reply, error.status, errorPage(title, detail))
}

/**
 * The hosted preference page (docs/consent.md#hosted-preference-page): minting a link
 * (`POST /v1/orgs/{orgId}/consent/page-links`, `consent:record`), the page itself (public
 * routes that take only the page's own cookie, hidden from the API description like every
 * page), and `/.well-known/gpc.json`.
 */
export function consentPageRoutes(deps: { page: ConsentPageService }): FastifyPluginAsyncTypebox {
  const { page } = deps
  const pageConfig = { access: { public: true as const }, errorPage: pageError }
  const hide = { hide: true }

  return async (app) => {
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      const fields: Record<string, string> = {}
      for (const [name, value] of new URLSearchParams(body as string)) fields[name] = value
      done(null, fields)
    })

    app.post('/v1/orgs/:orgId/consent/page-links', {
      // It hands out a credential (for one subject's choices): a session asks for a fresh second factor.
      config: { access: { permission: 'consent:record' }, stepUp: true },
      schema: {
        tags: ['consent'],
        summary: 'Mint a short-lived link to the hosted preference page for one subject (opens once)',
        params: Type.Object({ orgId: Uuid }, Strict),
        body: MintBody,
        response: { 201: MintResult, ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        const minted = await page.mint(ctxOf(request), request.body)
        return reply.code(201).send({ id: minted.id, url: minted.url, expiresAt: minted.expiresAt.toISOString() })
      },
    })

    app.get('/.well-known/gpc.json', {
      config: { access: { public: true } },
      schema: {
        tags: ['consent'],
        summary: 'Global Privacy Control support resource: this origin honours the GPC signal',
        response: { 200: GpcResource },
      },
      handler: async (_request, reply) =>
        reply
          .header('cache-control', 'public, max-age=86400')
          .header('access-control-allow-origin', '*')
          .header('cross-origin-resource-policy', 'cross-origin')
          .send(GPC_JSON),
    })

    app.get(STYLE_PATH, { config: { access: { public: true } }, schema: hide }, async (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLE),
    )

    app.get(PAGE_PATH, {
      config: pageConfig,
      schema: { ...hide, querystring: PageQuery },
      handler: async (request, reply) => {
        const { link, done } = request.query
        if (link !== undefined) {
          // The first load: the link becomes a cookie, and the address bar loses the link.
          let opened: { cookie: string; expiresAt: Date }
          try {
            opened = await page.open(link, request.meta)
          } catch (error) {
            // A reload of the first address by the browser that opened it: its session stands.
            const mine = await page.session(request.cookies[PAGE_COOKIE]).catch(() => undefined)
            if (mine === undefined) throw error
            return back(reply)
          }
          reply.setCookie(PAGE_COOKIE, opened.cookie, {
            path: '/',
            secure: true,
            httpOnly: true,
            // Lax: the link arrives as a cross-site navigation from the host application.
            sameSite: 'lax',
            expires: opened.expiresAt,
          })
          return back(reply)
        }
        const session = await page.session(request.cookies[PAGE_COOKIE])
        const gpcSignal = gpcOf(request)
        const gpcApplied = gpcSignal ? await page.applyGpc(session, request.meta) : []
        const view = await page.view(session, request.meta)
        return send(
          reply,
          200,
          preferencePage(view, {
            csrf: session.csrf,
            done: done === undefined ? undefined : DONE[done],
            gpcSignal,
            gpcApplied,
          }),
        )
      },
    })

    app.post(GRANT_PATH, {
      bodyLimit: FORM_BODY_LIMIT,
      config: pageConfig,
      schema: { ...hide, body: GrantForm },
      handler: async (request, reply) => {
        const session = await page.session(request.cookies[PAGE_COOKIE])
        page.checkCsrf(session, request.body.csrf)
        await page.grant(
          session,
          {
            purpose: request.body.purpose,
            noticeVersion: Number(request.body.noticeVersion),
            gpc: gpcOf(request),
          },
          request.meta,
        )
        return back(reply, 'granted')
      },
    })

    // The forms on one purpose (withdraw, object): the session's CSRF token, then the act, then back.
    for (const [path, act, done] of [
      [WITHDRAW_PATH, 'withdraw', 'withdrawn'],
      [OBJECT_PATH, 'object', 'objected'],
    ] as const)
      app.post(path, {
        bodyLimit: FORM_BODY_LIMIT,
        config: pageConfig,
        schema: { ...hide, body: WithdrawForm },
        handler: async (request, reply) => {
          const session = await page.session(request.cookies[PAGE_COOKIE])
          page.checkCsrf(session, request.body.csrf)
          await page[act](session, { purpose: request.body.purpose }, request.meta)
          return back(reply, done)
        },
      })

    app.get(`${RECEIPT_PATH}/:eventId`, {
      config: pageConfig,
      schema: { ...hide, params: ReceiptParams },
      handler: async (request, reply) => {
        const session = await page.session(request.cookies[PAGE_COOKIE])
        const receipt = await page.receipt(session, request.params.eventId)
        return reply
          .type('application/json')
          .header('content-disposition', `attachment; filename="receipt-${request.params.eventId}.json"`)
          .send(receipt)
      },
    })
  }
}
