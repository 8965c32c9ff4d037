import assert from 'node:assert/strict'
import { it } from 'node:test'
import { forEachEngine } from '../helpers/db.ts'
import { useTestApp } from '../helpers/app.ts'

/**
 * A request to no route — an unknown path, or a method its path does not have — answers
 * 404 ROUTE_NOT_FOUND as problem+json whatever its body holds (docs/errors.md): the body
 * checks of real routes (no body on an action route, well-formed text) never answer for a
 * route that does not exist. Swept over every path of /openapi.json.
 */
forEachEngine('no such route', (engine) => {
  const t = useTestApp(engine)
  const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const
  const BODIES: { payload: string; type: string }[] = [
    { payload: '{"a":1}', type: 'application/json' },
    { payload: '{"text":"nul \\u0000"}', type: 'application/json' },
    { payload: 'x', type: 'text/plain' },
  ]

  it('answers 404 ROUTE_NOT_FOUND to an unknown path, with any method and body', async () => {
    for (const method of METHODS)
      for (const body of [undefined, ...BODIES]) {
        const response = await t().request({
          method: method.toUpperCase(),
          url: '/v1/no-such-route',
          ...(body === undefined || method === 'get'
            ? {}
            : { payload: body.payload, headers: { 'content-type': body.type } }),
        })
        assert.equal(response.status, 404, `${method} ${body?.type}: ${response.text}`)
        assert.equal(response.headers['content-type'], 'application/problem+json; charset=utf-8')
        assert.equal(response.body.code, 'ROUTE_NOT_FOUND')
      }
  })

  it('answers 404 ROUTE_NOT_FOUND to every method a path of /openapi.json does not have, body or not', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    const paths = doc.paths as Record<string, Record<string, unknown>>
    const matchers = Object.entries(paths).map(([template, operations]) => ({
      operations,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
    }))
    let checked = 0
    for (const [template, operations] of Object.entries(paths)) {
      const url = template.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000')
      for (const method of METHODS) {
        if (method in operations) continue
        // Another route of this method may match the same address (`/records/search` is
        // also `/records/{recordId}`): that is a route, not a missing one.
        const literal = template.replace(/\{[^}]+\}/g, 'x')
        if (matchers.some((m) => method in m.operations && m.pattern.test(literal))) continue
        // HEAD is answered for every GET; OPTIONS by CORS where a route allows it.
        for (const body of method === 'get' ? [undefined] : BODIES) {
          const response = await t().request({
            method: method.toUpperCase(),
            url,
            ...(body === undefined ? {} : { payload: body.payload, headers: { 'content-type': body.type } }),
          })
          assert.equal(response.status, 404, `${method.toUpperCase()} ${template} (${body?.type}): ${response.text}`)
          assert.equal(response.body.code, 'ROUTE_NOT_FOUND', `${method.toUpperCase()} ${template}`)
          checked++
        }
      }
    }
    assert.ok(checked > 500, `swept ${checked} requests`)
  })
})
