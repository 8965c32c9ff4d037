import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { LibraryUnavailable, libraryUnavailableIn, memoized, onFirstUse } from './on-first-use.ts'

describe('libraries loaded on first use', () => {
  it('loads once for every caller, concurrent or later', async () => {
    let loads = 0
    const load = onFirstUse(async () => {
      loads += 1
      await new Promise((resolve) => setTimeout(resolve, 10))
      return { loaded: loads }
    })
    const [a, b] = await Promise.all([load(), load()])
    const c = await load()
    assert.equal(loads, 1)
    assert.equal(a, b)
    assert.equal(a, c)
  })

  it('fails with LibraryUnavailable naming the cause, and tries again on the next call', async () => {
    let attempts = 0
    const load = onFirstUse(async () => {
      attempts += 1
      const missing: string = 'custodian-no-such-library'
      if (attempts === 1) return import(missing)
      return { ok: true }
    })
    const error = await load().then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(error instanceof LibraryUnavailable)
    assert.match(error.message, /custodian-no-such-library/)
    assert.equal(libraryUnavailableIn(new Error('wrapped', { cause: new Error('twice', { cause: error }) })), error)
    assert.equal(libraryUnavailableIn(new Error('another failure')), undefined)
    assert.deepEqual(await load(), { ok: true })
    assert.equal(attempts, 2)
  })

  it('makes a value from a loaded library once; a making that fails keeps its own error, a failed load is wrapped once', async () => {
    const load = onFirstUse(async () => import('custodian-no-such-library' satisfies string as string))
    const made = memoized(async () => (await load()) as unknown)
    const loadFailure = await made().then(
      () => undefined,
      (e: unknown) => e,
    )
    assert.ok(loadFailure instanceof LibraryUnavailable)
    assert.equal(loadFailure.message.match(/could not be loaded/g)?.length, 1, loadFailure.message)
    let attempts = 0
    const transport = memoized(async () => {
      attempts += 1
      if (attempts === 1) throw new TypeError('bad transport options')
      return { attempts }
    })
    await assert.rejects(transport(), (e: unknown) => e instanceof TypeError && !(e instanceof LibraryUnavailable))
    assert.deepEqual(await transport(), { attempts: 2 })
    assert.equal(await transport(), await transport())
  })
})
