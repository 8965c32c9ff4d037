import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, it } from 'node:test'
import { PGlite } from '@electric-sql/pglite'
import { openDatabase, pgliteParsers } from '../../src/db/connect.ts'

describe('closing the embedded database', () => {
  it('closes PGlite even when no query went through Kysely', async () => {
    const pglite = await PGlite.create({ parsers: pgliteParsers() })
    const database = await openDatabase({ pglite })
    await database.close()
    assert.equal(pglite.closed, true)
  })

  it('a data directory closed without a query opens again (lock released, files closed)', async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), 'custodian-close-'))
    const first = await openDatabase({ dataDir })
    await first.close()
    const second = await openDatabase({ dataDir })
    try {
      assert.equal(String((await second.kysely.selectNoFrom((eb) => eb.val(1).as('one')).execute())[0]?.one), '1')
    } finally {
      await second.close()
    }
  })
})
