import { html, type Html, type HtmlValue } from '../../../http/html.ts'
import type { ConsentEventViewT, Reason } from '../consent.types.ts'
import type { PageEvent, PagePurpose, PageView } from './page.service.ts'

/**
 * The hosted preference page's HTML, escaped by construction (src/http/html.ts). No script
 * at all: plain forms that post and redirect (POST-redirect-GET), so the page works the same
 * with JavaScript off. Every control has a name that says what it does to which purpose.
 */

export const PAGE_PATH = '/consent/page'
export const GRANT_PATH = '/consent/page/grant'
export const WITHDRAW_PATH = '/consent/page/withdraw'
export const OBJECT_PATH = '/consent/page/object'
export const STYLE_PATH = '/consent/page/style.css'
export const RECEIPT_PATH = '/consent/page/receipts'

const BASIS: Record<string, string> = {
  consent: 'Consent',
  explicit_consent: 'Explicit consent',
  contract: 'Contract',
  legal_obligation: 'Legal obligation',
  vital_interests: 'Vital interests',
  public_task: 'Public task',
  legitimate_interests: 'Legitimate interests',
}

/** Every reason a check gives (consent.types.ts REASONS), in the subject's words: the compiler keeps it complete. */
const STATE: Record<Reason, string> = {
  granted: 'Given',
  lawful_basis: 'Processed without consent, under the basis shown',
  unknown_subject: 'Not given',
  no_consent: 'Not given',
  denied: 'Refused',
  withdrawn: 'Withdrawn',
  expired: 'Expired: ask again to renew it',
  objected: 'You objected: not processed',
  objection_pending: 'Your objection is under review: not processed meanwhile',
  restricted: 'Processing restricted at your request',
  erased: 'Your data was erased',
  reconsent_grace: 'Given, but the notice changed: please confirm your choice again soon',
  reconsent_required: 'The notice changed: your consent is needed again',
  unknown_purpose: 'Unknown',
}

/** A reason this page does not know reads as itself (never an empty cell). */
const stateOf = (reason: string): string => (STATE as Partial<Record<string, string>>)[reason] ?? reason

const ACTION: Record<string, string> = {
  grant: 'Consent given',
  deny: 'Refused',
  withdraw: 'Consent withdrawn',
  expire: 'Consent expired',
  object: 'Objection',
  objection_upheld: 'Objection upheld',
  objection_rejected: 'Objection rejected',
}

const METHOD: Record<string, string> = {
  form: 'on a form',
  button: 'with a button',
  api: 'through the application',
  gpc: 'by your browser’s Global Privacy Control signal',
  double_opt_in: 'by double opt-in',
  import: 'imported',
  staff: 'by staff',
}

/** What the page says after a form was handled (the `done` query value). */
export const DONE = {
  granted: 'Your consent was recorded.',
  withdrawn: 'Your consent was withdrawn. It takes effect at once.',
  objected:
    'Your objection was recorded. The purpose is not processed while it stands: for good against direct marketing; otherwise until the organisation decides, within one month, with its grounds.',
} as const

function time(iso: string): Html {
  return html`<time datetime="${iso}">${new Date(iso).toUTCString()}</time>`
}

export function layout(title: string, main: HtmlValue): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="stylesheet" href="${STYLE_PATH}">
</head>
<body>
<a class="skip" href="#main">Skip to your choices</a>
<header><p class="brand">Privacy preferences</p></header>
<main id="main" tabindex="-1">
${main}
</main>
<footer><p>Kept by Custodian on behalf of the organisation named above. Your browser’s Global Privacy Control signal is honoured (<a href="/.well-known/gpc.json">gpc.json</a>).</p></footer>
</body>
</html>
`
}

function historyList(events: PageEvent[], receiptKind: string): Html {
  if (events.length === 0) return html`<p class="none">Nothing recorded yet.</p>`
  return html`<ol class="history">${events.map(
    (e) => html`<li>
<span class="what">${ACTION[e.action] ?? e.action}</span> ${METHOD[e.method] ?? e.method}, ${time(e.collectedAt)}${e.noticeVersion === null ? '' : html`, under notice version ${e.noticeVersion}`}${e.gpcConflict ? html` <strong class="flag">— given while your browser sent a Global Privacy Control signal</strong>` : ''}
· <a href="${RECEIPT_PATH}/${e.id}" download="receipt-${e.id}.json">${receiptKind}<span class="visually-hidden"> of this event</span></a>
</li>`,
  )}</ol>`
}

/** Art. 21: an objection to a purpose under legitimate interests, a public task or direct marketing. */
function objection(p: PagePurpose, csrf: string): Html {
  if (!p.objectable) return html``
  if (p.reason === 'objected' || p.reason === 'objection_pending')
    return html`<p class="basis-note">Your objection stands: ${stateOf(p.reason).toLowerCase()}.</p>`
  return html`<form method="post" action="${OBJECT_PATH}">
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="purpose" value="${p.key}">
<button type="submit" class="withdraw">Object to ${p.name}</button>
<p class="hint">${p.directMarketing ? 'Processing for direct marketing stops at once.' : 'Processing stops while the organisation reviews your objection; it decides within one month, with its grounds.'}</p>
</form>`
}

function controls(p: PagePurpose, csrf: string): Html {
  if (!p.consentBased)
    return html`<p class="basis-note">This purpose does not rely on your consent, so there is nothing to give or withdraw here${p.objectable ? ', but you may object to it' : ''}.</p>
${objection(p, csrf)}`
  const withdraw = html`<form method="post" action="${WITHDRAW_PATH}">
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="purpose" value="${p.key}">
<button type="submit" class="withdraw">Withdraw consent to ${p.name}</button>
</form>`
  if (p.allowed) return withdraw
  if (p.grantNotice === null)
    return html`<p class="basis-note">No notice covers this purpose yet, so consent cannot be given here.</p>`
  return html`<form method="post" action="${GRANT_PATH}">
<input type="hidden" name="csrf" value="${csrf}">
<input type="hidden" name="purpose" value="${p.key}">
<input type="hidden" name="noticeVersion" value="${p.grantNotice}">
<button type="submit" class="grant">Give consent to ${p.name}</button>
<p class="hint">Under notice version ${p.grantNotice}, shown above.</p>
</form>`
}

function purposeSection(p: PagePurpose, csrf: string, receiptKind: string): Html {
  const id = `purpose-${p.key}`
  return html`<section class="purpose" aria-labelledby="${id}">
<h3 id="${id}">${p.name}</h3>
${p.description === '' ? '' : html`<p>${p.description}</p>`}
<dl class="facts">
<dt>State</dt><dd class="state" data-allowed="${String(p.allowed)}">${stateOf(p.reason)}${p.allowed && p.expiresAt !== null ? html` (until ${time(p.expiresAt)})` : ''}</dd>
<dt>Lawful basis</dt><dd>${BASIS[p.lawfulBasis] ?? p.lawfulBasis}${p.directMarketing ? ' · direct marketing' : ''}</dd>
${p.dataCategories.length === 0 ? '' : html`<dt>Data</dt><dd>${p.dataCategories.join(', ')}</dd>`}
${p.recipients.length === 0 ? '' : html`<dt>Shared with</dt><dd>${p.recipients.join(', ')}</dd>`}
${p.gpcEffect === 'opt_out' ? html`<dt>Global Privacy Control</dt><dd>A GPC signal from your browser opts you out</dd>` : ''}
</dl>
${controls(p, csrf)}
<details>
<summary>History of ${p.name}</summary>
${historyList(p.history, receiptKind)}
</details>
</section>`
}

export function preferencePage(
  view: PageView,
  opts: { csrf: string; done?: string | undefined; gpcSignal: boolean; gpcApplied: ConsentEventViewT[] },
): Html {
  const names = new Map(view.purposes.map((p) => [p.key, p.name]))
  return layout(
    `Your privacy choices · ${view.orgName}`,
    html`<h1>Your privacy choices with ${view.orgName}</h1>
${opts.done === undefined ? '' : html`<p class="notice" role="status">${opts.done}</p>`}
${
  opts.gpcSignal
    ? html`<section class="gpc" aria-labelledby="gpc-title">
<h2 id="gpc-title">Global Privacy Control</h2>
<p>Your browser sends a Global Privacy Control signal: it counts as opting out of every purpose marked below, and never as consent.${
        opts.gpcApplied.length === 0
          ? ''
          : html` It was just recorded for: ${opts.gpcApplied.map((e, i) => html`${i === 0 ? '' : ', '}${names.get(e.purpose) ?? e.purpose}`)}.`
      } If you give consent to such a purpose below, it is recorded as given against your signal.</p>
</section>`
    : ''
}
<section aria-labelledby="notice-title">
<h2 id="notice-title">What you are asked</h2>
${
  view.notices.length === 0
    ? html`<p>No notice has been published yet.</p>`
    : view.notices.map(
        (n) => html`<article class="notice-text" lang="${n.language}" aria-label="Notice version ${n.version}">
<p class="meta">Notice version ${n.version}, published ${time(n.publishedAt)} · SHA-256 <code>${n.sha256.slice(0, 16)}…</code></p>
<div class="text">${n.text}</div>
</article>`,
      )
}
</section>
<section aria-labelledby="purposes-title">
<h2 id="purposes-title">Purposes</h2>
<p>Withdrawing takes one step and is effective at once. Each change is kept as proof, with a receipt you can download.</p>
${view.purposes.length === 0 ? html`<p>No purposes are declared.</p>` : view.purposes.map((p) => purposeSection(p, opts.csrf, view.receiptKind))}
</section>
<p class="expiry">This page stays open until ${time(view.expiresAt.toISOString())}; after that, open it again from the application.</p>`,
  )
}

export function errorPage(title: string, detail: string): Html {
  return layout(
    title,
    html`<h1>${title}</h1>
<section class="problem" role="alert"><p>${detail}</p></section>`,
  )
}
