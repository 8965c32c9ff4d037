/**
 * A strict reader of what a syslog-over-TLS receiver gets (test side, written from the
 * RFCs, independent of src/modules/siem/siem.formats.ts): RFC 5425 §4.3 octet-counting
 * frames, and RFC 5424 §6 messages by their ABNF. Anything off the grammar throws.
 */
export interface SyslogMessage {
  pri: number
  version: number
  timestamp: string | null
  hostname: string | null
  appName: string | null
  procId: string | null
  msgId: string | null
  sd: { id: string; params: Record<string, string> }[]
  /** MSG without its BOM; `bom` says whether it had one (then it is UTF-8). */
  msg: string
  bom: boolean
}

/** Splits an octet-counted stream (`MSG-LEN SP SYSLOG-MSG`) into messages, across chunks. */
export function octetCountingReader(): (chunk: Buffer) => Buffer[] {
  let buffer: Buffer = Buffer.alloc(0)
  return (chunk) => {
    buffer = Buffer.concat([buffer, chunk])
    const out: Buffer[] = []
    for (;;) {
      const space = buffer.indexOf(0x20)
      if (space === -1) {
        if (buffer.length > 10) throw new Error('octet counting: no MSG-LEN')
        return out
      }
      const lengthText = buffer.subarray(0, space).toString('ascii')
      if (!/^[1-9][0-9]{0,8}$/.test(lengthText))
        throw new Error(`octet counting: bad MSG-LEN ${JSON.stringify(lengthText)}`)
      const length = Number(lengthText)
      if (buffer.length < space + 1 + length) return out
      out.push(buffer.subarray(space + 1, space + 1 + length))
      buffer = buffer.subarray(space + 1 + length)
    }
  }
}

const FULL_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$/
const BOM = Buffer.from([0xef, 0xbb, 0xbf])

/** Parses one SYSLOG-MSG (bytes); throws with the reason on anything RFC 5424 does not allow. */
export function parseRfc5424(bytes: Buffer): SyslogMessage {
  let i = 0
  const fail = (why: string): never => {
    throw new Error(`RFC 5424: ${why} at byte ${i}`)
  }
  const expect = (byte: number) => {
    if (bytes[i] !== byte) fail(`expected ${String.fromCharCode(byte)}`)
    i++
  }
  const token = (max: number, name: string): string | null => {
    const start = i
    while (i < bytes.length && bytes[i] !== 0x20) {
      const c = bytes[i] as number
      if (c < 33 || c > 126) fail(`${name}: not PRINTUSASCII`)
      i++
    }
    const text = bytes.subarray(start, i).toString('ascii')
    if (text.length === 0 || text.length > max) fail(`${name}: length ${text.length}`)
    return text === '-' ? null : text
  }
  expect(0x3c)
  const priStart = i
  while (i < bytes.length && bytes[i] !== 0x3e) i++
  const priText = bytes.subarray(priStart, i).toString('ascii')
  if (!/^(0|[1-9][0-9]{0,2})$/.test(priText) || Number(priText) > 191) fail('PRIVAL')
  expect(0x3e)
  const versionStart = i
  while (i < bytes.length && bytes[i] !== 0x20) i++
  const versionText = bytes.subarray(versionStart, i).toString('ascii')
  if (!/^[1-9][0-9]?$/.test(versionText)) fail('VERSION')
  expect(0x20)
  const timestamp = token(32, 'TIMESTAMP')
  if (timestamp !== null && !FULL_TIMESTAMP.test(timestamp)) fail('TIMESTAMP')
  expect(0x20)
  const hostname = token(255, 'HOSTNAME')
  expect(0x20)
  const appName = token(48, 'APP-NAME')
  expect(0x20)
  const procId = token(128, 'PROCID')
  expect(0x20)
  const msgId = token(32, 'MSGID')
  expect(0x20)
  const sd: SyslogMessage['sd'] = []
  if (bytes[i] === 0x2d) i++
  else {
    while (bytes[i] === 0x5b) {
      i++
      const id = sdName('SD-ID')
      const params: Record<string, string> = {}
      while (bytes[i] === 0x20) {
        i++
        const name = sdName('PARAM-NAME')
        expect(0x3d)
        expect(0x22)
        const value: number[] = []
        for (;;) {
          if (i >= bytes.length) fail('PARAM-VALUE: unterminated')
          const c = bytes[i] as number
          if (c === 0x22) break
          if (c === 0x5d) fail('PARAM-VALUE: unescaped ]')
          if (c === 0x5c && [0x22, 0x5c, 0x5d].includes(bytes[i + 1] as number)) {
            value.push(bytes[i + 1] as number)
            i += 2
            continue
          }
          value.push(c)
          i++
        }
        expect(0x22)
        const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(value))
        if (Object.hasOwn(params, name)) fail(`PARAM-NAME ${name} twice`)
        params[name] = text
      }
      expect(0x5d)
      sd.push({ id, params })
    }
    if (sd.length === 0) fail('STRUCTURED-DATA')
  }
  let msg = ''
  let bom = false
  if (i < bytes.length) {
    expect(0x20)
    let rest = bytes.subarray(i)
    if (rest.subarray(0, 3).equals(BOM)) {
      bom = true
      rest = rest.subarray(3)
      msg = new TextDecoder('utf-8', { fatal: true }).decode(rest)
    } else msg = rest.toString('latin1')
  }
  return {
    pri: Number(priText),
    version: Number(versionText),
    timestamp,
    hostname,
    appName,
    procId,
    msgId,
    sd,
    msg,
    bom,
  }

  function sdName(what: string): string {
    const start = i
    while (i < bytes.length) {
      const c = bytes[i] as number
      if (c === 0x3d || c === 0x20 || c === 0x5d || c === 0x22) break
      if (c < 33 || c > 126) fail(`${what}: not PRINTUSASCII`)
      i++
    }
    const text = bytes.subarray(start, i).toString('ascii')
    if (text.length === 0 || text.length > 32) fail(`${what}: length ${text.length}`)
    return text
  }
}
