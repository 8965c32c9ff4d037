import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  formatAddCheckpointRequest,
  MalformedRequest,
  parseAddCheckpointRequest,
  parseSizeBody,
} from './tlog-witness-request.ts'

/** The spec's example request body (https://c2sp.org/tlog-witness, add-checkpoint). */
const SPEC_EXAMPLE = `old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
`

describe('tlog-witness add-checkpoint request bodies', () => {
  it("parses the spec's example and formats it back byte for byte", () => {
    const request = parseAddCheckpointRequest(Buffer.from(SPEC_EXAMPLE))
    assert.equal(request.oldSize, 20_852_014)
    assert.equal(request.proof.length, 4)
    assert.ok(request.note.startsWith('example.com/behind-the-sofa\n20852163\n'))
    assert.equal(formatAddCheckpointRequest(request), SPEC_EXAMPLE)
  })

  it('refuses bodies the spec does not allow', () => {
    for (const body of ['', 'old 1', 'old 01\n\nx\n', 'old 1\n', 'old 1\n\n', 'old 1\nAAAA\n\nx\n', 'old 1\r\n\nx\n'])
      assert.throws(() => parseAddCheckpointRequest(Buffer.from(body)), MalformedRequest, JSON.stringify(body))
    assert.throws(() => parseAddCheckpointRequest(Buffer.from([0x6f, 0xff])), MalformedRequest)
    const hash = `${Buffer.alloc(32).toString('base64')}\n`
    assert.equal(parseAddCheckpointRequest(Buffer.from(`old 1\n${hash.repeat(63)}\nx\n`)).proof.length, 63)
    assert.throws(() => parseAddCheckpointRequest(Buffer.from(`old 1\n${hash.repeat(64)}\nx\n`)), /more than 63/)
    assert.throws(() =>
      formatAddCheckpointRequest({ oldSize: 1, proof: Array(64).fill(Buffer.alloc(32)), note: 'x\n' }),
    )
  })

  it('reads a 409 body as a size and newline only', () => {
    assert.equal(parseSizeBody('42\n'), 42)
    assert.equal(parseSizeBody('0\n'), 0)
    for (const body of ['42', '042\n', '-1\n', '4 2\n', '\n', '42\n\n']) assert.equal(parseSizeBody(body), undefined)
  })
})
