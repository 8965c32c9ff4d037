import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { findBadText, MAX_INPUT_DEPTH } from './input.ts'

describe('findBadText (issue 11 K4)', () => {
  it('accepts well-formed text, paired surrogates included', () => {
    assert.equal(
      findBadText({ name: 'Zoë 😀', tags: ['a', 'b'], nested: { ключ: [1, null, true] } }, '/body'),
      undefined,
    )
  })

  it('names a lone surrogate in a value, an array item or a key by JSON pointer', () => {
    assert.deepEqual(findBadText({ a: 'ok', b: 'x\ud800' }, '/body')?.path, '/body/b')
    assert.deepEqual(findBadText({ list: ['ok', { deep: '\udc00y' }] }, '/body')?.path, '/body/list/1/deep')
    assert.deepEqual(findBadText({ payload: { 'a/b~\ud800': 1 } }, '/body')?.path, '/body/payload/a~1b~0\uFFFD')
  })

  it('names U+0000 in a value or a key', () => {
    assert.equal(findBadText({ a: 'x\u0000' }, '/query')?.path, '/query/a')
    assert.match(findBadText({ ['k\u0000']: 1 }, '/body')?.message ?? '', /field name contains U\+0000/)
  })

  it('refuses nesting past the limit without overflowing the stack, however deep', () => {
    const deep = JSON.parse(`${'['.repeat(200_000)}${']'.repeat(200_000)}`)
    assert.match(findBadText(deep, '/body')?.message ?? '', /nested deeper/)
    let ok: unknown = 'leaf'
    for (let i = 0; i < MAX_INPUT_DEPTH; i++) ok = [ok]
    assert.equal(findBadText(ok, '/body'), undefined)
  })
})
