import { readFileSync } from 'node:fs'
import path from 'node:path'
import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import type { Config } from '../../config.ts'
import { AppError } from '../../errors.ts'
import { html, type Html, type HtmlValue } from '../../http/html.ts'
import { Strict } from '../../http/schemas.ts'
import { BODY_TOO_LARGE, READ_CEILING, readReportForm } from './disclosure.form.ts'
import { SubmitBody } from './disclosure.routes.ts'
import { REPORT_FORM_PATH } from './security-txt.ts'
import type { ReportStatus } from './disclosure.tables.ts'
import type { Receipt, ReporterView, ReportsService, SubmitReport } from './reports.service.ts'

/**
 * The public report pages (issue 13): the same intake and status as the JSON API
 * (disclosure.routes.ts), for people with a browser — JavaScript or not. Plain HTML forms
 * posting to the service, rendered here on the server:
 *
 * - GET /report, POST /report (multipart/form-data, with attachments): the report form,
 *   validated by the API's own body schema, under the API's size limits
 *   (CUSTODIAN_REPORT_MAX_BYTES, each file at most CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES;
 *   a form over them comes back with its text, see disclosure.form.ts) and the same
 *   per-address rate limit bucket as POST /v1/vulnerability-reports.
 * - GET /report/status (asks for the token), POST /report/status (the token in the form
 *   body), POST /report/status/messages (the reporter answers): the status token travels in
 *   a POST body, never in a URL, so no access log, proxy, browser history or Referer ever
 *   holds it — a `?token=` link would be logged by anything in front of the service.
 *
 * Every page is escaped by construction (src/http/html.ts), carries no script, and is
 * served under its own CSP: nothing but this origin's stylesheet and form targets. Errors
 * (schema, size, rate, token) come back as a page with the right status that says what to
 * fix; the refused report leaves nothing behind (the service stores only what it accepts).
 * These routes are not API routes: hidden from /openapi.json, like the console's.
 */
export const PAGES_CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ')

export const REPORT_PATH = REPORT_FORM_PATH
const STATUS_PATH = '/report/status'
const MESSAGES_PATH = '/report/status/messages'
const STYLE_PATH = '/report/style.css'
const STYLE = readFileSync(path.join(import.meta.dirname, 'pages.css'), 'utf8')

const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const

/** Each severity a reporter may give, in words (the API's value stays the option's value). */
const SEVERITY_WORDS: Record<(typeof SEVERITIES)[number], string> = {
  low: 'Low',
  medium: 'Medium',
  high: 'High',
  critical: 'Critical',
}

/** A report's status in words for the reporter; keyed by ReportStatus, so the compiler keeps it complete. */
const STATUS_WORDS: Record<ReportStatus, string> = {
  received: 'Received',
  acknowledged: 'Acknowledged',
  triaged: 'Triaged',
  fixing: 'Being fixed',
  resolved: 'Resolved',
  rejected: 'Rejected',
  duplicate: 'Duplicate',
}
const FIELD_LABELS: Record<string, string> = {
  title: 'Title',
  location: 'Where',
  impact: 'Impact',
  steps: 'Steps to reproduce',
  severity: 'Severity',
  'reporter/name': 'Your name',
  'reporter/email': 'Your e-mail address',
  'reporter/credit': 'Credit',
  attachments: 'Attachments',
  token: 'Status token',
  message: 'Message',
}
/** What was too large in a report form that was read whole (disclosure.form.ts), by request. */
const OVERSIZE = new WeakMap<FastifyRequest, string>()

export interface PageLimits {
  submit: onRequestAsyncHookHandler
  status: onRequestAsyncHookHandler
  message: onRequestAsyncHookHandler
}

/** The API's 413 in a reader's words: "attachment 1 (big.bin) is 1600000 bytes; …" → "The file big.bin is too large". */
function tooLarge(message: string): string {
  const file = /^attachment \d+ \((.*)\) is \d+ bytes/.exec(message)
  if (file !== null) return `The file ${file[1] ?? ''} is too large`
  return message === BODY_TOO_LARGE ? 'The report is larger than we accept' : message
}

function kib(bytes: number): string {
  return bytes >= 1024 * 1024
    ? `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MiB`
    : `${Math.floor(bytes / 1024)} KiB`
}

function when(iso: string): string {
  return new Date(iso).toUTCString()
}

function layout(title: string, main: HtmlValue): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title} · Custodian</title>
<link rel="stylesheet" href="${STYLE_PATH}">
</head>
<body>
<header><p class="brand">Custodian security</p></header>
<main id="main">
${main}
</main>
<footer><p><a href="/.well-known/security.txt">security.txt</a> · <a href="/v1/vulnerability-reports/policy">Disclosure policy</a></p></footer>
</body>
</html>
`
}

function send(reply: FastifyReply, status: number, page: Html): FastifyReply {
  return reply
    .code(status)
    .type('text/html; charset=utf-8')
    .header('content-security-policy', PAGES_CSP)
    .header('cache-control', 'no-store')
    .send(page.toString())
}

/** The problem's field errors as sentences naming the form's labels. */
function fieldErrors(error: AppError): { field: string | undefined; text: string }[] {
  const errors = (error.extras.errors ?? []) as { path: string; message: string }[]
  return errors.map(({ path: pointer, message }) => {
    const missing = /^missing field "(.+)"$/.exec(message)
    const where = `${pointer}${missing === null ? '' : `/${missing[1]}`}`.replace(/^\/body\/?/, '')
    const key = Object.keys(FIELD_LABELS).find((k) => where === k || where.startsWith(`${k}/`))
    const label = key === undefined ? undefined : FIELD_LABELS[key]
    const what =
      missing !== null
        ? 'is required'
        : message === 'must match pattern "\\S"'
          ? 'must not be blank'
          : message === 'must match format "email"'
            ? 'must be one e-mail address, like name@example.org'
            : /^must NOT have more than (\d+) items$/.test(message)
              ? `at most ${/\d+/.exec(message)?.[0]} files`
              : message.replace(/^must NOT/, 'must not')
    return { field: key, text: label === undefined ? `${where || 'The form'}: ${what}` : `${label}: ${what}` }
  })
}

function errorSummary(title: string, detail: string, items: { field: string | undefined; text: string }[]): Html {
  return html`<section class="problem" role="alert" aria-labelledby="problem-title">
<h2 id="problem-title">${title}</h2>
<p>${detail}</p>
${items.length === 0 ? '' : html`<ul>${items.map((i) => html`<li>${i.field === undefined ? i.text : html`<a href="#${i.field.replace('/', '-')}">${i.text}</a>`}</li>`)}</ul>`}
</section>`
}

export function disclosurePages(deps: {
  reports: ReportsService
  config: Pick<Config, 'disclosure'>
  limits: PageLimits
}): FastifyPluginAsyncTypebox {
  const { reports, config, limits } = deps
  const d = config.disclosure

  function field(
    name: string,
    label: string,
    value: string | undefined,
    opts: {
      hint?: string
      multiline?: boolean
      required?: boolean
      type?: string
      autocomplete?: string
      rows?: number
      maxLength?: number
    } = {},
  ): Html {
    const id = name.replace('/', '-')
    const hintId = `${id}-hint`
    const inputName = name.replace(/^reporter\//, '')
    const common = html`id="${id}" name="${inputName}"${opts.required === true ? html` required aria-required="true"` : ''}${opts.hint === undefined ? '' : html` aria-describedby="${hintId}"`}${opts.maxLength === undefined ? '' : html` maxlength="${opts.maxLength}"`}`
    return html`<div class="field">
<label for="${id}">${label}${opts.required === true ? '' : html` <span class="optional">(optional)</span>`}</label>
${opts.hint === undefined ? '' : html`<p class="hint" id="${hintId}">${opts.hint}</p>`}
${
  opts.multiline === true
    ? html`<textarea ${common} rows="${opts.rows ?? 6}">${value ?? ''}</textarea>`
    : html`<input ${common} type="${opts.type ?? 'text'}" value="${value ?? ''}"${opts.autocomplete === undefined ? '' : html` autocomplete="${opts.autocomplete}"`}>`
}
</div>`
  }

  function reportForm(values: Partial<SubmitReport>, problem?: Html): Html {
    const severity = values.severity
    return layout(
      'Report a vulnerability',
      html`<h1>Report a vulnerability</h1>
<p>Tell us what you found. No account is needed. You will get a tracking reference and a
status token: with the token you can follow your report and answer us on the
<a href="${STATUS_PATH}">status page</a>. We acknowledge every report within
${d.ackBusinessDays} business days. Please read the <a href="/v1/vulnerability-reports/policy">disclosure policy</a> first.</p>
${problem ?? ''}
<form method="post" action="${REPORT_PATH}" enctype="multipart/form-data" accept-charset="UTF-8">
<fieldset>
<legend>The vulnerability</legend>
${field('title', 'Title', values.title, { required: true, maxLength: 200, hint: 'One line.' })}
${field('location', 'Where', values.location, { required: true, maxLength: 2000, hint: 'A URL, endpoint, component or version.' })}
${field('impact', 'Impact', values.impact, { required: true, multiline: true, rows: 4, hint: 'What an attacker can do.' })}
${field('steps', 'Steps to reproduce', values.steps, { required: true, multiline: true, rows: 8 })}
<div class="field">
<label for="severity">Severity <span class="optional">(optional, your estimate)</span></label>
<select id="severity" name="severity">
<option value=""${severity === undefined ? html` selected` : ''}>Not given</option>
${SEVERITIES.map((s) => html`<option value="${s}"${severity === s ? html` selected` : ''}>${SEVERITY_WORDS[s]}</option>`)}
</select>
</div>
<div class="field">
<label for="attachments">Attachments <span class="optional">(optional)</span></label>
<p class="hint" id="attachments-hint">Up to 5 files of at most ${kib(d.attachmentMaxBytes)} each${problem === undefined ? '' : '; files are not kept after an error, so attach them again'}.</p>
<input id="attachments" name="attachments" type="file" multiple aria-describedby="attachments-hint">
</div>
</fieldset>
<fieldset>
<legend>You <span class="optional">(optional)</span></legend>
<p class="hint">Leave an address to get an e-mail at each change; it is kept encrypted, used only for this report, and you can have it erased.</p>
${field('reporter/name', 'Your name', values.reporter?.name, { maxLength: 200, autocomplete: 'name' })}
${field('reporter/email', 'Your e-mail address', values.reporter?.email, { type: 'email', maxLength: 254, autocomplete: 'email' })}
<div class="field checkbox">
<input id="reporter-credit" name="credit" type="checkbox"${values.reporter?.credit === true ? html` checked` : ''}>
<label for="reporter-credit">Name me in the acknowledgments</label>
</div>
</fieldset>
<button type="submit">Send the report</button>
</form>`,
    )
  }

  function tokenForm(problem?: Html): Html {
    return layout(
      'Your report’s status',
      html`<h1>Your report’s status</h1>
<p>Enter the status token you were given when you sent the report (it starts with <code>cst_vrs_</code>).</p>
${problem ?? ''}
<form method="post" action="${STATUS_PATH}" accept-charset="UTF-8">
<div class="field">
<label for="token">Status token</label>
<input id="token" name="token" type="password" required aria-required="true" autocomplete="off" spellcheck="false" maxlength="600">
</div>
<button type="submit">Show the status</button>
</form>
<p><a href="${REPORT_PATH}">Report a vulnerability</a></p>`,
    )
  }

  function statusPage(
    view: ReporterView,
    token: string,
    opts: { notice?: string; problem?: Html; draft?: string } = {},
  ): Html {
    return layout(
      `Report ${view.reference}`,
      html`<h1>Report ${view.reference}</h1>
${opts.notice === undefined ? '' : html`<p class="notice" role="status">${opts.notice}</p>`}
<dl class="facts">
<dt>Status</dt><dd>${STATUS_WORDS[view.status]}</dd>
<dt>Received</dt><dd>${when(view.receivedAt)}</dd>
<dt>Acknowledgement due</dt><dd>${when(view.acknowledgementDueAt)}</dd>
<dt>Acknowledged</dt><dd>${view.acknowledgedAt === null ? 'not yet' : when(view.acknowledgedAt)}</dd>
${view.closedAt === null ? '' : html`<dt>Closed</dt><dd>${when(view.closedAt)}</dd>`}
</dl>
<section aria-labelledby="updates-title">
<h2 id="updates-title">Updates</h2>
${
  view.updates.length === 0
    ? html`<p>No updates yet.</p>`
    : html`<ol class="updates">${view.updates.map(
        (u) => html`<li>
<p class="meta"><strong>${u.from === 'team' ? 'The security team' : 'You'}</strong> · ${when(u.at)}${u.status === null ? '' : html` · status: ${STATUS_WORDS[u.status]}`}</p>
${u.message === null ? '' : html`<p class="message">${u.message}</p>`}
</li>`,
      )}</ol>`
}
</section>
<section aria-labelledby="answer-title">
<h2 id="answer-title">Write to the team</h2>
${opts.problem ?? ''}
<form method="post" action="${MESSAGES_PATH}" accept-charset="UTF-8">
<input type="hidden" name="token" value="${token}">
<div class="field">
<label for="message">Message</label>
<textarea id="message" name="message" rows="6" required aria-required="true" maxlength="10000">${opts.draft ?? ''}</textarea>
</div>
<button type="submit">Send the message</button>
</form>
</section>`,
    )
  }

  function receiptPage(receipt: Receipt): Html {
    return layout(
      'Report received',
      html`<h1>Report received</h1>
<p class="notice" role="status">Thank you. Your report ${receipt.reference} was received at ${when(receipt.receivedAt)}; we will acknowledge it by ${when(receipt.acknowledgementDueAt)}.</p>
<dl class="facts">
<dt>Tracking reference</dt><dd><code>${receipt.reference}</code></dd>
<dt>Status token</dt><dd><code class="token">${receipt.statusToken}</code></dd>
</dl>
<p><strong>Keep the status token now: it is shown only this once</strong>, and it is what lets you read
the team’s answers and write back. Anyone holding it can do the same, so keep it private.</p>
<form method="post" action="${STATUS_PATH}">
<input type="hidden" name="token" value="${receipt.statusToken}">
<button type="submit">Open the status page</button>
</form>`,
    )
  }

  /** Any error on these pages, already audited by the one error handler: a page, with the problem's status. */
  async function errorPage(request: FastifyRequest, reply: FastifyReply, error: AppError): Promise<FastifyReply> {
    if (error.status === 429 || error.status === 503)
      reply.header('retry-after', String(error.extras.retryAfter ?? (error.status === 503 ? 5 : 60)))
    const items = fieldErrors(error)
    const title =
      error.status === 413
        ? 'Too large'
        : error.status === 429
          ? 'Too many requests'
          : error.status === 401
            ? 'That status token is not valid'
            : error.status >= 500
              ? 'Something went wrong on our side'
              : 'Please check the form'
    const detail =
      error.status === 401
        ? 'Check that you copied the whole token, starting with cst_vrs_.'
        : error.status === 413
          ? `${tooLarge(error.message)}. Each file may be at most ${kib(d.attachmentMaxBytes)}, and the whole report at most ${kib(d.maxBytes)}. Nothing was stored.`
          : error.status >= 400 && error.status < 500
            ? // The fields named below say what to change; the API's one-line summary would not.
              items.length > 0
              ? 'Some fields need a change: each is named below. Nothing was stored.'
              : `${error.message}. Nothing was stored.`
            : `${error.message}. Please try again later. (Request ${request.id}.)`
    const problem = errorSummary(title, detail, items)
    const url = request.routeOptions.url
    const body = (request.body ?? {}) as Partial<SubmitReport> & Record<string, unknown>
    if (url === REPORT_PATH && request.method === 'POST') return send(reply, error.status, reportForm(body, problem))
    if (url === STATUS_PATH || (url === MESSAGES_PATH && error.status === 401))
      return send(reply, error.status, tokenForm(problem))
    if (url === MESSAGES_PATH && typeof body.token === 'string') {
      // The reporter's answer was refused (blank, too long): the status again, their draft kept.
      const view = await reports.status(body.token).catch(() => undefined)
      if (view !== undefined)
        return send(
          reply,
          error.status,
          statusPage(view, body.token, { problem, draft: typeof body.message === 'string' ? body.message : '' }),
        )
    }
    return send(
      reply,
      error.status,
      layout(
        title,
        html`<h1>${title}</h1>${problem}<p><a href="${REPORT_PATH}">Report a vulnerability</a> · <a href="${STATUS_PATH}">Your report’s status</a></p>`,
      ),
    )
  }

  const page = { access: { public: true as const }, errorPage, providerPage: true }
  const hide = { hide: true }

  return async (app) => {
    // Form bodies, in this plugin only: a report form's multipart (files included) as the
    // API's JSON body, and the status forms' urlencoded fields.
    app.addContentTypeParser('multipart/form-data', (request, payload, done) => {
      readReportForm(payload, request.headers['content-type'] ?? '', d).then(({ body, oversize }) => {
        if (oversize !== undefined) OVERSIZE.set(request, oversize)
        done(null, body)
      }, done)
    })
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      const fields: Record<string, string> = {}
      for (const [name, value] of new URLSearchParams(body as string)) if (value !== '') fields[name] = value
      done(null, fields)
    })

    app.get(STYLE_PATH, { config: { access: { public: true } }, schema: hide }, async (_request, reply) =>
      reply.type('text/css; charset=utf-8').header('cache-control', 'public, max-age=3600').send(STYLE),
    )
    app.get(REPORT_PATH, { config: page, schema: hide }, async (_request, reply) => send(reply, 200, reportForm({})))
    app.post(REPORT_PATH, {
      // Read past the report's limit (up to READ_CEILING times it) only to give the
      // reporter's text back with the refusal: attachments past the limits are never held.
      bodyLimit: READ_CEILING * d.maxBytes,
      onRequest: limits.submit,
      preValidation: async (request) => {
        const oversize = OVERSIZE.get(request)
        if (oversize !== undefined) throw new AppError('PAYLOAD_TOO_LARGE', oversize)
      },
      config: page,
      schema: { ...hide, body: SubmitBody },
      handler: async (request, reply) =>
        send(reply, 201, receiptPage(await reports.submit(request.meta, request.body))),
    })
    app.get(STATUS_PATH, { config: page, schema: hide }, async (_request, reply) => send(reply, 200, tokenForm()))
    app.post(STATUS_PATH, {
      onRequest: limits.status,
      config: page,
      schema: { ...hide, body: Type.Object({ token: Type.String({ maxLength: 600 }) }, Strict) },
      handler: async (request, reply) => {
        const { token } = request.body
        return send(reply, 200, statusPage(await reports.status(token), token))
      },
    })
    app.post(MESSAGES_PATH, {
      onRequest: limits.message,
      config: page,
      schema: {
        ...hide,
        body: Type.Object(
          {
            token: Type.String({ maxLength: 600 }),
            message: Type.String({ minLength: 1, maxLength: 10_000, pattern: '\\S' }),
          },
          Strict,
        ),
      },
      handler: async (request, reply) => {
        const { token, message } = request.body
        const view = await reports.reply(request.meta, token, message)
        return send(reply, 201, statusPage(view, token, { notice: 'Your message was sent to the security team.' }))
      },
    })
  }
}
