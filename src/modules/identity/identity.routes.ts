import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SESSION_COOKIE } from '../../http/access-control.ts'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, NextCursor, OrgParams, PageQuery, Strict, Uuid } from '../../http/schemas.ts'
import type { AuthService } from './auth.service.ts'
import type { IdentityService } from './identity.service.ts'
import {
  AcceptInvitationBody,
  AccountOrgSchema,
  ApiTokenViewSchema,
  BootstrapBody,
  ChangeRoleBody,
  CreateOrgBody,
  CreateTokenBody,
  InvitationViewSchema,
  InviteBody,
  LoginBody,
  MemberViewSchema,
  OrgViewSchema,
  UpdateOrgBody,
  ServiceAccountBody,
  ServiceAccountViewSchema,
} from './identity.types.ts'

const tags = ['identity']
const WithToken = (schema: typeof InvitationViewSchema | typeof ApiTokenViewSchema) =>
  Type.Composite([schema, Type.Object({ token: Type.String({ description: 'shown once; store it now' }) })])
const MemberParams = Type.Object({ orgId: Uuid, userId: Uuid }, Strict)
const ServiceAccountParams = Type.Object({ orgId: Uuid, serviceAccountId: Uuid }, Strict)
const TokenParams = Type.Object({ orgId: Uuid, tokenId: Uuid }, Strict)
export function identityRoutes(deps: {
  auth: AuthService
  identity: IdentityService
  rateLimitPerMinute: number
}): FastifyPluginAsyncTypebox {
  const { auth, identity } = deps
  // Credential endpoints: per-address limit on top of the per-account lockout.
  const strictLimit = { max: deps.rateLimitPerMinute, timeWindow: '1 minute' }
  return async (app) => {
    app.post('/v1/bootstrap', {
      config: { access: { public: true }, rateLimit: strictLimit },
      schema: {
        tags,
        summary: 'Create the provider org and its first owner with the one-time bootstrap token (P2.4)',
        body: BootstrapBody,
        response: {
          201: Type.Object({ apiToken: Type.String(), orgId: Uuid, userId: Uuid }),
          ...errorResponses('public'),
        },
      },
      handler: async (request, reply) => reply.code(201).send(await auth.bootstrap(request.body, request.meta)),
    })

    app.post('/v1/login', {
      config: { access: { public: true }, rateLimit: strictLimit },
      schema: {
        tags,
        summary: 'Sign in with email and password; sets the session cookie',
        body: LoginBody,
        response: {
          200: Type.Object({
            orgId: Uuid,
            csrfToken: Type.String({ description: 'send as X-CSRF-Token on state-changing requests' }),
            expiresAt: Type.String({ format: 'date-time' }),
          }),
          ...errorResponses('public'),
        },
      },
      handler: async (request, reply) => {
        const session = await auth.login(request.body, request.meta)
        reply.setCookie(SESSION_COOKIE, session.sessionToken, {
          httpOnly: true,
          secure: true,
          sameSite: 'strict',
          path: '/',
          expires: session.expiresAt,
        })
        return { orgId: session.orgId, csrfToken: session.csrfToken, expiresAt: session.expiresAt.toISOString() }
      },
    })

    app.post('/v1/logout', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: 'End this session (or revoke the API token used)',
        response: { 204: Type.Null(), ...errorResponses('authenticated') },
      },
      handler: async (request, reply) => {
        await auth.logout(ctxOf(request).principal, request.meta)
        reply.clearCookie(SESSION_COOKIE, { path: '/', secure: true, httpOnly: true, sameSite: 'strict' })
        return reply.code(204).send(null)
      },
    })

    app.get('/v1/me', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: 'Who the credential belongs to and what it may do',
        response: {
          200: Type.Object({
            kind: Type.String(),
            id: Uuid,
            orgId: Uuid,
            orgKind: Type.String(),
            role: Type.String(),
            permissions: Type.Array(Type.String()),
            via: Type.String(),
          }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const p = ctxOf(request).principal
        return {
          kind: p.kind,
          id: p.id,
          orgId: p.orgId,
          orgKind: p.orgKind,
          role: p.role,
          permissions: [...p.permissions].sort(),
          via: p.via.type,
        }
      },
    })

    app.get('/v1/me/orgs', {
      config: { access: { authenticated: true }, mfaExempt: true },
      schema: {
        tags,
        summary: 'The orgs your account belongs to, oldest membership first, a page at a time',
        description:
          'A browser session lists every org of its account, each with the role held there and whether ' +
          'the membership is suspended; `current` marks the org the session acts in. To act in another ' +
          'org, sign in to it (POST /v1/login with its orgId): its own policy (two-factor, allowed ' +
          'addresses, SSO) then applies. An API token is bound to one org and lists only that org.',
        querystring: PageQuery,
        response: {
          200: Type.Object({ orgs: Type.Array(AccountOrgSchema), nextCursor: NextCursor }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await identity.listAccountOrgs(ctxOf(request), request.query)
        return { orgs: items, nextCursor }
      },
    })

    app.post('/v1/invitations/accept', {
      config: { access: { public: true }, rateLimit: strictLimit },
      schema: {
        tags,
        summary: 'Accept an invitation: join the org (creating the account) and get an API token',
        body: AcceptInvitationBody,
        response: {
          201: Type.Object({
            orgId: Uuid,
            userId: Uuid,
            email: Type.String({ description: 'the account’s email (the invitation’s): what it signs in with' }),
            apiToken: Type.String(),
          }),
          ...errorResponses('public'),
        },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await identity.acceptInvitation(request.body, request.meta)),
    })

    app.post('/v1/orgs', {
      // Hands out an owner's invitation: a credential, so a fresh second factor (K3).
      config: { access: { permission: 'orgs:create' }, stepUp: true },
      schema: {
        tags,
        summary: 'Create a customer org (provider principals); returns its first owner’s invitation',
        body: CreateOrgBody,
        response: {
          201: Type.Object({ org: OrgViewSchema, invitation: WithToken(InvitationViewSchema) }),
          ...errorResponses('org'),
        },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await identity.createCustomerOrg(ctxOf(request), request.body)),
    })

    app.get('/v1/orgs/:orgId', {
      config: { access: { permission: 'org:read' } },
      schema: {
        tags,
        summary: 'The org',
        params: OrgParams,
        response: { 200: OrgViewSchema, ...errorResponses('org') },
      },
      handler: async (request) => identity.getOrg(ctxOf(request)),
    })

    app.patch('/v1/orgs/:orgId', {
      config: { access: { permission: 'org:update' } },
      schema: {
        tags,
        summary:
          'Rename the org, or set its time zone (an IANA zone: the alert rules count its hours of the day there)',
        params: OrgParams,
        body: UpdateOrgBody,
        response: { 200: OrgViewSchema, ...errorResponses('org') },
      },
      handler: async (request) => identity.updateOrg(ctxOf(request), request.body),
    })

    app.get('/v1/orgs/:orgId/members', {
      config: { access: { permission: 'members:read' } },
      schema: {
        tags,
        summary:
          'Members in the order they joined, a page at a time; the pending invitations with the first page (they expire)',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({
            members: Type.Array(MemberViewSchema),
            invitations: Type.Array(InvitationViewSchema, {
              description: 'pending invitations; empty after the first page',
            }),
            nextCursor: NextCursor,
          }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => identity.listMembers(ctxOf(request), request.query),
    })

    app.post('/v1/orgs/:orgId/invitations', {
      config: { access: { permission: 'members:invite' }, stepUp: true },
      schema: {
        tags,
        summary: 'Invite someone; the token is shown once and is valid 7 days',
        params: OrgParams,
        body: InviteBody,
        response: { 201: WithToken(InvitationViewSchema), ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await identity.invite(ctxOf(request), request.body)),
    })

    app.patch('/v1/orgs/:orgId/members/:userId', {
      config: { access: { permission: 'members:update' }, stepUp: true },
      schema: {
        tags,
        summary: 'Change a member’s role (effective on their next request)',
        params: MemberParams,
        body: ChangeRoleBody,
        response: { 200: MemberViewSchema, ...errorResponses('org') },
      },
      handler: async (request) =>
        identity.changeRole(ctxOf(request), request.params.userId, request.body.role, request.body.secretPaths),
    })

    app.delete('/v1/orgs/:orgId/members/:userId', {
      config: { access: { permission: 'members:remove' }, stepUp: true },
      schema: {
        tags,
        summary: 'Remove a member: their sessions and tokens in this org are revoked at once (P2.6)',
        params: MemberParams,
        response: {
          200: Type.Object({ revokedTokens: Type.Integer(), revokedSessions: Type.Integer() }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => identity.removeMember(ctxOf(request), request.params.userId),
    })

    app.post('/v1/orgs/:orgId/members/:userId/suspend', {
      config: { access: { permission: 'members:update' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Suspend a member: every session and token of theirs stops working at once, the membership stays (P2.6)',
        params: MemberParams,
        response: { 200: MemberViewSchema, ...errorResponses('org') },
      },
      handler: async (request) => identity.setSuspended(ctxOf(request), request.params.userId, true),
    })

    app.post('/v1/orgs/:orgId/members/:userId/resume', {
      config: { access: { permission: 'members:update' }, stepUp: true },
      schema: {
        tags,
        summary: 'Resume a suspended member',
        params: MemberParams,
        response: { 200: MemberViewSchema, ...errorResponses('org') },
      },
      handler: async (request) => identity.setSuspended(ctxOf(request), request.params.userId, false),
    })

    app.get('/v1/orgs/:orgId/service-accounts', {
      config: { access: { permission: 'service_accounts:read' } },
      schema: {
        tags,
        summary: 'Service accounts, oldest first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ serviceAccounts: Type.Array(ServiceAccountViewSchema), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await identity.listServiceAccounts(ctxOf(request), request.query)
        return { serviceAccounts: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/service-accounts', {
      config: { access: { permission: 'service_accounts:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Create a service account (a non-human principal, e.g. the host application)',
        params: OrgParams,
        body: ServiceAccountBody,
        response: { 201: ServiceAccountViewSchema, ...errorResponses('org') },
      },
      handler: async (request, reply) =>
        reply.code(201).send(await identity.createServiceAccount(ctxOf(request), request.body)),
    })

    app.patch('/v1/orgs/:orgId/service-accounts/:serviceAccountId', {
      config: { access: { permission: 'service_accounts:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Change a service account’s role (its tokens carry the new permissions on their next use)',
        params: ServiceAccountParams,
        body: ChangeRoleBody,
        response: { 200: ServiceAccountViewSchema, ...errorResponses('org') },
      },
      handler: async (request) =>
        identity.changeServiceAccountRole(
          ctxOf(request),
          request.params.serviceAccountId,
          request.body.role,
          request.body.secretPaths,
        ),
    })

    app.delete('/v1/orgs/:orgId/service-accounts/:serviceAccountId', {
      config: { access: { permission: 'service_accounts:manage' } },
      schema: {
        tags,
        summary: 'Delete a service account and its tokens',
        params: ServiceAccountParams,
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await identity.deleteServiceAccount(ctxOf(request), request.params.serviceAccountId)
        return reply.code(204).send(null)
      },
    })

    app.get('/v1/orgs/:orgId/tokens', {
      config: { access: { permission: 'tokens:read' } },
      schema: {
        tags,
        summary: 'API tokens of the org (metadata; secrets are never stored), oldest first, a page at a time',
        params: OrgParams,
        querystring: PageQuery,
        response: {
          200: Type.Object({ tokens: Type.Array(ApiTokenViewSchema), nextCursor: NextCursor }),
          ...errorResponses('org'),
        },
      },
      handler: async (request) => {
        const { items, nextCursor } = await identity.listTokens(ctxOf(request), request.query)
        return { tokens: items, nextCursor }
      },
    })

    app.post('/v1/orgs/:orgId/tokens', {
      config: { access: { permission: 'tokens:create' }, stepUp: true },
      schema: {
        tags,
        summary: 'Issue an API token for yourself, or for a service account (needs service_accounts:manage)',
        params: OrgParams,
        body: CreateTokenBody,
        response: { 201: WithToken(ApiTokenViewSchema), ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await identity.createToken(ctxOf(request), request.body)),
    })

    app.delete('/v1/orgs/:orgId/tokens/:tokenId', {
      config: { access: { permission: 'tokens:revoke' } },
      schema: {
        tags,
        summary: 'Revoke an API token (effective on its next use)',
        params: TokenParams,
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await identity.revokeToken(ctxOf(request), request.params.tokenId)
        return reply.code(204).send(null)
      },
    })
  }
}
