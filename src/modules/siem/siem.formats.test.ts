import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { StoredChainEvent } from '../audit/audit.format.ts'
import {
  datadogBody,
  exportLine,
  isEnterpriseId,
  isPrintUsAscii,
  jsonLinesBody,
  octetCounted,
  sdEscape,
  splunkBody,
  syslogMessage,
} from './siem.formats.ts'

const stored: StoredChainEvent = {
  event: {
    v: 1,
    org: '0190a6f2-7c1e-7d3a-9b2e-5f4c3d2b1a00',
    seq: 3,
    id: '00000000-0000-4000-8000-000000000003',
    time: '2026-12-01T10:00:03.000Z',
    actor: { type: 'user', id: 'u-1' },
    action: 'secret.reveal',
    target: null,
    outcome: 'denied',
    ip: null,
    userAgent: null,
    requestId: null,
    details: { note: 'a "quoted" \\ value] – ünïcode' },
  },
  prevHash: 'ab'.repeat(32),
  hash: 'cd'.repeat(32),
}

describe('SIEM wire formats (docs/siem.md)', () => {
  it('carries each event as the export line, in every format', () => {
    const line = exportLine(stored)
    assert.deepEqual(JSON.parse(line), { kind: 'event', ...stored })
    assert.equal(jsonLinesBody([stored, stored]), `${line}\n${line}\n`)
    const envelope = JSON.parse(splunkBody([stored], { host: 'h', source: 's', sourcetype: 't' }))
    assert.equal(envelope.time, 1796119203)
    assert.deepEqual(envelope.event, JSON.parse(line))
    assert.equal('index' in envelope, false, 'no index unless configured')
    const items = JSON.parse(datadogBody([stored], { ddsource: 'c', ddtags: 'org:x', hostname: 'h', service: 's' }))
    assert.equal(items[0].message, line)
  })

  it('escapes ", \\ and ] in PARAM-VALUE (RFC 5424 §6.3.3) and nothing else', () => {
    assert.equal(sdEscape('a"b\\c]d[e=f'), 'a\\"b\\\\c\\]d[e=f')
  })

  it('frames a message by its length in octets, not characters (RFC 5425 §4.3)', () => {
    const message = syslogMessage(stored, {
      facility: 13,
      hostname: 'h.example',
      appName: 'custodian',
      enterpriseId: '32473',
    })
    const framed = octetCounted(message)
    const space = framed.indexOf(0x20)
    assert.equal(Number(framed.subarray(0, space).toString()), message.length)
    assert.ok(message.length > message.toString('utf8').length, 'the message holds multi-byte characters')
    const text = message.toString('utf8')
    assert.match(text, /^<109>1 2026-12-01T10:00:03\.000Z h\.example custodian - audit \[custodian@32473 org="/)
    assert.match(text, / seq="3" /)
    assert.ok(text.includes('\uFEFFsecret.reveal denied by user:u-1 (seq 3)'))
  })

  it('checks RFC 5424 header fields and SD-ID enterprise numbers', () => {
    assert.equal(isPrintUsAscii('custodian', 48), true)
    assert.equal(isPrintUsAscii('two words', 48), false)
    assert.equal(isPrintUsAscii('x'.repeat(49), 48), false)
    assert.equal(isEnterpriseId('32473'), true)
    assert.equal(isEnterpriseId('32473.1.2'), true)
    assert.equal(isEnterpriseId('abc'), false)
  })
})
