import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, describe, it } from 'node:test'
import { PROMISES } from './catalogue.ts'
import type {
  CheckResult,
  ComplianceReport,
  PromiseStanding,
  PromiseVerdict,
  SecurityPolicy,
  Verdict,
} from './compliance.types.ts'
import { policyHtml, policyPdf, reportHtml, reportPdf } from './render.ts'

const HOSTILE_ORG = '<script>alert("org")</script> & Co’s “Trust” — Zürich Ελλάδα…'
const HOSTILE_EVIDENCE = '<img src=x onerror=alert(1)>'
const GENERATED = '2026-03-14T09:26:53Z'

function check(promise: string, name: string, verdict: Verdict, extra: Partial<CheckResult> = {}): CheckResult {
  return {
    check: `${promise.toLowerCase()}/${name}`,
    promise,
    scope: name.startsWith('service') ? 'service' : 'org',
    title: `The ${name.replaceAll('-', ' ')} check holds for ${promise}`,
    verdict,
    summary:
      verdict === 'fail'
        ? `3 of 12 “members” lack a second factor — the org’s rule requires one…`
        : `All 12 items comply; none is “stale” — checked in 40 ms.`,
    evidence: {
      total: 12,
      failing: verdict === 'fail' ? 3 : 0,
      enforced: verdict !== 'fail',
      lastRotation: null,
      ids: ['k-1', 'k-2', 'k-3'],
      algorithms: ['AES-256-GCM', 'Ed25519'],
    },
    ranAt: '2026-03-14T09:20:00Z',
    since: '2026-03-01T00:00:00Z',
    ...extra,
  }
}

/** Every promise of the catalogue (46), with a mix of verdicts: every 5th not met, every 7th with no check. */
function buildReport(orgName = HOSTILE_ORG): ComplianceReport {
  const promises: PromiseStanding[] = PROMISES.map((entry, i) => {
    let checks: CheckResult[]
    let verdict: PromiseVerdict
    if (i % 5 === 0) {
      checks = [check(entry.id, 'service-config', 'pass'), check(entry.id, 'members-without-2fa', 'fail')]
      verdict = 'not_met'
    } else if (i % 7 === 3) {
      checks = [check(entry.id, 'nothing-configured', 'not_applicable')]
      verdict = 'not_applicable'
    } else {
      checks = [check(entry.id, 'service-config', 'pass'), check(entry.id, 'org-settings', 'pass')]
      verdict = 'met'
    }
    return { ...entry, verdict, checks }
  })
  const first = promises[1]
  assert.ok(first)
  first.checks[0] = check(first.id, 'service-hostile', 'pass', {
    evidence: { note: HOSTILE_EVIDENCE, count: 1 },
  })
  const all = promises.flatMap((p) => p.checks)
  return {
    format: 'custodian-compliance-report/v1',
    reportId: 'rep_01HZX3J9Q4',
    scope: 'org',
    org: { id: 'org_1', name: orgName },
    generatedAt: GENERATED,
    service: { publicUrl: 'https://custodian.example.com', version: '0.1.0' },
    summary: {
      promises: {
        met: promises.filter((p) => p.verdict === 'met').length,
        notMet: promises.filter((p) => p.verdict === 'not_met').length,
        notApplicable: promises.filter((p) => p.verdict === 'not_applicable').length,
      },
      checks: {
        pass: all.filter((c) => c.verdict === 'pass').length,
        fail: all.filter((c) => c.verdict === 'fail').length,
        notApplicable: all.filter((c) => c.verdict === 'not_applicable').length,
      },
    },
    promises,
  }
}

function buildPolicy(): SecurityPolicy {
  const statement = (text: string, promise: string, verdict: PromiseVerdict) => ({
    text,
    promise,
    verdict,
    checks: [`${promise.toLowerCase()}/live-check`],
  })
  return {
    format: 'custodian-security-policy/v1',
    org: { id: 'org_1', name: HOSTILE_ORG },
    generatedAt: GENERATED,
    service: { publicUrl: 'https://custodian.example.com', version: '0.1.0' },
    sections: [
      {
        id: 'encryption',
        heading: 'Encryption',
        statements: [
          statement(
            'Customers’ credentials are encrypted with AES-256-GCM under a root key held in a “local key” provider.',
            'P1.1',
            'met',
          ),
          statement(
            'Database credentials are rotated every 30 days — the last rotation was 4 days ago.',
            'P1.6',
            'not_met',
          ),
        ],
      },
      {
        id: 'authentication',
        heading: 'Authentication',
        statements: [
          statement('Every member signs in with a second factor (TOTP or a passkey)…', 'P3.2', 'not_met'),
          statement(`Sessions expire after 12 hours of inactivity. ${HOSTILE_EVIDENCE}`, 'P3.4', 'met'),
        ],
      },
      {
        id: 'disclosure',
        heading: 'Vulnerability disclosure',
        statements: [statement('A signed security.txt names where to report.', 'P10.3', 'not_applicable')],
      },
    ],
  }
}

/** h1…h6 levels in document order. */
function headingLevels(html: string): number[] {
  return [...html.matchAll(/<h([1-6])[\s>]/g)].map((m) => Number(m[1]))
}

function assertSelfContained(html: string): void {
  assert.match(html, /^<!doctype html>\n<html lang="en">/)
  assert.match(html, /<meta charset="utf-8">/)
  assert.match(html, /<title>[^<]+<\/title>/)
  assert.doesNotMatch(html, /<script/i, 'no script: none of ours, none from data')
  assert.doesNotMatch(html, /<(link|img|iframe|object|embed)\b/i, 'no external resource')
  assert.doesNotMatch(html, /url\(|@import/i, 'no resource loaded by CSS')
  assert.doesNotMatch(html, /<[^>]*\s(src|srcset|action|href)="(?!#)/i, 'no resource or link outside the document')
  assert.equal((html.match(/<style>/g) ?? []).length, 1)
  const levels = headingLevels(html)
  assert.equal(levels[0], 1)
  for (let i = 1; i < levels.length; i++)
    assert.ok((levels[i] ?? 0) <= (levels[i - 1] ?? 0) + 1, `heading levels skip: h${levels[i - 1]} → h${levels[i]}`)
}

describe('compliance report as HTML (P5.4)', () => {
  const report = buildReport()
  const html = reportHtml(report)

  it('P5.4: is one self-contained HTML5 document, no script or external resource, headings in order', () => {
    assertSelfContained(html)
    assert.match(html, /<th scope="col">ID<\/th>/)
    assert.match(html, /<th scope="row"><a href="#promise-p1-1">P1\.1<\/a><\/th>/)
  })

  it('P5.4: escapes every value, the org name and evidence included', () => {
    assert.ok(html.includes('&lt;script&gt;alert(&quot;org&quot;)&lt;/script&gt; &amp; Co’s “Trust”'))
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'))
    assert.ok(!html.includes(HOSTILE_EVIDENCE))
  })

  it('P5.4: names every promise with its verdict in words, references and checks', () => {
    for (const p of report.promises) assert.ok(html.includes(`>${p.id}</a></th>`), p.id)
    for (const words of ['Met', 'Not met', 'Not applicable', 'Pass', 'Fail'])
      assert.match(html, new RegExp(`<span class="verdict [a-z_]+">${words}</span>`), words)
    assert.ok(html.includes('<td>CC6.1</td><td>8.24</td><td>Art. 32</td>'), 'P1.1 references')
    assert.ok(html.includes('<dt>ids</dt><dd>k-1, k-2, k-3</dd>'), 'a list is joined')
    assert.ok(html.includes('<dt>lastRotation</dt><dd>none</dd>'))
    assert.ok(html.includes('<time datetime="2026-03-14T09:20:00Z">'))
    assert.ok(html.includes(`<td>${report.summary.promises.notMet} not met</td>`))
    assert.ok(html.includes(`<td>${report.summary.checks.pass} pass</td>`))
  })
})

describe('living security policy as HTML (P10.1)', () => {
  const policy = buildPolicy()
  const html = policyHtml(policy)

  it('P10.1: is one self-contained document with a section per heading', () => {
    assertSelfContained(html)
    for (const s of policy.sections) assert.ok(html.includes(`<h2 id="section-${s.id}">${s.heading}</h2>`))
  })

  it('P10.1: follows each statement with its promise and verdict, marks the failing ones "Not currently met"', () => {
    for (const s of policy.sections.flatMap((x) => x.statements)) assert.ok(html.includes(`Promise ${s.promise}:`))
    const notMet = [...html.matchAll(/<div class="statement not_met">[\s\S]*?<\/div>/g)].map((m) => m[0])
    assert.equal(notMet.length, 2)
    for (const block of notMet) {
      assert.ok(block.includes('<strong class="flag">Not currently met:</strong>'), block)
      assert.ok(block.includes('<span class="verdict not_met">Not currently met</span>'), block)
    }
    assert.ok(!html.includes(HOSTILE_EVIDENCE))
    assert.ok(html.includes('&lt;script&gt;'))
  })
})

/** A PDF opened by Poppler, independently of PDFKit: page count, text, and each page as a greyscale image. */
interface Opened {
  pages: number
  text: string
  /** Per page: text lines as boxes (points), from pdftotext -bbox-layout. */
  lines: { page: number; x0: number; y0: number; x1: number; y1: number; text: string }[]
  pageHeight: number
  /** Per page: the share of non-white pixels above the footer. */
  ink: number[]
}

function openPdf(dir: string, name: string, bytes: Buffer): Opened {
  const file = path.join(dir, `${name}.pdf`)
  writeFileSync(file, bytes)
  const info = execFileSync('pdfinfo', [file], { encoding: 'utf8' })
  const pages = Number(/^Pages:\s+(\d+)$/m.exec(info)?.[1])
  const text = execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' })
  const xhtml = execFileSync('pdftotext', ['-bbox-layout', '-enc', 'UTF-8', file, '-'], { encoding: 'utf8' })
  const lines: Opened['lines'] = []
  let pageHeight = 0
  for (const [i, pageXml] of xhtml
    .split(/<page /)
    .slice(1)
    .entries()) {
    pageHeight = Number(/height="([\d.]+)"/.exec(pageXml)?.[1])
    for (const m of pageXml.matchAll(
      /<line xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([\s\S]*?)<\/line>/g,
    ))
      lines.push({
        page: i + 1,
        x0: Number(m[1]),
        y0: Number(m[2]),
        x1: Number(m[3]),
        y1: Number(m[4]),
        text: (m[5] ?? '')
          .replace(/<[^>]+>/g, ' ')
          .replace(/\s+/g, ' ')
          .trim(),
      })
  }
  execFileSync('pdftoppm', ['-gray', '-r', '50', file, path.join(dir, name)])
  const images = readdirSync(dir)
    .filter((f) => f.startsWith(`${name}-`) && f.endsWith('.pgm'))
    .sort()
  const ink = images.map((f) => {
    const { width, height, pixels } = readPgm(readFileSync(path.join(dir, f)))
    // Above the footer (its last 8 %), so a page holding only the page number counts as blank.
    const rows = Math.floor(height * 0.92)
    let dark = 0
    for (let i = 0; i < rows * width; i++) if ((pixels[i] ?? 255) < 200) dark++
    return dark / (rows * width)
  })
  return { pages, text, lines, pageHeight, ink }
}

/** A binary PGM (P5, Netpbm), as pdftoppm -gray writes it: header "P5 width height maxval", one byte a pixel. */
function readPgm(data: Buffer): { width: number; height: number; pixels: Buffer } {
  const header = /^P5\s+(\d+)\s+(\d+)\s+(\d+)\s/.exec(data.subarray(0, 64).toString('latin1'))
  assert.ok(header, 'a binary PGM')
  const [width, height, maxval] = header.slice(1).map(Number) as [number, number, number]
  assert.equal(maxval, 255)
  const pixels = data.subarray(header[0].length)
  assert.equal(pixels.length, width * height)
  return { width, height, pixels }
}

/** No two text lines on a page overlap (a row moved to the next page, never drawn over another). */
function assertNoOverlap(opened: Opened): void {
  const tolerance = 0.5
  for (let page = 1; page <= opened.pages; page++) {
    const lines = opened.lines.filter((l) => l.page === page)
    for (const l of lines) assert.ok(l.y1 <= opened.pageHeight, `page ${page}: "${l.text}" runs off the page`)
    for (let i = 0; i < lines.length; i++)
      for (let j = i + 1; j < lines.length; j++) {
        const a = lines[i]
        const b = lines[j]
        if (!a || !b) continue
        const overlap =
          Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0) > tolerance &&
          Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0) > tolerance
        assert.ok(!overlap, `page ${page}: "${a.text}" overlaps "${b.text}"`)
      }
  }
}

function assertPagesAndInk(opened: Opened, minimumPages: number): void {
  assert.ok(opened.pages >= minimumPages, `${opened.pages} pages`)
  assert.equal(opened.ink.length, opened.pages, 'one image a page')
  for (const [i, share] of opened.ink.entries()) assert.ok(share > 0.002, `page ${i + 1} is blank (${share})`)
  for (let n = 1; n <= opened.pages; n++) assert.ok(opened.text.includes(`Page ${n} of ${opened.pages}`), `footer ${n}`)
}

describe('compliance report and security policy as PDF, opened with Poppler (P5.4, P10.1)', () => {
  let dir = ''
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'custodian-render-'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('P5.4: the report PDF has every promise, its verdict in words, page numbers and no overlapping text', async () => {
    const report = buildReport()
    const bytes = await reportPdf(report)
    assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-')
    const opened = openPdf(dir, 'report', bytes)
    assertPagesAndInk(opened, 5)
    for (const p of report.promises) assert.match(opened.text, new RegExp(`\\b${p.id.replace('.', '\\.')}\\b`), p.id)
    for (const words of ['Not met', 'Met', 'Not applicable', 'Pass', 'Fail', 'Compliance report'])
      assert.ok(opened.text.includes(words), words)
    assert.ok(
      opened.text.includes(
        `Promises not met: ${report.promises
          .filter((p) => p.verdict === 'not_met')
          .map((p) => p.id)
          .join(', ')}`,
      ),
    )
    // Typographic characters and non-Latin script survive as themselves (an embedded Unicode font, with ToUnicode).
    assert.ok(opened.text.includes(HOSTILE_ORG), 'the org name, exactly')
    for (const ch of ['“', '”', '’', '—', '…']) assert.ok(opened.text.includes(ch), ch)
    assert.ok(!opened.text.includes('\uFFFD'))
    assert.ok(opened.text.includes(HOSTILE_EVIDENCE), 'evidence is text in a PDF, shown as it is')
    assertNoOverlap(opened)
    const info = execFileSync('pdfinfo', ['-isodates', path.join(dir, 'report.pdf')], { encoding: 'utf8' })
    assert.match(info, /CreationDate:\s+2026-03-14T09:26:53Z/)
  })

  it('P5.4: the same report gives the same bytes (dates from generatedAt, nothing random)', async () => {
    const [a, b] = await Promise.all([reportPdf(buildReport('Acme')), reportPdf(buildReport('Acme'))])
    assert.ok(a.equals(b))
    const other = await reportPdf({ ...buildReport('Acme'), generatedAt: '2026-03-15T00:00:00Z' })
    assert.ok(!a.equals(other), 'a different report, different bytes')
  })

  it('P10.1: the policy PDF has each statement with its promise, the failing ones "Not currently met"', async () => {
    const policy = buildPolicy()
    const bytes = await policyPdf(policy)
    assert.equal(bytes.subarray(0, 5).toString('latin1'), '%PDF-')
    const opened = openPdf(dir, 'policy', bytes)
    assertPagesAndInk(opened, 1)
    const flat = opened.text.replace(/\s+/g, ' ')
    for (const s of policy.sections.flatMap((x) => x.statements))
      assert.ok(flat.includes(`Promise ${s.promise}: `), s.promise)
    assert.equal(flat.match(/Promise P\d+\.\d+: Not currently met/g)?.length, 2)
    assert.ok(flat.includes('Not currently met Database credentials are rotated every 30 days — the last rotation'))
    assert.ok(
      flat.includes(
        'Customers’ credentials are encrypted with AES-256-GCM under a root key held in a “local key” provider.',
      ),
    )
    for (const s of policy.sections) assert.ok(flat.includes(s.heading))
    assertNoOverlap(opened)
    const again = await policyPdf(policy)
    assert.ok(bytes.equals(again), 'the same policy gives the same bytes')
  })
})
