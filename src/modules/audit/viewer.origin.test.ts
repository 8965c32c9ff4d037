import assert from 'node:assert/strict'
import { it } from 'node:test'
import { checkViewerOrigin, intersectActions } from './viewer.origin.ts'

it('accepts exact https origins and loopback http ones, in canonical form', () => {
  assert.deepEqual(checkViewerOrigin('https://app.example.com'), { ok: true, origin: 'https://app.example.com' })
  assert.deepEqual(checkViewerOrigin('https://App.Example.com:8443'), {
    ok: true,
    origin: 'https://app.example.com:8443',
  })
  assert.deepEqual(checkViewerOrigin('https://app.example.com:443'), { ok: true, origin: 'https://app.example.com' })
  assert.deepEqual(checkViewerOrigin('http://127.0.0.1:5173'), { ok: true, origin: 'http://127.0.0.1:5173' })
  assert.deepEqual(checkViewerOrigin('http://localhost:3000'), { ok: true, origin: 'http://localhost:3000' })
  assert.deepEqual(checkViewerOrigin('http://[::1]:3000'), { ok: true, origin: 'http://[::1]:3000' })
})

it('refuses paths, wildcards, credentials, other schemes and plain http off loopback', () => {
  for (const bad of [
    'https://app.example.com/embed',
    'https://app.example.com/?x=1',
    'https://app.example.com#x',
    'https://*.example.com',
    '*',
    'http://app.example.com',
    'http://10.0.0.1:80',
    'ftp://app.example.com',
    'https://user:pw@app.example.com',
    'app.example.com',
    'null',
    '',
  ])
    assert.equal(checkViewerOrigin(bad).ok, false, bad)
})

it('intersects a query’s action filter with the token’s scope', () => {
  assert.equal(intersectActions(null, undefined), undefined)
  assert.deepEqual(intersectActions(null, 'document.*'), ['document.*'])
  assert.deepEqual(intersectActions(['document.*', 'user.login'], undefined), ['document.*', 'user.login'])
  assert.deepEqual(intersectActions(['document.*'], 'document.share'), ['document.share'])
  assert.deepEqual(intersectActions(['document.*'], 'document.*'), ['document.*'])
  assert.deepEqual(intersectActions(['document.share', 'user.login'], 'document.*'), ['document.share'])
  assert.deepEqual(intersectActions(['document.share'], 'user.login'), [])
  assert.deepEqual(intersectActions(['document.share'], 'auth.*'), [])
  assert.deepEqual(intersectActions(['org.*'], 'org.grant_policy.*'), ['org.grant_policy.*'])
})
