import { Type } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ctxOf } from '../../http/route-helpers.ts'
import { errorResponses, OrgParams, RoleName, Strict, Uuid } from '../../http/schemas.ts'
import type { AccessService } from './access.service.ts'
import { GRANTABLE, PERMISSIONS, type Permission } from './permissions.ts'

const tags = ['access']
const RoleView = Type.Object({
  name: Type.String(),
  builtIn: Type.Boolean(),
  description: Type.String(),
  permissions: Type.Array(Type.String()),
})
const CreateRoleBody = Type.Object(
  {
    name: RoleName,
    description: Type.String({ maxLength: 500, default: '' }),
    permissions: Type.Array(Type.String({ pattern: '^[a-z_]+:[a-z_]+$' }), {
      minItems: 1,
      maxItems: 100,
      uniqueItems: true,
    }),
  },
  Strict,
)

const UpdateRoleBody = Type.Object(
  {
    description: Type.Optional(Type.String({ maxLength: 500 })),
    permissions: CreateRoleBody.properties.permissions,
  },
  Strict,
)

export function accessRoutes(deps: { access: AccessService }): FastifyPluginAsyncTypebox {
  const { access } = deps
  return async (app) => {
    // Whole, not paged (issue 20): the fixed catalog of permissions.
    app.get('/v1/permissions', {
      config: { access: { authenticated: true } },
      schema: {
        tags,
        summary:
          'The permission catalog: each permission, its meaning, and whether a diagnostic access grant may carry it',
        response: {
          200: Type.Object({
            permissions: Type.Array(
              Type.Object({
                name: Type.String(),
                description: Type.String(),
                grantable: Type.Boolean({
                  description:
                    'whether a diagnostic access grant may carry it (seeing and checking; vault:reveal for named secrets)',
                }),
              }),
            ),
          }),
          ...errorResponses('authenticated'),
        },
      },
      handler: async () => ({
        permissions: Object.entries(PERMISSIONS).map(([name, description]) => ({
          name,
          description,
          grantable: GRANTABLE.has(name as Permission),
        })),
      }),
    })

    // Whole, not paged (issue 20): built-in roles and at most MAX_CUSTOM_ROLES (100) custom roles.
    app.get('/v1/orgs/:orgId/roles', {
      config: { access: { permission: 'roles:read' } },
      schema: {
        tags,
        summary: 'Built-in and custom roles',
        params: OrgParams,
        response: { 200: Type.Object({ roles: Type.Array(RoleView) }), ...errorResponses('org') },
      },
      handler: async (request) => ({ roles: await access.listRoles(ctxOf(request)) }),
    })

    app.post('/v1/orgs/:orgId/roles', {
      config: { access: { permission: 'roles:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Create a custom role from catalog permissions',
        params: OrgParams,
        body: CreateRoleBody,
        response: { 201: RoleView, ...errorResponses('org') },
      },
      handler: async (request, reply) => reply.code(201).send(await access.createRole(ctxOf(request), request.body)),
    })

    app.put('/v1/orgs/:orgId/roles/:name', {
      config: { access: { permission: 'roles:manage' }, stepUp: true },
      schema: {
        tags,
        summary:
          'Change a custom role’s permissions (and description); its holders have the new set on their next request',
        params: Type.Object({ orgId: Uuid, name: RoleName }, Strict),
        body: UpdateRoleBody,
        response: { 200: RoleView, ...errorResponses('org') },
      },
      handler: async (request) => access.updateRole(ctxOf(request), request.params.name, request.body),
    })

    app.delete('/v1/orgs/:orgId/roles/:name', {
      config: { access: { permission: 'roles:manage' }, stepUp: true },
      schema: {
        tags,
        summary: 'Delete a custom role that no one holds',
        params: Type.Object({ orgId: Uuid, name: RoleName }, Strict),
        response: { 204: Type.Null(), ...errorResponses('org') },
      },
      handler: async (request, reply) => {
        await access.deleteRole(ctxOf(request), request.params.name)
        return reply.code(204).send(null)
      },
    })
  }
}
