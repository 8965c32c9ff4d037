import assert from 'node:assert/strict'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { after, before, it } from 'node:test'
import { ALL_PERMISSIONS, PROVIDER_ONLY, type Permission } from '../../src/modules/access/permissions.ts'
import { forEachEngine } from '../helpers/db.ts'
import {
  bootstrapProvider,
  createCustomerOrg,
  fingerprint,
  principalWithRole,
  useTestApp,
  type Org,
  type TestApp,
} from '../helpers/app.ts'
import type { JsonBody } from '../helpers/json.ts'
import { startOidcProvider, type OidcProvider } from '../helpers/oidc-provider.ts'

/**
 * Sweep (issue 13): a route that sets where Custodian connects or sends an org's data — a
 * URL, a host, an issuer, an origin in its body — also takes the permission that reads
 * what will be sent there (issue 11 K3: nothing derived carries more than its maker). The
 * routes are found in /openapi.json by their body's fields (DESTINATION_FIELD, or a `uri`
 * format), so a new one fails here until it is named in OUTBOUND, with the permission its
 * destination needs and a body that sets it, or in EXEMPT with the reason it sends nothing
 * its caller cannot read.
 *
 * Each case is asked by a principal holding every permission but the ones the destination
 * needs (the route's own included): 403 EXCEEDS_OWN_PERMISSIONS naming exactly them, nothing
 * changed; then by the org's owner, who holds them: answered past the check.
 */
const DESTINATION_FIELD = /^(url|uri|host|hostname|endpoint|issuer|origin|address|server|tenant)$/i

/** Routes whose destination field sends nothing of the org the caller could not read, each with why. */
const EXEMPT: Record<string, string> = {
  'POST /v1/orgs/{orgId}/secrets':
    'a database credential’s host: Custodian connects there with the credential given in the same body (checking it, rotating it with a password it makes for that database), nothing else of the org',
  'POST /v1/orgs/{orgId}/secrets/{secretId}/versions':
    'a database credential’s new version: its host is reached with the credential given in the same body only, as on creation',
  'POST /v1/orgs/{orgId}/secrets/by-path/versions':
    'the same new version, named by path instead of id: its host is reached with the credential given in the same body only',
}

interface Case {
  /** What the case sends out, for the test's name. */
  what: string
  /** Permissions that read what the destination is sent; the refused principal lacks just these. */
  needs: Permission[]
  /** The route's URL and body for org `org`. */
  url: (w: World) => string
  body: (w: World, n: number) => JsonBody
  /** The owner's answer (past the permission check). */
  allowed: number
}

interface World {
  t: TestApp
  acme: Org
  /** A SIEM destination of acme (PATCH redirects it). */
  destination: string
  /** A consent recipient of acme (PATCH redirects it). */
  recipient: string
  /** The OpenID provider acme's SSO is set up with. */
  op: OidcProvider
}

const O = (w: World) => `/v1/orgs/${w.acme.orgId}`
const WEBHOOK_EVENTS: [string, Permission][] = [
  ['notifications', 'notifications:read'],
  ['erasure.requested', 'privacy:read'],
  ['audit.checkpoint', 'audit:read'],
  ['consent.reconsent_required', 'consent:read'],
]

const OUTBOUND: Record<string, Case[]> = {
  'POST /v1/orgs/{orgId}/webhooks': [
    ...WEBHOOK_EVENTS.map(([event, permission]) => ({
      what: `a webhook for ${event}`,
      needs: [permission],
      url: (w: World) => `${O(w)}/webhooks`,
      body: (_: World, n: number) => ({ name: `sweep-${n}`, url: `https://hooks.sweep.test/${n}`, events: [event] }),
      allowed: 201,
    })),
    // Every event at once (the body's list was once capped below their number).
    {
      what: 'a webhook for every event',
      needs: WEBHOOK_EVENTS.map(([, permission]) => permission),
      url: (w: World) => `${O(w)}/webhooks`,
      body: (_: World, n: number) => ({
        name: `sweep-${n}`,
        url: `https://hooks.sweep.test/${n}`,
        events: WEBHOOK_EVENTS.map(([event]) => event),
      }),
      allowed: 201,
    },
  ],
  'POST /v1/orgs/{orgId}/siem/destinations': [
    {
      what: 'a SIEM destination (the audit log)',
      needs: ['audit:export'],
      url: (w) => `${O(w)}/siem/destinations`,
      body: (_, n) => ({ name: `sweep-${n}`, kind: 'jsonl', url: `https://siem.sweep.test/${n}` }),
      allowed: 201,
    },
  ],
  'PATCH /v1/orgs/{orgId}/siem/destinations/{destinationId}': [
    {
      what: 'a SIEM destination redirected',
      needs: ['audit:export'],
      url: (w) => `${O(w)}/siem/destinations/${w.destination}`,
      body: (_, n) => ({ url: `https://siem.elsewhere.test/${n}` }),
      allowed: 200,
    },
  ],
  'POST /v1/orgs/{orgId}/consent/recipients': [
    {
      what: 'a consent recipient (told which subject references withdrew from which purposes)',
      needs: ['consent:read'],
      url: (w) => `${O(w)}/consent/recipients`,
      body: (_, n) => ({ name: `sweep-${n}`, url: `https://recipient.sweep.test/${n}`, deadlineHours: 24 }),
      allowed: 201,
    },
  ],
  'PATCH /v1/orgs/{orgId}/consent/recipients/{recipientId}': [
    {
      what: 'a consent recipient redirected',
      needs: ['consent:read'],
      url: (w) => `${O(w)}/consent/recipients/${w.recipient}`,
      body: (_, n) => ({ url: `https://recipient.elsewhere.test/${n}` }),
      allowed: 200,
    },
  ],
  'POST /v1/orgs/{orgId}/audit/viewer-tokens': [
    {
      what: 'an embedded audit viewer for an origin (the audit log, and its export)',
      needs: ['audit:export', 'audit:read'],
      url: (w) => `${O(w)}/audit/viewer-tokens`,
      body: (_, n) => ({ origin: `https://app${n}.sweep.test` }),
      allowed: 201,
    },
  ],
  'PUT /v1/orgs/{orgId}/sso': [
    {
      // The owner's answer: past the check, the new issuer is asked for its discovery
      // document and does not answer (502): nothing saved either way.
      what: 'a new OpenID issuer, the kept client secret sent to it',
      needs: ['vault:reveal'],
      url: (w) => `${O(w)}/sso`,
      body: () => ({
        preset: 'oidc',
        issuer: 'https://127.0.0.1:1',
        clientId: 'custodian',
        allowedDomains: ['acme.test'],
        defaultRole: 'member',
      }),
      allowed: 502,
    },
  ],
}

/** Every route of the OpenAPI document whose request body names a destination. */
function destinationRoutes(doc: { paths: Record<string, Record<string, { requestBody?: unknown }>> }): string[] {
  const found = new Set<string>()
  const walk = (schema: unknown, hit: () => void): void => {
    if (schema === null || typeof schema !== 'object') return
    const s = schema as Record<string, unknown>
    if (s.format === 'uri' || s.format === 'url') hit()
    if (s.properties !== undefined)
      for (const [name, property] of Object.entries(s.properties as Record<string, unknown>)) {
        if (DESTINATION_FIELD.test(name)) hit()
        walk(property, hit)
      }
    for (const key of ['anyOf', 'oneOf', 'allOf'])
      if (Array.isArray(s[key])) for (const part of s[key] as unknown[]) walk(part, hit)
    walk(s.items, hit)
    walk(s.additionalProperties, hit)
  }
  for (const [route, operations] of Object.entries(doc.paths))
    for (const [method, operation] of Object.entries(operations)) {
      const content = (operation.requestBody as { content?: Record<string, { schema?: unknown }> } | undefined)?.content
      for (const media of Object.values(content ?? {}))
        walk(media.schema, () => found.add(`${method.toUpperCase()} ${route}`))
    }
  return [...found].sort()
}

forEachEngine(
  'sweep: a route that sets a destination takes the permission that reads what is sent (issue 13)',
  (engine) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'custodian-outbound-sweep-'))
    const PUBLIC_URL = 'https://custodian.sweep.test'
    let op: OidcProvider
    before(async () => {
      op = await startOidcProvider({ redirectUri: `${PUBLIC_URL}/v1/sso/callback`, dir })
    })
    after(async () => {
      await op?.stop()
    })
    const t = useTestApp(engine, {
      CUSTODIAN_PUBLIC_URL: PUBLIC_URL,
      CUSTODIAN_EXTRA_CA_FILE: path.join(dir, 'oidc-ca.pem'),
    })
    let w: World
    let n = 0

    before(async () => {
      const provider = await bootstrapProvider(t())
      const acme = await createCustomerOrg(t(), provider, 'Acme', `owner@${engine}.sweep.test`)
      const as = (method: string, tail: string, body?: unknown) =>
        t().request({ method, url: `/v1/orgs/${acme.orgId}${tail}`, token: acme.ownerToken, body })
      const destination = await as('POST', '/siem/destinations', {
        name: 'sweep',
        kind: 'jsonl',
        url: 'https://siem.sweep.test/in',
      })
      assert.equal(destination.status, 201, destination.text)
      const sso = await as('PUT', '/sso', {
        preset: 'oidc',
        issuer: op.issuer,
        clientId: 'custodian',
        clientSecret: 'custodian-secret',
        allowedDomains: ['acme.test'],
        defaultRole: 'member',
      })
      assert.equal(sso.status, 200, sso.text)
      const recipient = await as('POST', '/consent/recipients', {
        name: 'Sweep',
        url: 'https://recipient.sweep.test/in',
        deadlineHours: 24,
      })
      assert.equal(recipient.status, 201, recipient.text)
      w = { t: t(), acme, destination: destination.body.id, recipient: recipient.body.id, op }
    })

    it('names every route whose body sets a destination (from /openapi.json) in OUTBOUND or EXEMPT', async () => {
      const doc = (await t().request({ method: 'GET', url: '/openapi.json' })).body
      const found = destinationRoutes(doc as Parameters<typeof destinationRoutes>[0])
      assert.ok(found.length >= 5, `the sweep finds the known ones: ${found.join(', ')}`)
      assert.deepEqual(found, [...Object.keys(OUTBOUND), ...Object.keys(EXEMPT)].sort())
    })

    for (const [route, cases] of Object.entries(OUTBOUND))
      for (const c of cases)
        it(`${route}: ${c.what} needs ${c.needs.join(', ')}`, async () => {
          const custom = `sweep-${++n}`
          const made = await t().request({
            method: 'POST',
            url: `${O(w)}/roles`,
            token: w.acme.ownerToken,
            body: {
              name: custom,
              description: `every permission but ${c.needs.join(', ')}`,
              permissions: ALL_PERMISSIONS.filter((p) => !PROVIDER_ONLY.has(p) && !c.needs.includes(p)),
            },
          })
          assert.equal(made.status, 201, made.text)
          const { token } = await principalWithRole(t(), w.acme, custom)
          const method = route.slice(0, route.indexOf(' '))
          const before = await fingerprint(t())
          const refused = await t().request({ method, url: c.url(w), token, body: c.body(w, n) })
          assert.equal(refused.status, 403, refused.text)
          assert.equal(refused.body.code, 'EXCEEDS_OWN_PERMISSIONS')
          assert.deepEqual(refused.body.missingPermissions, [...c.needs].sort())
          assert.equal(await fingerprint(t()), before, 'nothing changed')
          const allowed = await t().request({ method, url: c.url(w), token: w.acme.ownerToken, body: c.body(w, n) })
          assert.equal(allowed.status, c.allowed, allowed.text)
        })
  },
)
