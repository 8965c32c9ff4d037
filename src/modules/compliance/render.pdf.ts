import type { CheckResult, ComplianceReport, PromiseStanding, SecurityPolicy } from './compliance.types.ts'
import {
  COLOUR,
  contentWidth,
  createDoc,
  type Doc,
  ensureSpace,
  fields,
  finish,
  header,
  heading,
  INK,
  MARGIN,
  MUTED,
  table,
  td,
  th,
  verdictCell,
} from './render.pdf-layout.ts'
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

/**
 * The compliance report and the living security policy as PDF (P5.4, P10.1): what each holds
 * and in which order; the page layout (A4, DejaVu Sans, footers, tables, determinism) is
 * render.pdf-layout.ts's.
 */

function checkBlock(doc: Doc, c: CheckResult): void {
  const width = contentWidth(doc) - 10
  // Kept on one page when it fits: title, verdict and summary, one line per evidence entry, the run line.
  const evidenceLines = Object.keys(c.evidence).length
  doc.font('body').fontSize(9)
  ensureSpace(
    doc,
    12 + doc.heightOfString(`${CHECK_VERDICT[c.verdict]}. ${c.summary}`, { width }) + 10 * evidenceLines + 24,
  )
  doc
    .font('bold')
    .fontSize(9)
    .fillColor(INK)
    .text(c.title, MARGIN + 10, doc.y, { width })
  doc
    .font('bold')
    .fillColor(COLOUR[c.verdict] ?? INK)
    .text(`${CHECK_VERDICT[c.verdict]}. `, { width, continued: true })
    .font('body')
    .fillColor(INK)
    .text(c.summary)
  const evidence = Object.entries(c.evidence)
  if (evidence.length > 0)
    fields(
      doc,
      evidence.map(([k, v]) => [k, evidenceText(v)]),
      8,
      22,
    )
  doc.font('body').fontSize(7.5).fillColor(MUTED)
  doc.text(
    `Check ${c.check} (${c.scope === 'service' ? 'service-wide' : 'this organisation'}) · ran at ${c.ranAt} · verdict since ${c.since}`,
    MARGIN + 10,
    doc.y,
    { width },
  )
  doc.x = MARGIN
  doc.moveDown(0.6)
}

function promiseChecks(doc: Doc, p: PromiseStanding): void {
  ensureSpace(doc, 60)
  doc.font('bold').fontSize(10).fillColor(INK).text(`${p.id} `, MARGIN, doc.y, { continued: true })
  doc.fillColor(COLOUR[p.verdict] ?? INK).text(PROMISE_VERDICT[p.verdict], { continued: true })
  doc.font('body').fillColor(MUTED).text(` · enforced by: ${p.enforcedBy}`)
  doc.moveDown(0.3)
  if (p.checks.length === 0) {
    doc
      .font('body')
      .fontSize(8.5)
      .fillColor(MUTED)
      .text('No check applies to this promise yet.', MARGIN + 10)
    doc.x = MARGIN
    doc.moveDown(0.6)
  }
  for (const c of p.checks) checkBlock(doc, c)
}

/**
 * The compliance report as a PDF (P5.4): a title page (org, generation time, scope, report id,
 * service, the summary counts and the promises not met), then per area a table of promises
 * (id, promise, verdict, SOC 2 / ISO/IEC 27001 / GDPR references) and each promise's checks
 * (verdict, summary, evidence, run time, verdict since). Resolves to the file's bytes; rejects
 * when DejaVu Sans is not installed (fonts-dejavu-core).
 */
export function reportPdf(report: ComplianceReport): Promise<Buffer> {
  const { doc, bytes } = createDoc({
    title: `Compliance report: ${report.org.name}`,
    subject: `${report.format} ${report.reportId}`,
    org: report.org.name,
    generatedAt: report.generatedAt,
    version: report.service.version,
  })
  const s = report.summary
  header(doc, 'Compliance report', [
    ['Organisation', report.org.name],
    ['Generated', report.generatedAt],
    ['Scope', scopeText(report.scope)],
    ['Report ID', report.reportId],
    ['Service', `${report.service.publicUrl} (Custodian ${report.service.version})`],
    ['Format', report.format],
  ])
  heading(doc, 'Summary', 14)
  table(
    doc,
    [90, '*', '*', '*'],
    [
      [th('Kind'), th('Met or pass'), th('Not met or fail'), th('Not applicable')],
      [
        th('Promises'),
        td(`${s.promises.met} met`),
        td(`${s.promises.notMet} not met`),
        td(`${s.promises.notApplicable} not applicable`),
      ],
      [
        th('Checks'),
        td(`${s.checks.pass} pass`),
        td(`${s.checks.fail} fail`),
        td(`${s.checks.notApplicable} not applicable`),
      ],
    ],
    10,
  )
  const notMet = report.promises.filter((p) => p.verdict === 'not_met').map((p) => p.id)
  fields(doc, [['Promises not met', notMet.length > 0 ? notMet.join(', ') : 'none']], 10)
  doc.moveDown(0.5).font('body').fontSize(8.5).fillColor(MUTED)
  doc.text(`References: ${FRAMEWORKS.map((f) => f.long).join('; ')}.`, MARGIN, doc.y, { width: contentWidth(doc) })

  for (const [i, group] of byArea(report.promises).entries()) {
    if (i === 0) doc.addPage()
    heading(doc, group.area, 14)
    doc.outline.addItem(group.area)
    table(
      doc,
      [40, '*', 62, 58, 58, 50],
      [
        [th('ID'), th('Promise'), th('Verdict'), ...FRAMEWORKS.map((f) => th(f.short))],
        ...group.promises.map((p) => [
          { text: p.id, font: { src: 'bold' } },
          td(p.promise),
          verdictCell(p.verdict, PROMISE_VERDICT[p.verdict]),
          ...FRAMEWORKS.map((f) => td(references(p.frameworks[f.key]))),
        ]),
      ],
      8.5,
    )
    for (const p of group.promises) promiseChecks(doc, p)
  }
  return finish(doc, `Compliance report · ${clip(report.org.name)}`, report.generatedAt, bytes)
}

/**
 * The living security policy as a PDF (P10.1): a header (org, generation time, service), then
 * each section's statements as prose, each followed by its promise id and verdict; a statement
 * whose promise is not met is preceded by "Not currently met" in words. Resolves to the file's
 * bytes; rejects when DejaVu Sans is not installed (fonts-dejavu-core).
 */
export function policyPdf(policy: SecurityPolicy): Promise<Buffer> {
  const { doc, bytes } = createDoc({
    title: `Security policy: ${policy.org.name}`,
    subject: policy.format,
    org: policy.org.name,
    generatedAt: policy.generatedAt,
    version: policy.service.version,
  })
  header(doc, 'Security policy', [
    ['Organisation', policy.org.name],
    ['Generated', policy.generatedAt],
    ['Service', `${policy.service.publicUrl} (Custodian ${policy.service.version})`],
  ])
  doc.moveDown(0.5).font('body').fontSize(8.5).fillColor(MUTED)
  doc.text(
    'Each statement is written from the running configuration and names the promise it states with the current verdict of that promise’s checks. A statement whose checks fail is marked “Not currently met”.',
    MARGIN,
    doc.y,
    { width: contentWidth(doc) },
  )
  for (const section of policy.sections) {
    heading(doc, section.heading, 14)
    doc.outline.addItem(section.heading)
    for (const s of section.statements) {
      ensureSpace(doc, 44)
      const width = contentWidth(doc)
      if (s.verdict === 'not_met')
        doc
          .font('bold')
          .fontSize(9)
          .fillColor(COLOUR.not_met ?? INK)
          .text('Not currently met', MARGIN, doc.y, { width })
      doc.font('body').fontSize(10).fillColor(INK).text(s.text, MARGIN, doc.y, { width })
      doc.font('body').fontSize(8).fillColor(MUTED).text(`Promise ${s.promise}: `, { width, continued: true })
      doc
        .font('bold')
        .fillColor(COLOUR[s.verdict] ?? INK)
        .text(STATEMENT_VERDICT[s.verdict], { continued: s.checks.length > 0 })
      if (s.checks.length > 0)
        doc
          .font('body')
          .fillColor(MUTED)
          .text(` · checks ${s.checks.join(', ')}`)
      doc.moveDown(0.7)
    }
  }
  return finish(doc, `Security policy · ${clip(policy.org.name)}`, policy.generatedAt, bytes)
}

/** An org name short enough for a footer line. */
function clip(name: string): string {
  return name.length > 60 ? `${name.slice(0, 59)}…` : name
}
