import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, OrgParams, Strict } from '../../http/schemas.ts'
import type { SecurityPolicyService } from './policy.service.ts'

/** The org's security policy (require 2FA, step-up window) and its IP allowlist. */
const PolicySchema = Type.Object(
  {
    require2fa: Type.Boolean({ description: 'members without 2FA can only enrol until they do' }),
    stepUpMinutes: Type.Integer({
      minimum: 1,
      maximum: 1440,
      description: 'how recent a second factor sensitive actions need',
    }),
  },
  Strict,
)

const AllowlistEntry = Type.Object(
  {
    cidr: Type.String({
      minLength: 1,
      maxLength: 64,
      description: 'IPv4 or IPv6 range in network form (203.0.113.0/24, 2001:db8::/32), or one address',
    }),
    description: Type.Optional(Type.String({ maxLength: 200 })),
  },
  Strict,
)
const AllowlistBody = Type.Object(
  {
    entries: Type.Array(AllowlistEntry, { maxItems: 200 }),
    force: Type.Optional(Type.Boolean({ description: 'apply even though the list does not include your own address' })),
  },
  Strict,
)
const AllowlistView = Type.Object({
  entries: Type.Array(Type.Object({ cidr: Type.String(), description: Type.String() })),
  yourAddress: Type.Union([Type.String(), Type.Null()]),
})

export function policyRoutes(deps: { policy: SecurityPolicyService }): FastifyPluginAsyncTypebox {
  const { policy } = deps
  return async (app) => {
    app.get('/v1/orgs/:orgId/security-policy', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags: ['two-factor authentication'],
        summary: 'The org’s security policy',
        params: OrgParams,
        response: { 200: PolicySchema, ...errorResponses('org') },
      },
      handler: async (request) => policy.get(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/security-policy', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags: ['two-factor authentication'],
        summary: 'Require 2FA for every member (P3.2) and set the step-up window',
        params: OrgParams,
        body: PolicySchema,
        response: { 200: PolicySchema, ...errorResponses('org') },
      },
      handler: async (request) => policy.set(ctxOf(request), request.body),
    })

    // Whole, not paged (issue 20): at most 200 entries (the schema's limit).
    app.get('/v1/orgs/:orgId/ip-allowlist', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags: ['ip allowlist'],
        summary: 'The org’s IP allowlist (P2.9) and the address this request came from',
        params: OrgParams,
        response: { 200: AllowlistView, ...errorResponses('org') },
      },
      handler: async (request) => policy.getIpAllowlist(ctxOf(request)),
    })

    app.put('/v1/orgs/:orgId/ip-allowlist', {
      config: { access: { permission: 'org:security' }, stepUp: true },
      schema: {
        tags: ['ip allowlist'],
        summary:
          'Replace the org’s IP allowlist: every request, login and SSO sign-in of the org from elsewhere is refused (403) and audited; [] lifts it',
        params: OrgParams,
        body: AllowlistBody,
        response: { 200: AllowlistView, ...errorResponses('org') },
      },
      handler: async (request) => policy.setIpAllowlist(ctxOf(request), request.body),
    })
  }
}
