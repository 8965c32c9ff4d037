import type { Readable } from 'node:stream'
import { Busboy, type BusboyInstance } from '@fastify/busboy'
import { AppError } from '../../errors.ts'
import type { SubmitReport } from './reports.service.ts'

/**
 * The report form's multipart body (POST /report), read as it streams in with busboy — the
 * form parser Fastify's own multipart plugin is built on — so that a report refused for its
 * size comes back with everything the reporter typed: the text fields are kept whatever the
 * attachments weigh, and the attachments' bytes are kept only while within the limits.
 *
 * - A file past `attachmentMaxBytes`, or a body past `maxBytes`, is still read to its end
 *   (its bytes counted and dropped, never held), so the fields after the files (the
 *   reporter's name and address) are kept too; `oversize` then says what was too large, in
 *   the service's own words, and no attachment is kept.
 * - A body past `READ_CEILING` × `maxBytes` is not read further: the form cannot come back
 *   then (the connection is closed after the refusal).
 */
export interface ReportFormLimits {
  /** The whole form, in bytes (CUSTODIAN_REPORT_MAX_BYTES). */
  maxBytes: number
  /** One attachment, in bytes (CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES). */
  attachmentMaxBytes: number
}

export interface ReadReportForm {
  /** The form as the API's JSON body; blank optional fields left out. */
  body: SubmitReport
  /** Set when an attachment or the whole form was too large: the 413's detail. */
  oversize?: string
}

/** How far past the form's limit a body is read to give the reporter's text back: 4 × `maxBytes`. */
export const READ_CEILING = 4

/** What Fastify says of a body over a route's limit; the pages put it in a reader's words. */
export const BODY_TOO_LARGE = 'the request body is larger than this server accepts'

const FILENAME_CHARS = /[^A-Za-z0-9._ -]/g
const CONTENT_TYPE = /^[a-z]+\/[a-z0-9.+-]+$/
/** A text field's longest value (the API's longest field is 20,000 characters). */
const FIELD_MAX_BYTES = 256 * 1024

/**
 * Reads a report form from `stream` (the request's body, of type `contentType`). Rejects
 * with AppError `BAD_REQUEST` (400) when the body is not a readable multipart form or a
 * field is too long, `PAYLOAD_TOO_LARGE` (413) when it runs past the read ceiling.
 */
export function readReportForm(
  stream: Readable,
  contentType: string,
  limits: ReportFormLimits,
): Promise<ReadReportForm> {
  return new Promise((resolve, reject) => {
    let settled = false
    const fail = (code: 'BAD_REQUEST' | 'PAYLOAD_TOO_LARGE', message: string) => {
      if (settled) return
      settled = true
      stream.unpipe()
      stream.resume()
      reject(new AppError(code, message))
    }
    let busboy: BusboyInstance
    try {
      busboy = Busboy({
        headers: { 'content-type': contentType },
        limits: { fieldSize: FIELD_MAX_BYTES, fields: 50, parts: 100 },
      })
    } catch {
      fail('BAD_REQUEST', 'the form could not be read')
      return
    }
    const fields = new Map<string, string>()
    const files: { name: string; type: string; chunks: Buffer[] }[] = []
    let read = 0
    let oversize: string | undefined
    const tooLarge = (message: string) => {
      oversize ??= message
      files.length = 0
    }

    stream.on('data', (chunk: Buffer) => {
      read += chunk.length
      if (read > limits.maxBytes) tooLarge(BODY_TOO_LARGE)
      if (read > READ_CEILING * limits.maxBytes) {
        busboy.destroy()
        fail('PAYLOAD_TOO_LARGE', BODY_TOO_LARGE)
      }
    })
    // A repeated name keeps its last value, as before.
    busboy.on('field', (name, value, _nameTruncated, valueTruncated) => {
      if (valueTruncated) fail('BAD_REQUEST', `the field ${name} is too long`)
      else fields.set(name, value)
    })
    busboy.on('file', (name, file, filename, _encoding, mimeType) => {
      // Only the attachments input carries files; an empty file input sends a nameless, empty part.
      if (name !== 'attachments') {
        file.resume()
        return
      }
      const index = files.length
      const kept = { name: filename, type: mimeType, chunks: [] as Buffer[] }
      let bytes = 0
      file.on('data', (chunk: Buffer) => {
        bytes += chunk.length
        if (oversize === undefined && bytes <= limits.attachmentMaxBytes) kept.chunks.push(chunk)
      })
      file.on('end', () => {
        if (filename === '' && bytes === 0) return
        if (bytes > limits.attachmentMaxBytes)
          tooLarge(
            `attachment ${index + 1} (${safeFilename(filename)}) is ${bytes} bytes; each may be at most ${limits.attachmentMaxBytes}`,
          )
        else if (oversize === undefined) files.push(kept)
      })
    })
    busboy.on('error', () => fail('BAD_REQUEST', 'the form could not be read'))
    busboy.on('fieldsLimit', () => fail('BAD_REQUEST', 'the form has too many fields'))
    busboy.on('partsLimit', () => fail('BAD_REQUEST', 'the form has too many parts'))
    busboy.on('finish', () => {
      if (settled) return
      settled = true
      const body = submissionOf(fields, oversize === undefined ? files : [])
      resolve(oversize === undefined ? { body } : { body, oversize })
    })
    stream.pipe(busboy)
  })
}

/** The form's fields as the API's body; blank optional fields are left out, as a form cannot omit them. */
function submissionOf(fields: Map<string, string>, files: { name: string; type: string; chunks: Buffer[] }[]) {
  const text = (name: string) => {
    const value = fields.get(name)
    return value === undefined || value === '' ? undefined : value
  }
  const body: Record<string, unknown> = {}
  for (const name of ['title', 'location', 'impact', 'steps', 'severity']) {
    const value = text(name)
    if (value !== undefined) body[name] = value
  }
  const reporter = {
    ...(text('name') === undefined ? {} : { name: text('name') }),
    ...(text('email') === undefined ? {} : { email: text('email') }),
    ...(fields.has('credit') ? { credit: true } : {}),
  }
  if (Object.keys(reporter).length > 0) body.reporter = reporter
  if (files.length > 0)
    body.attachments = files.map((file) => ({
      filename: safeFilename(file.name),
      contentType: CONTENT_TYPE.test(file.type) ? file.type : 'application/octet-stream',
      data: Buffer.concat(file.chunks).toString('base64'),
    }))
  return body as unknown as SubmitReport
}

/** A browser's file name made one the API accepts (letters, digits, `._ -`, no path), at most 120 characters. */
function safeFilename(name: string): string {
  const base = name.split(/[\\/]/).pop() ?? ''
  const cleaned = base
    .replace(FILENAME_CHARS, '_')
    .replace(/^[^A-Za-z0-9_]+/, '')
    .slice(0, 120)
  return cleaned === '' ? 'attachment' : cleaned
}
