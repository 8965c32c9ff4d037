import assert from 'node:assert/strict'
import { Readable } from 'node:stream'
import { describe, it } from 'node:test'
import { isAppError } from '../../errors.ts'
import { BODY_TOO_LARGE, READ_CEILING, readReportForm } from './disclosure.form.ts'

const LIMITS = { maxBytes: 64 * 1024, attachmentMaxBytes: 16 * 1024 }

/** A browser's multipart body for these fields and files, as bytes and its content type. */
async function multipart(entries: [string, string | { name: string; bytes: number }][]) {
  const form = new FormData()
  for (const [name, value] of entries)
    form.append(name, typeof value === 'string' ? value : new File([Buffer.alloc(value.bytes, 7)], value.name))
  const response = new Response(form)
  return {
    type: response.headers.get('content-type') ?? '',
    body: Buffer.from(await response.arrayBuffer()),
  }
}

/** The body in chunks of 8 KiB, as a socket delivers it. */
function streamOf(body: Buffer): Readable {
  const chunks: Buffer[] = []
  for (let i = 0; i < body.length; i += 8192) chunks.push(body.subarray(i, i + 8192))
  return Readable.from(chunks)
}

const TEXT: [string, string][] = [
  ['title', 'XSS in the widget'],
  ['location', 'https://app.example/widget'],
  ['impact', 'Session theft'],
  ['steps', '1. open 2. paste'],
  ['severity', ''],
]

describe('the report form, read as it streams (disclosure.form.ts)', () => {
  it('gives the fields and the attachments as the API body, leaving blank optional fields out', async () => {
    const { type, body } = await multipart([
      ...TEXT,
      ['attachments', { name: '../poc shot.png', bytes: 1000 }],
      ['email', 'finder@example.org'],
      ['credit', 'on'],
    ])
    const read = await readReportForm(streamOf(body), type, LIMITS)
    assert.equal(read.oversize, undefined)
    assert.deepEqual(read.body, {
      title: 'XSS in the widget',
      location: 'https://app.example/widget',
      impact: 'Session theft',
      steps: '1. open 2. paste',
      reporter: { email: 'finder@example.org', credit: true },
      attachments: [
        {
          filename: 'poc shot.png',
          contentType: 'application/octet-stream',
          data: Buffer.alloc(1000, 7).toString('base64'),
        },
      ],
    })
  })

  it('keeps every field, those after the files too, when a file is over its limit, and names the file', async () => {
    const { type, body } = await multipart([
      ...TEXT,
      ['attachments', { name: 'big.bin', bytes: LIMITS.attachmentMaxBytes + 1 }],
      ['email', 'finder@example.org'],
    ])
    const read = await readReportForm(streamOf(body), type, LIMITS)
    assert.equal(
      read.oversize,
      `attachment 1 (big.bin) is ${LIMITS.attachmentMaxBytes + 1} bytes; each may be at most 16384`,
    )
    assert.equal(read.body.title, 'XSS in the widget')
    assert.equal(read.body.reporter?.email, 'finder@example.org')
    assert.equal(read.body.attachments, undefined, 'no file is kept after a refusal')
  })

  it('keeps every field when the whole form is over its limit (up to the read ceiling), and keeps no file', async () => {
    const { type, body } = await multipart([
      ...TEXT,
      ['attachments', { name: 'a.bin', bytes: LIMITS.attachmentMaxBytes }],
      ['attachments', { name: 'b.bin', bytes: LIMITS.attachmentMaxBytes }],
      ['attachments', { name: 'c.bin', bytes: LIMITS.attachmentMaxBytes }],
      ['attachments', { name: 'd.bin', bytes: LIMITS.attachmentMaxBytes }],
      ['attachments', { name: 'e.bin', bytes: LIMITS.attachmentMaxBytes }],
      ['name', 'A. Finder'],
    ])
    assert.ok(body.length > LIMITS.maxBytes && body.length < READ_CEILING * LIMITS.maxBytes)
    const read = await readReportForm(streamOf(body), type, LIMITS)
    assert.equal(read.oversize, BODY_TOO_LARGE)
    assert.equal(read.body.steps, '1. open 2. paste')
    assert.equal(read.body.reporter?.name, 'A. Finder')
    assert.equal(read.body.attachments, undefined)
  })

  it('stops reading past the ceiling (413), and refuses what is not a multipart form (400)', async () => {
    const flood = await multipart([...TEXT, ['attachments', { name: 'f.bin', bytes: READ_CEILING * LIMITS.maxBytes }]])
    await assert.rejects(readReportForm(streamOf(flood.body), flood.type, LIMITS), (error) => {
      assert.ok(isAppError(error))
      assert.equal(error.code, 'PAYLOAD_TOO_LARGE')
      return true
    })
    for (const [type, body] of [
      ['multipart/form-data', 'no boundary'],
      ['multipart/form-data; boundary=x', '--x\r\ngarbage without headers end'],
    ] as const)
      await assert.rejects(readReportForm(streamOf(Buffer.from(body)), type, LIMITS), (error) => {
        assert.ok(isAppError(error))
        assert.equal(error.code, 'BAD_REQUEST')
        return true
      })
  })

  it('refuses a field longer than any the API takes (400), rather than cutting it', async () => {
    const { type, body } = await multipart([...TEXT, ['steps', 'x'.repeat(300 * 1024)]])
    await assert.rejects(readReportForm(streamOf(body), type, { ...LIMITS, maxBytes: 1024 * 1024 }), (error) => {
      assert.ok(isAppError(error))
      assert.equal(error.code, 'BAD_REQUEST')
      assert.match(error.message, /steps is too long/)
      return true
    })
  })
})
