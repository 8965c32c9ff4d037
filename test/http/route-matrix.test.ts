import assert from 'node:assert/strict'
import { before, beforeEach, it } from 'node:test'
import { PROVIDER_ONLY, type Permission } from '../../src/modules/access/permissions.ts'
import { forEachEngine } from '../helpers/db.ts'
import { fingerprint, useTestApp, type TestResponse } from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'
import { buildRouteFixture, ROUTES, type Fixture, type RouteCase } from '../helpers/route-table.ts'

/**
 * Every route, checked for: no credentials (401), a role without the permission (403),
 * another org's org or object (404), malformed input (400) and an oversized body (413) —
 * each answered as problem+json and leaving every table as it was. The table
 * (test/helpers/route-table.ts) must name every route the OpenAPI document lists, so a new
 * route cannot skip these checks.
 */

function assertProblem(
  response: { status: number; headers: Record<string, unknown>; body: JsonBody },
  status: number,
  label: string,
): void {
  assert.equal(
    response.status,
    status,
    `${label}: expected ${status}, got ${response.status} ${JSON.stringify(response.body)}`,
  )
  assert.match(String(response.headers['content-type']), /^application\/problem\+json/, `${label}: problem+json`)
  assert.equal(response.body.status, status, `${label}: status in body`)
  assert.equal(typeof response.body.code, 'string', `${label}: stable code`)
}

forEachEngine('every route refuses what it must (P2.2, P2.3)', (engine) => {
  const t = useTestApp(engine, {
    CUSTODIAN_BODY_LIMIT: '2048',
    CUSTODIAN_AUTH_RATE_LIMIT: '1000',
    CUSTODIAN_REPORT_RATE_LIMIT: '1000',
    CUSTODIAN_REPORT_MAX_BYTES: '16384',
    CUSTODIAN_REPORT_ATTACHMENT_MAX_BYTES: '8192',
    CUSTODIAN_APP_EVENTS_BATCH_BYTES: '65536',
  })
  let f: Fixture

  before(async () => {
    f = await buildRouteFixture(t())
    const viewerToken = await mintViewer()
    f.aViewerToken = viewerToken.id
  })

  const mintViewer = async () => {
    const minted = await t().request({
      method: 'POST',
      url: `/v1/orgs/${f.a.orgId}/audit/viewer-tokens`,
      token: f.a.ownerToken,
      body: { origin: 'https://app.a.test', ttlSeconds: 900 },
    })
    assert.equal(minted.status, 201, minted.text)
    return minted.body as { id: string; token: string }
  }
  // Viewer tokens live 15 minutes at most; this file runs longer: a fresh one before it could lapse.
  beforeEach(async () => {
    if (Date.now() - f.aViewerMintedAt < 10 * 60_000) return
    f.aViewer = (await mintViewer()).token
    f.aViewerMintedAt = Date.now()
  })

  it('covers every route in the OpenAPI document', async () => {
    const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
    const documented = Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) =>
      Object.keys(ops)
        .filter((m) => m !== 'head')
        .map((m) => `${m.toUpperCase()} ${path}`),
    )
    assert.deepEqual(new Set(documented), new Set(ROUTES.map((r) => `${r.method} ${r.path}`)))
  })

  for (const route of ROUTES) {
    const label = `${route.method} ${route.path}`
    const send = (url: string, token?: string, extra: { body?: unknown; payload?: string } = {}) =>
      t().request({
        method: route.method,
        url,
        token,
        ...(extra.body === undefined && extra.payload === undefined && route.body !== undefined
          ? { body: route.body(f) }
          : extra),
      })

    if (route.access !== 'public') {
      it(`${label}: 401 without credentials, nothing changed`, async () => {
        const before = await fingerprint(t())
        assertProblem(await send(route.url(f)), 401, label)
        assertProblem(
          await send(
            route.url(f),
            'cst_api_00000000000000000000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
          ),
          401,
          `${label} (forged token)`,
        )
        // Token kinds never cross: a viewer token opens only viewer routes, an API token none of them.
        assertProblem(
          await send(route.url(f), route.access === 'viewer' ? f.a.ownerToken : f.aViewer),
          401,
          `${label} (${route.access === 'viewer' ? 'API' : 'viewer'} token)`,
        )
        assert.equal(await fingerprint(t()), before)
      })
    }

    if (route.access !== 'public' && route.access !== 'authenticated' && route.access !== 'viewer') {
      it(`${label}: 403 for a role without ${route.access}, nothing changed`, async () => {
        const token =
          route.forbiddenToken?.(f) ??
          (route.access === 'audit:verify' ? (f as unknown as { onlyReadToken: string }).onlyReadToken : f.onlyVerify)
        const before = await fingerprint(t())
        const response = await send(route.url(f), token)
        assertProblem(response, 403, label)
        assert.equal(response.body.permission, route.access)
        assert.equal(await fingerprint(t()), before)
      })
    }

    if (route.path.startsWith('/v1/orgs/{orgId}')) {
      it(`${label}: 404 for another org’s principal and for another org’s object, nothing changed`, async () => {
        const before = await fingerprint(t())
        const response = await send(route.url(f), f.b.ownerToken)
        assertProblem(response, 404, `${label} (other org)`)
        assert.equal(response.body.code, 'NOT_FOUND')
        if (route.foreignObjectUrl !== undefined)
          assertProblem(await send(route.foreignObjectUrl(f), f.a.ownerToken), 404, `${label} (other org's object)`)
        assertProblem(
          await send(
            route.url(f).replace(
              f.a.orgId,
              f.a.orgId.replace(/^./, (c) => (c === '0' ? '1' : '0')),
            ),
            f.a.ownerToken,
          ),
          404,
          `${label} (no such org)`,
        )
        assert.equal(await fingerprint(t()), before)
      })
    }

    {
      it(`${label}: 400 for malformed input, nothing changed`, async () => {
        const token =
          route.access === 'public'
            ? undefined
            : route.access === 'viewer'
              ? f.aViewer
              : PROVIDER_ONLY.has(route.access as Permission)
                ? f.provider.ownerToken
                : f.a.ownerToken
        const before = await fingerprint(t())
        const separator = route.url(f).includes('?') ? '&' : '?'
        const unknownQuery = await send(`${route.url(f)}${separator}typo=1`, token)
        assertProblem(unknownQuery, 400, `${label} (unknown query parameter)`)
        if (route.body === undefined && route.method !== 'GET') {
          const body = await send(route.url(f), token, { body: { unexpected: true } })
          assertProblem(body, 400, `${label} (body on a route that takes none)`)
        }
        if (route.body !== undefined) {
          assertProblem(await send(route.url(f), token, { payload: '{"broken": ' }), 400, `${label} (bad JSON)`)
          const unknownField = await send(route.url(f), token, { body: { ...route.body(f), extra: 1 } })
          assertProblem(unknownField, 400, `${label} (unknown field)`)
          assert.equal(unknownField.body.code, 'VALIDATION_FAILED')
          assert.ok(
            unknownField.body.errors.some((e: { message: string }) => e.message.includes('extra')),
            `${label}: names the field`,
          )
          assertProblem(await send(route.url(f), token, { body: [] }), 400, `${label} (array body)`)
        }
        if (route.badParamUrl !== undefined)
          assertProblem(await send(route.badParamUrl(f), token), 400, `${label} (bad path parameter)`)
        if (route.query)
          assertProblem(await send(`${route.url(f)}?limit=100000&bogus=1`, token), 400, `${label} (bad query)`)
        assert.equal(await fingerprint(t()), before)
      })
    }

    if (route.body !== undefined) {
      it(`${label}: 413 for an oversized body, nothing changed`, async () => {
        const token =
          route.access === 'public'
            ? undefined
            : route.access === 'viewer'
              ? f.aViewer
              : PROVIDER_ONLY.has(route.access as Permission)
                ? f.provider.ownerToken
                : f.a.ownerToken
        const before = await fingerprint(t())
        const response = await send(route.url(f), token, {
          payload: JSON.stringify({ ...route.body?.(f), name: 'x'.repeat(route.oversize ?? 4096) }),
        })
        assertProblem(response, 413, label)
        assert.equal(response.body.code, 'PAYLOAD_TOO_LARGE')
        assert.equal(await fingerprint(t()), before)
      })
    }
  }

  it('never answers 500 to hostile input', async () => {
    const hostile = [
      '{"__proto__": {"admin": true}}',
      '{"name": "\\u0000"}',
      '"just a string"',
      'null',
      '{"name": {"$gt": ""}}',
      `{"name": "${'\\'.repeat(2)}"}`,
    ]
    for (const route of ROUTES.filter((r) => r.body !== undefined)) {
      for (const payload of hostile) {
        const token =
          route.access === 'public'
            ? undefined
            : route.access === 'viewer'
              ? f.aViewer
              : PROVIDER_ONLY.has(route.access as Permission)
                ? f.provider.ownerToken
                : f.a.ownerToken
        const response = await t().request({ method: route.method, url: route.url(f), token, payload })
        assert.ok(
          response.status < 500,
          `${route.method} ${route.path} with ${payload}: ${response.status} ${response.text}`,
        )
      }
    }
  })

  /** The token a sweep sends for a route: the provider's owner for operator routes, org A's owner otherwise. */
  const tokenOf = (route: RouteCase) =>
    route.access === 'public'
      ? undefined
      : route.access === 'viewer'
        ? f.aViewer
        : PROVIDER_ONLY.has(route.access as Permission)
          ? f.provider.ownerToken
          : f.a.ownerToken
  const auditCount = async () =>
    Number(
      (
        await t()
          .db.kysely.selectFrom('audit_events')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    )
  const openapi = async () => (await t().request({ method: 'GET', url: '/openapi.json' })).body as OpenApiDoc

  /**
   * Sends each write route's valid body with a bad value at each place `surrogateCases`
   * finds (every text field, object key and free-form value), encoded by `encode`; `judge`
   * says what is wrong with an answer. No probe may change a table or append an audit event.
   */
  const sweepWriteRoutes = async (
    encode: (body: unknown) => string | Buffer,
    judge: (response: TestResponse, pointer: string) => string | undefined,
  ) => {
    const doc = await openapi()
    let probes = 0
    const wrong: string[] = []
    for (const route of ROUTES.filter((r) => r.body !== undefined)) {
      const label = `${route.method} ${route.path}`
      const schema =
        doc.paths[route.path]?.[route.method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema
      assert.ok(schema !== undefined, `${label}: documented request body`)
      const cases = surrogateCases(schema, doc, route.body?.(f) ?? {})
      assert.ok(
        cases.some((c) => c.pointer === '/body/k\uFFFD'),
        `${label}: an object key is probed`,
      )
      const before = await fingerprint(t())
      const events = await auditCount()
      for (const { body, pointer } of cases) {
        const response = await t().request({
          method: route.method,
          url: route.url(f),
          token: tokenOf(route),
          payload: encode(body),
          headers: { 'content-type': 'application/json' },
        })
        const problem = /^application\/problem\+json/.test(String(response.headers['content-type']))
        const verdict = problem ? judge(response, pointer) : 'not problem+json'
        if (verdict !== undefined)
          wrong.push(`${label} ${pointer}: ${response.status} ${response.body.code} ${verdict}`)
        probes++
      }
      if ((await fingerprint(t())) !== before) wrong.push(`${label}: changed a table`)
      if ((await auditCount()) !== events) wrong.push(`${label}: appended an audit event`)
    }
    assert.deepEqual(wrong, [])
    assert.ok(probes > 200, `only ${probes} probes`)
  }

  it('refuses a lone surrogate in every text field, object key and free-form value of every write route, naming the field, changing nothing (issue 11 K4)', async () => {
    await sweepWriteRoutes(
      (body) => {
        const payload = JSON.stringify(body)
        assert.ok(payload.includes('\\ud800'), 'JSON.stringify keeps the lone surrogate as its escape')
        return payload
      },
      (response, pointer) => {
        const named = response.body.errors?.[0]?.path
        return response.status === 400 && response.body.code === 'VALIDATION_FAILED' && named === pointer
          ? undefined
          : `named ${named}`
      },
    )
  })

  it('refuses a body whose bytes are not UTF-8 on every write route, in every text field, changing nothing (issue 11 K4)', async () => {
    // The same places, each holding a stray byte (0xFF) instead: a lenient decoder would
    // store U+FFFD in its place.
    await sweepWriteRoutes(
      (body) => {
        const [head, ...rest] = JSON.stringify(body).split('\\ud800')
        return Buffer.concat([
          Buffer.from(head ?? ''),
          ...rest.flatMap((part) => [Buffer.from([0xff]), Buffer.from(part)]),
        ])
      },
      (response) => (response.status === 400 && response.body.code === 'BAD_REQUEST' ? undefined : 'not refused'),
    )
  })

  it('refuses U+0000 in every query parameter, bytes that are not UTF-8 in every path, and nesting deeper than the limit (issue 11 K4)', async () => {
    const doc = await openapi()
    for (const route of ROUTES) {
      const label = `${route.method} ${route.path}`
      const query = (doc.paths[route.path]?.[route.method.toLowerCase()]?.parameters ?? []).filter(
        (p) => p.in === 'query',
      )
      for (const { name } of query) {
        // In place of the parameter's value where the URL already carries it (a required one).
        const [base, existing] = route.url(f).split('?') as [string, string | undefined]
        const params = new URLSearchParams(existing ?? '')
        params.set(name, 'a\u0000b')
        const url = `${base}?${params.toString()}`
        const response = await t().request({ method: route.method, url, token: tokenOf(route) })
        assertProblem(response, 400, `${label} ?${name}`)
        assert.equal(response.body.errors?.[0]?.path, `/query/${name}`, `${label}: ${response.text}`)
      }
      // Percent-encoded bytes that are no UTF-8 (a surrogate's encoding, a stray byte) in the path: refused, never a 500.
      for (const bytes of ['%ED%A0%80', '%FF', '%00']) {
        const [path, query] = route.url(f).split('?') as [string, string | undefined]
        const response = await t().request({
          method: route.method,
          url: `${path}${bytes}${query === undefined ? '' : `?${query}`}`,
          token: tokenOf(route),
        })
        assert.ok(
          response.status >= 400 && response.status < 500,
          `${label} + ${bytes}: ${response.status} ${response.text}`,
        )
        assert.match(String(response.headers['content-type']), /^application\/problem\+json/, `${label} + ${bytes}`)
      }
      if (route.body !== undefined) {
        const deep = { ...route.body(f), extra: JSON.parse(`${'['.repeat(100)}${']'.repeat(100)}`) }
        const response = await t().request({
          method: route.method,
          url: route.url(f),
          token: tokenOf(route),
          body: deep,
        })
        assertProblem(response, 400, `${label} (deep nesting)`)
      }
    }
  })

  // Last: these calls act (seal, rotate, revoke), which may change what later checks see.
  it('takes no body and an empty JSON object alike on every route that needs no payload (issue 11 K10)', async () => {
    const doc = await openapi()
    const last = ['/v1/vault/seal']
    const actions = ROUTES.filter((route) => {
      // PUT and PATCH carry what they change; an action is a POST or a DELETE.
      if (route.method !== 'POST' && route.method !== 'DELETE') return false
      const body = doc.paths[route.path]?.[route.method.toLowerCase()]?.requestBody?.content?.['application/json']
        ?.schema as { required?: string[]; minProperties?: number } | undefined
      return body === undefined || ((body.required ?? []).length === 0 && (body.minProperties ?? 0) === 0)
    }).sort((x, y) => Number(last.includes(x.path)) - Number(last.includes(y.path)))
    assert.ok(actions.length > 30, `only ${actions.length} action routes`)
    const refusedInput = new Set(['VALIDATION_FAILED', 'BAD_REQUEST', 'UNSUPPORTED_MEDIA_TYPE'])
    for (const route of actions) {
      const label = `${route.method} ${route.path}`
      // Logging out revokes the token used, and the fixture's token is org A's owner's: each call gets a token of its own.
      const mint = async () =>
        (
          await t().request({
            method: 'POST',
            url: `/v1/orgs/${f.a.orgId}/tokens`,
            token: f.a.ownerToken,
            body: { name: 'action', expiresInDays: 1 },
          })
        ).body as { id: string; token: string }
      const token = async () => (route.path === '/v1/logout' ? (await mint()).token : tokenOf(route))
      const url = async () =>
        route.url(route.path === '/v1/orgs/{orgId}/tokens/{tokenId}' ? { ...f, aToken: (await mint()).id } : f)
      for (const body of [{}, undefined]) {
        const response = await t().request({ method: route.method, url: await url(), token: await token(), body })
        assert.ok(response.status < 500, `${label} with ${JSON.stringify(body)}: ${response.status} ${response.text}`)
        assert.ok(
          !refusedInput.has(response.body.code),
          `${label} with ${JSON.stringify(body) ?? 'no body'}: ${response.text}`,
        )
        assert.ok(
          response.status !== 401 && response.status !== 403,
          `${label} with ${JSON.stringify(body) ?? 'no body'} never reached its handler: ${response.text}`,
        )
      }
      for (const payload of ['{"unexpected":true}', '[]', 'null']) {
        const response = await t().request({ method: route.method, url: await url(), token: await token(), payload })
        assertProblem(response, 400, `${label} with ${payload}`)
      }
    }
  })
})

interface OpenApiSchema {
  type?: string | string[]
  properties?: Record<string, OpenApiSchema>
  patternProperties?: Record<string, OpenApiSchema>
  additionalProperties?: boolean | OpenApiSchema
  items?: OpenApiSchema
  anyOf?: OpenApiSchema[]
  oneOf?: OpenApiSchema[]
  allOf?: OpenApiSchema[]
  $ref?: string
}
interface OpenApiDoc {
  paths: Record<
    string,
    Record<
      string,
      {
        requestBody?: { content?: Record<string, { schema?: OpenApiSchema }> }
        parameters?: { in: string; name: string }[]
      }
    >
  >
  components?: { schemas?: Record<string, OpenApiSchema> }
}

/**
 * Every place a request schema lets text in — each string field (nested objects and array
 * items included) and each map or free-form value, as a value and as a key — as a valid
 * body with a lone surrogate there, and the JSON pointer a refusal must name.
 */
function surrogateCases(
  schema: OpenApiSchema,
  doc: OpenApiDoc,
  valid: Record<string, unknown>,
): { body: unknown; pointer: string }[] {
  const bad = 'x\ud800'
  const places: { path: (string | number)[]; open: boolean }[] = []
  const walk = (node: OpenApiSchema | undefined, path: (string | number)[], seen: Set<OpenApiSchema>): void => {
    if (node === undefined || seen.has(node) || path.length > 8) return
    if (node.$ref !== undefined) {
      walk(doc.components?.schemas?.[node.$ref.replace('#/components/schemas/', '')], path, seen)
      return
    }
    const next = new Set(seen).add(node)
    for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? []), ...(node.allOf ?? [])]) walk(branch, path, next)
    const types = node.type === undefined ? [] : [node.type].flat()
    if (types.includes('string')) places.push({ path, open: false })
    if (types.includes('array')) walk(node.items, [...path, 0], next)
    for (const [name, child] of Object.entries(node.properties ?? {})) walk(child, [...path, name], next)
    const maps = [
      ...Object.values(node.patternProperties ?? {}),
      ...(typeof node.additionalProperties === 'object' ? [node.additionalProperties] : []),
    ]
    for (const child of maps) walk(child, [...path, 'k'], next)
    // Free-form JSON (no type: anything goes), or an object whose keys are the caller's.
    if (
      node.type === undefined &&
      node.anyOf === undefined &&
      node.oneOf === undefined &&
      node.allOf === undefined &&
      node.properties === undefined
    )
      places.push({ path, open: true })
    else if (maps.length > 0 || node.additionalProperties === true) places.push({ path, open: true })
  }
  walk(schema, [], new Set())
  const pointer = (path: (string | number)[]) => `/body${path.map((p) => `/${p}`).join('')}`
  const cases: { body: unknown; pointer: string }[] = [
    { body: { ...valid, [bad.replace('x', 'k')]: 1 }, pointer: '/body/k\uFFFD' },
  ]
  for (const { path, open } of places) {
    if (path.length === 0) continue
    cases.push({ body: setAt(valid, path, bad), pointer: pointer(path) })
    if (open) {
      cases.push({ body: setAt(valid, path, { k: bad }), pointer: pointer([...path, 'k']) })
      cases.push({ body: setAt(valid, path, { [bad.replace('x', 'k')]: 'v' }), pointer: `${pointer(path)}/k\uFFFD` })
    }
  }
  return cases
}

/** A copy of `body` with `value` at `path`, creating the objects and arrays on the way. */
function setAt(body: Record<string, unknown>, path: (string | number)[], value: unknown): unknown {
  const copy = structuredClone(body) as Record<string | number, unknown>
  let node = copy
  path.forEach((key, i) => {
    if (i === path.length - 1) {
      node[key] = value
      return
    }
    const want = typeof path[i + 1] === 'number' ? 'array' : 'object'
    const current = node[key]
    const fits =
      want === 'array'
        ? Array.isArray(current)
        : current !== null && typeof current === 'object' && !Array.isArray(current)
    if (!fits) node[key] = want === 'array' ? [] : {}
    node = node[key] as Record<string | number, unknown>
  })
  return copy
}
