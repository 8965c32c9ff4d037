import { Html, html } from '../../http/html.ts'
import { onFirstUse } from '../../on-first-use.ts'
import type { CheckResult, ComplianceReport, PromiseStanding, SecurityPolicy } from './compliance.types.ts'
import {
  byArea,
  CHECK_VERDICT,
  evidenceText,
  FRAMEWORKS,
  PROMISE_VERDICT,
  references,
  STATEMENT_VERDICT,
  scopeText,
} from './render.words.ts'

/** The PDF renderer and pdfkit, loaded by the first PDF asked for (src/on-first-use.ts). */
const loadPdfRenderer = onFirstUse(() => import('./render.pdf.ts'))

/** The compliance report as PDF (render.pdf.ts). */
export async function reportPdf(report: ComplianceReport): Promise<Buffer> {
  return (await loadPdfRenderer()).reportPdf(report)
}

/** The living security policy as PDF (render.pdf.ts). */
export async function policyPdf(policy: SecurityPolicy): Promise<Buffer> {
  return (await loadPdfRenderer()).policyPdf(policy)
}

/**
 * The compliance report and the living security policy as documents for people (P5.4, P10.1):
 * self-contained HTML5 here, PDF in render.pdf.ts. The bytes these return are what the service
 * signs; nothing here reads a clock or the network, so the same input gives the same document.
 *
 * The HTML works offline and under the strictest CSP a document can have: no script, no
 * external resource, one inline <style> (`default-src 'none'; style-src 'unsafe-inline'`).
 * Every value is escaped by construction (src/http/html.ts, escape-html). A verdict is always
 * a word ("Met", "Not met", "Not applicable"), colour only repeats it (WCAG 2.2 SC 1.4.1);
 * the palette keeps text at a contrast ratio of at least 7:1 (SC 1.4.6).
 */

// Colour pairs (text on background), each at least 7:1: #14532d on #dcfce7 ≈ 8.3, #7f1d1d on
// #fee2e2 ≈ 8.2, #1f2937 on #f3f4f6 ≈ 13.3, #1f2937 on #fff ≈ 14.7, #4b5563 on #fff ≈ 7.6.
const STYLE = `
:root{color:#1f2937;background:#fff;font:16px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif}
body{max-width:72rem;margin:0 auto;padding:1.5rem}
h1{font-size:1.75rem;margin:0 0 .25rem}h2{font-size:1.35rem;margin:2rem 0 .75rem;border-bottom:2px solid #d1d5db}
h3{font-size:1.1rem;margin:1.5rem 0 .5rem}h4{font-size:1rem;margin:1rem 0 .25rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}caption{text-align:left;font-weight:600;padding:.25rem 0}
th,td{border:1px solid #d1d5db;padding:.35rem .5rem;text-align:left;vertical-align:top}thead th{background:#f3f4f6}
dl.meta,dl.evidence{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem;margin:.25rem 0}
dt{font-weight:600}dd{margin:0;overflow-wrap:anywhere}
.verdict{display:inline-block;padding:0 .4rem;border-radius:.25rem;font-weight:600;background:#f3f4f6;color:#1f2937}
.met,.pass{background:#dcfce7;color:#14532d}.not_met,.fail{background:#fee2e2;color:#7f1d1d}
.check{border-left:4px solid #d1d5db;padding:.25rem 0 .25rem .75rem;margin:.75rem 0}.check.fail{border-left-color:#7f1d1d;background:none;color:inherit}
.statement{margin:0 0 1rem}.statement.not_met{border-left:4px solid #7f1d1d;padding-left:.75rem}
.standing,.muted{color:#4b5563;font-size:.9rem;margin:.15rem 0 0}.flag{color:#7f1d1d;font-weight:700}
@media print{body{max-width:none;padding:0}h2{break-after:avoid}.check,.statement,tr{break-inside:avoid}}
`

/** The stylesheet is a constant of this file, never data: the one text that enters unescaped. */
const STYLE_HTML = new Html(STYLE)

function page(title: string, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>${title}</title>
<style>${STYLE_HTML}</style>
</head>
<body>
${body}
</body>
</html>
`.toString()
}

function time(iso: string): Html {
  return html`<time datetime="${iso}">${iso}</time>`
}

function anchor(promiseId: string): string {
  return `promise-${promiseId.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`
}

function verdictBadge(cls: string, words: string): Html {
  return html`<span class="${`verdict ${cls}`}">${words}</span>`
}

function checkHtml(c: CheckResult): Html {
  const evidence = Object.entries(c.evidence)
  return html`<div class="${`check ${c.verdict}`}">
<h4>${c.title}</h4>
<p>${verdictBadge(c.verdict, CHECK_VERDICT[c.verdict])} ${c.summary}</p>
${
  evidence.length > 0
    ? html`<dl class="evidence" aria-label="Evidence">${evidence.map(([k, v]) => html`<dt>${k}</dt><dd>${evidenceText(v)}</dd>`)}</dl>`
    : html`<p class="muted">No evidence recorded.</p>`
}
<p class="muted">Check <code>${c.check}</code> (${c.scope === 'service' ? 'service-wide' : 'this organisation'}), ran at ${time(c.ranAt)}; verdict since ${time(c.since)}.</p>
</div>`
}

function promiseRow(p: PromiseStanding): Html {
  return html`<tr>
<th scope="row"><a href="${`#${anchor(p.id)}`}">${p.id}</a></th>
<td>${p.promise}</td>
<td>${verdictBadge(p.verdict, PROMISE_VERDICT[p.verdict])}</td>
${FRAMEWORKS.map((f) => html`<td>${references(p.frameworks[f.key])}</td>`)}
</tr>`
}

function promiseDetail(p: PromiseStanding): Html {
  return html`<section aria-labelledby="${anchor(p.id)}">
<h3 id="${anchor(p.id)}">${p.id}: ${p.promise}</h3>
<p>${verdictBadge(p.verdict, PROMISE_VERDICT[p.verdict])} <span class="muted">Enforced by: ${p.enforcedBy}</span></p>
${p.checks.length > 0 ? p.checks.map(checkHtml) : html`<p class="muted">No check applies to this promise yet.</p>`}
</section>`
}

/**
 * The compliance report (`custodian-compliance-report/v1`) as one self-contained HTML5
 * document (P5.4): the header (org, generation time, scope, report id, service), the summary
 * counts, then per area a table of its promises (id, promise, verdict, SOC 2 / ISO/IEC 27001 /
 * GDPR references) followed by each promise's checks with their verdict, summary, evidence,
 * run time and the time the verdict last changed. Pure: the same report gives the same string.
 */
export function reportHtml(report: ComplianceReport): string {
  const { summary } = report
  const title = `Compliance report: ${report.org.name}`
  return page(
    title,
    html`<header>
<h1>Compliance report</h1>
<dl class="meta">
<dt>Organisation</dt><dd>${report.org.name}</dd>
<dt>Generated</dt><dd>${time(report.generatedAt)}</dd>
<dt>Scope</dt><dd>${scopeText(report.scope)}</dd>
<dt>Report ID</dt><dd><code>${report.reportId}</code></dd>
<dt>Service</dt><dd>${report.service.publicUrl} (Custodian ${report.service.version})</dd>
<dt>Format</dt><dd><code>${report.format}</code></dd>
</dl>
</header>
<main>
<section aria-labelledby="summary">
<h2 id="summary">Summary</h2>
<table>
<caption>Promises and checks by verdict</caption>
<thead><tr><th scope="col">Kind</th><th scope="col">Met or pass</th><th scope="col">Not met or fail</th><th scope="col">Not applicable</th></tr></thead>
<tbody>
<tr><th scope="row">Promises</th><td>${summary.promises.met} met</td><td>${summary.promises.notMet} not met</td><td>${summary.promises.notApplicable} not applicable</td></tr>
<tr><th scope="row">Checks</th><td>${summary.checks.pass} pass</td><td>${summary.checks.fail} fail</td><td>${summary.checks.notApplicable} not applicable</td></tr>
</tbody>
</table>
<p class="muted">References: ${FRAMEWORKS.map((f) => f.long).join('; ')}.</p>
</section>
${byArea(report.promises).map(
  (group, i) => html`<section aria-labelledby="${`area-${i + 1}`}">
<h2 id="${`area-${i + 1}`}">${group.area}</h2>
<table>
<caption>${group.area}: promises and their standing</caption>
<thead><tr><th scope="col">ID</th><th scope="col">Promise</th><th scope="col">Verdict</th>${FRAMEWORKS.map((f) => html`<th scope="col">${f.short}</th>`)}</tr></thead>
<tbody>
${group.promises.map(promiseRow)}
</tbody>
</table>
${group.promises.map(promiseDetail)}
</section>`,
)}
</main>`,
  )
}

/**
 * The living security policy (`custodian-security-policy/v1`, P10.1) as one self-contained
 * HTML5 document: its sections as prose, each statement followed by the promise it states and
 * its verdict; a statement whose promise is not met is marked "Not currently met" in words.
 * Pure: the same policy gives the same string.
 */
export function policyHtml(policy: SecurityPolicy): string {
  return page(
    `Security policy: ${policy.org.name}`,
    html`<header>
<h1>Security policy</h1>
<dl class="meta">
<dt>Organisation</dt><dd>${policy.org.name}</dd>
<dt>Generated</dt><dd>${time(policy.generatedAt)}</dd>
<dt>Service</dt><dd>${policy.service.publicUrl} (Custodian ${policy.service.version})</dd>
</dl>
<p class="muted">Each statement is written from the running configuration and names the promise it states with the current verdict of that promise's checks. A statement whose checks fail is marked “Not currently met”.</p>
</header>
<main>
${policy.sections.map(
  (section) => html`<section aria-labelledby="${`section-${section.id}`}">
<h2 id="${`section-${section.id}`}">${section.heading}</h2>
${section.statements.map(
  (s) => html`<div class="${`statement ${s.verdict}`}">
<p>${s.verdict === 'not_met' ? html`<strong class="flag">Not currently met:</strong> ` : ''}${s.text}</p>
<p class="standing">Promise ${s.promise}: ${verdictBadge(s.verdict, STATEMENT_VERDICT[s.verdict])}${
    s.checks.length > 0 ? html` · checks ${s.checks.map((c, i) => html`${i > 0 ? ', ' : ''}<code>${c}</code>`)}` : ''
  }</p>
</div>`,
)}
</section>`,
)}
</main>`,
  )
}
