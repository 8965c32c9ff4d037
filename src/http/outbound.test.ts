import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { transportFailure } from './outbound.ts'

describe('transportFailure: why an outbound request got no answer, never its URL', () => {
  const fetchFailed = (cause: unknown) => Object.assign(new TypeError('fetch failed'), { cause })

  it('names the first system error code along the causes, through an AggregateError', () => {
    assert.equal(
      transportFailure(fetchFailed(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }))),
      'ECONNREFUSED',
    )
    const both = new AggregateError([Object.assign(new Error('a'), { code: 'ENETUNREACH' })], 'all failed')
    assert.equal(transportFailure(fetchFailed(both)), 'ENETUNREACH')
  })

  it('says a cause of a few plain words (undici’s “bad port”), else only the name', () => {
    assert.equal(transportFailure(fetchFailed(new Error('bad port'))), 'TypeError: bad port')
    const quoting = fetchFailed(new Error('cannot reach https://hooks.example/T0KEN/secret-path'))
    assert.equal(transportFailure(quoting), 'TypeError')
    assert.equal(transportFailure(new DOMException('timed out', 'TimeoutError')), 'TimeoutError')
    assert.equal(transportFailure('not an error'), 'error')
  })
})
