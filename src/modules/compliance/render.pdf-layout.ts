import { readFileSync } from 'node:fs'
import { AppError } from '../../errors.ts'
import path from 'node:path'
import PDFDocument from 'pdfkit'

/**
 * The page layout of the compliance PDFs (render.pdf.ts), on PDFKit (foliojs/pdfkit): A4, page
 * numbers ("Page 2 of 5") in every footer, headings that never end a page alone, tables that
 * move a whole row to the next page rather than split or overlap it.
 *
 * Text is set in DejaVu Sans, embedded as a subset, because PDF's standard 14 fonts only
 * cover WinAnsi: typographic quotes, dashes, ellipses and org names in most scripts would
 * otherwise turn into wrong glyphs. The font comes from the Debian/Ubuntu package
 * fonts-dejavu-core, so a machine that renders PDFs needs it installed (a missing font is an
 * error that names the package, never a silent fallback that changes the bytes).
 *
 * Deterministic: the document's dates (Info CreationDate/ModDate, from which PDFKit also
 * derives the file ID) are the document's `generatedAt`, and nothing else reads a clock or a
 * random source, so the same input gives the same bytes.
 */

const FONT_DIR = '/usr/share/fonts/truetype/dejavu'
const FONT_FILES = { body: 'DejaVuSans.ttf', bold: 'DejaVuSans-Bold.ttf' } as const

let fonts: Record<keyof typeof FONT_FILES, Buffer> | undefined

function loadFonts(): Record<keyof typeof FONT_FILES, Buffer> {
  if (fonts) return fonts
  const read = (file: string): Buffer => {
    const full = path.join(FONT_DIR, file)
    try {
      return readFileSync(full)
    } catch (cause) {
      // A 503 that names the fix (the operator's), never the server's file paths.
      throw new AppError(
        'SERVICE_UNAVAILABLE',
        'PDF documents need the DejaVu Sans font, which is not installed where the service runs (the Debian/Ubuntu package fonts-dejavu-core); JSON and HTML work',
        {},
        { cause },
      )
    }
  }
  fonts = { body: read(FONT_FILES.body), bold: read(FONT_FILES.bold) }
  return fonts
}

export type Doc = PDFKit.PDFDocument

export const INK = '#1f2937'
export const MUTED = '#4b5563'
const RULE = '#9ca3af'
const HEAD_FILL = '#f3f4f6'
// Verdict colours repeat the words, never replace them (WCAG 2.2 SC 1.4.1); each is ≥ 7:1 on white.
export const COLOUR: Record<string, string> = {
  met: '#14532d',
  pass: '#14532d',
  not_met: '#991b1b',
  fail: '#991b1b',
  not_applicable: MUTED,
}
export const MARGIN = 56

/**
 * A new A4 document with its Info dictionary (title, subject, author = the org, dates =
 * `generatedAt`), the two DejaVu faces registered as `body` and `bold`, and `bytes`, which
 * resolves to the whole file once `finish` ends it. Throws when `generatedAt` is not a time or
 * the fonts are missing.
 */
export function createDoc(meta: {
  title: string
  subject: string
  org: string
  generatedAt: string
  version: string
}): {
  doc: Doc
  bytes: Promise<Buffer>
} {
  const date = new Date(meta.generatedAt)
  if (Number.isNaN(date.getTime())) throw new Error(`generatedAt is not an RFC 3339 time: ${meta.generatedAt}`)
  const doc = new PDFDocument({
    size: 'A4',
    margins: { top: MARGIN, bottom: MARGIN + 16, left: MARGIN, right: MARGIN },
    bufferPages: true,
    pdfVersion: '1.7',
    lang: 'en',
    displayTitle: true,
    info: {
      Title: meta.title,
      Subject: meta.subject,
      Author: meta.org,
      Creator: `Custodian ${meta.version}`,
      Producer: 'Custodian (PDFKit)',
      CreationDate: date,
      ModDate: date,
    },
  })
  const chunks: Buffer[] = []
  const bytes = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk))
    doc.on('end', () => resolve(Buffer.concat(chunks)))
    doc.on('error', reject)
  })
  const f = loadFonts()
  doc.registerFont('body', f.body)
  doc.registerFont('bold', f.bold)
  doc.font('body').fontSize(10).fillColor(INK)
  return { doc, bytes }
}

/** Writes "<title> · <org>" and "<time> · Page n of N" in every page's footer, then ends the document. */
export function finish(doc: Doc, footer: string, generatedAt: string, bytes: Promise<Buffer>): Promise<Buffer> {
  const { start, count } = doc.bufferedPageRange()
  for (let i = start; i < start + count; i++) {
    doc.switchToPage(i)
    const bottom = doc.page.margins.bottom
    // Below the bottom margin: without lifting it, PDFKit would start a new page for the footer.
    doc.page.margins.bottom = 0
    const y = doc.page.height - MARGIN + 8
    const width = doc.page.width - 2 * MARGIN
    doc.font('body').fontSize(7.5).fillColor(MUTED)
    doc.text(footer, MARGIN, y, { width: width - 190, lineBreak: false, height: 10, ellipsis: true })
    doc.text(`${generatedAt} · Page ${i + 1} of ${count}`, MARGIN, y, { width, align: 'right', lineBreak: false })
    doc.page.margins.bottom = bottom
  }
  doc.end()
  return bytes
}

/** Starts a new page when fewer than `height` points remain, so a heading never ends a page alone. */
export function ensureSpace(doc: Doc, height: number): void {
  if (doc.y + height > doc.page.maxY()) doc.addPage()
}

export function contentWidth(doc: Doc): number {
  return doc.page.width - doc.page.margins.left - doc.page.margins.right
}

export function heading(doc: Doc, text: string, size: number): void {
  ensureSpace(doc, size * 5)
  doc
    .moveDown(0.6)
    .font('bold')
    .fontSize(size)
    .fillColor(INK)
    .text(text, MARGIN, doc.y, { width: contentWidth(doc) })
  doc.moveDown(0.3).font('body')
}

/** "Label: value" lines, label in bold. */
export function fields(doc: Doc, rows: [string, string][], size: number, indent = 0): void {
  const width = contentWidth(doc) - indent
  for (const [label, value] of rows) {
    doc
      .font('bold')
      .fontSize(size)
      .fillColor(INK)
      .text(`${label}: `, MARGIN + indent, doc.y, { width, continued: true })
    doc.font('body').text(value)
  }
  doc.x = MARGIN
}

export function header(doc: Doc, title: string, rows: [string, string][]): void {
  doc.font('bold').fontSize(22).fillColor(INK).text(title, MARGIN, MARGIN)
  doc.moveDown(0.5)
  fields(doc, rows, 10)
}

export type Cell = PDFKit.Mixins.CellOptions

export const td = (text: string): Cell => ({ text, font: { src: 'body' } })
export const th = (text: string): Cell => ({ text, type: 'TH', font: { src: 'bold' }, backgroundColor: HEAD_FILL })
export const verdictCell = (verdict: string, words: string): Cell => ({
  text: words,
  font: { src: 'bold' },
  textColor: COLOUR[verdict] ?? INK,
})

/**
 * About how tall a table will be (its tallest cell per row, plus padding), so that a table that
 * fits on a page starts on one that has room for all of it: PDFKit moves a row that does not
 * fit to the next page but does not repeat the header row there.
 */
function tableHeight(doc: Doc, columns: (number | string)[], rows: Cell[][], size: number): number {
  const fixed = columns.reduce<number>((sum, c) => sum + (typeof c === 'number' ? c : 0), 0)
  const flexible = columns.filter((c) => typeof c !== 'number').length
  const widths = columns.map((c) => (typeof c === 'number' ? c : (contentWidth(doc) - fixed) / flexible) - 8)
  let height = 0
  for (const row of rows) {
    let tallest = 0
    for (const [i, cell] of row.entries()) {
      doc.font(cell.font?.src === 'bold' ? 'bold' : 'body').fontSize(size)
      tallest = Math.max(tallest, doc.heightOfString(cell.text ?? '', { width: widths[i] ?? 0 }))
    }
    height += tallest + 7
  }
  return Math.min(height, doc.page.maxY() - doc.page.margins.top)
}

/** A table whose cells each name their font (td, th, verdictCell); rows move whole to the next page. */
export function table(doc: Doc, columns: (number | string)[], rows: Cell[][], size: number): void {
  ensureSpace(doc, tableHeight(doc, columns, rows, size))
  // PDFKit's table measures each cell in the cell's font, then restores the font it found by
  // that font's source. A registered TrueType font's source is its bytes, which PDFKit does
  // not look up in its cache: it parsed the whole font again for every cell (≈4 s for this
  // report). A standard font's name it finds at once, so the table starts from one, and every
  // cell names its own font.
  doc.font('Helvetica').fontSize(size).fillColor(INK)
  doc.table({
    position: { x: MARGIN, y: doc.y },
    maxWidth: contentWidth(doc),
    columnStyles: columns,
    defaultStyle: { border: 0.5, borderColor: RULE, padding: [3, 4, 3, 4] },
    data: rows,
  })
  doc.font('body').x = MARGIN
  doc.moveDown(0.5)
}
