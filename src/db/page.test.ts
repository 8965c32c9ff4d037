import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isAppError } from '../errors.ts'
import { BY_NAME, decodeCursor, encodeCursor, newestFirst, type PageOrder } from './page.ts'

/** Cursors of src/db/page.ts: what the database wrote comes back; anything else is a 400, never a 500. */
describe('page cursors', () => {
  const newest = newestFirst('created_at')
  const id = '0f8e4c1a-3b2d-4e5f-8a9b-0c1d2e3f4a5b'

  it('gives back the keys it encoded, in the database’s own text forms', () => {
    for (const key of [
      ['2026-12-01 11:15:37.123456+00', id],
      ['2026-12-01 11:15:37+05:30', id],
      ['2026-12-01 11:15:37+05:30:15', id],
      ['2024-02-29 00:00:00-08', id],
      ['2026-12-01T11:15:37Z', id],
    ])
      assert.deepEqual(decodeCursor(newest, encodeCursor(key)), key)
    assert.deepEqual(decodeCursor(BY_NAME, encodeCursor(['billing-api'])), ['billing-api'])
  })

  it('refuses with VALIDATION_FAILED what PostgreSQL could not read back or what is of another shape', () => {
    const refused = (cursor: string) =>
      assert.throws(
        () => decodeCursor(newest, cursor),
        (e: unknown) => isAppError(e) && e.code === 'VALIDATION_FAILED',
        cursor,
      )
    for (const key of [
      ['2026-02-31 10:00:00+00', id],
      ['2025-02-29 10:00:00+00', id],
      ['2026-12-01 24:00:00+00', id],
      ['2026-12-01 11:60:00+00', id],
      ['2026-12-01 11:15:37+05:99', id],
      ['2026-12-01 11:15:37+05:30:60', id],
      ['2026-12-01 11:15:37+16', id],
      ['0000-01-01 00:00:00+00', id],
      ['2026-12-01 11:15:37+00', 'not-a-uuid'],
      ['2026-12-01 11:15:37+00'],
      ['2026-12-01 11:15:37+00', id, 'extra'],
    ])
      refused(encodeCursor(key))
    refused('not base64 json')
    refused(Buffer.from('{"a":1}').toString('base64url'))
    refused(Buffer.from(JSON.stringify([1, 2])).toString('base64url'))
    assert.throws(
      () => decodeCursor(BY_NAME, encodeCursor(['a\u0000b'])),
      (e: unknown) => isAppError(e),
    )
  })

  it('refuses a key value outside the column’s own set (a kind, a part of the list)', () => {
    const byKind: PageOrder = {
      keys: [
        { column: 'kind', type: 'text', oneOf: ['member', 'service_account'] },
        { column: 'id', type: 'uuid' },
      ],
      direction: 'asc',
    }
    assert.deepEqual(decodeCursor(byKind, encodeCursor(['service_account', id])), ['service_account', id])
    assert.throws(
      () => decodeCursor(byKind, encodeCursor(['grant', id])),
      (e: unknown) => isAppError(e) && e.code === 'VALIDATION_FAILED',
    )
  })
})
