import { Type, type TProperties, type TSchema } from '@sinclair/typebox'
import { MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH } from '../crypto/password.ts'

/** Shared JSON schemas. Objects reject unknown fields: a typo is an error, not a no-op. */

export const Strict = { additionalProperties: false } as const

export const Uuid = Type.String({ format: 'uuid', description: 'UUID' })
/** One plain mailbox (addr-spec only), as src/email-address.ts parses it: the app registers that parser as the `email` format. */
export const Email = Type.String({
  format: 'email',
  maxLength: 254,
  description:
    'one plain email address (local@domain): no display name, comment, group, quoted local part or IP literal',
})
export const Password = Type.String({
  minLength: MIN_PASSWORD_LENGTH,
  maxLength: MAX_PASSWORD_LENGTH,
  description: `${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH} characters`,
})
export const Name = Type.String({ minLength: 1, maxLength: 200, pattern: '\\S' })
export const RoleName = Type.String({
  pattern: '^[a-z][a-z0-9_-]{1,39}$',
  description: 'built-in (owner, admin, member, auditor, viewer) or a custom role',
})
export const Timestamp = Type.String({ format: 'date-time' })
export const Credential = Type.String({ minLength: 1, maxLength: 200 })

export const OrgParams = Type.Object({ orgId: Uuid }, Strict)

/** RFC 9457 problem document, as every error response carries it. */
export const Problem = Type.Object(
  {
    type: Type.String(),
    title: Type.String(),
    status: Type.Integer(),
    code: Type.String({ description: 'stable machine-readable error code' }),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    requestId: Type.Optional(Type.String()),
    permission: Type.Optional(Type.String()),
    missingPermissions: Type.Optional(
      Type.Array(Type.String(), {
        description: 'EXCEEDS_OWN_PERMISSIONS: what the caller lacks of what it tried to give',
      }),
    ),
    secretPaths: Type.Optional(
      Type.Array(Type.String(), {
        description: 'secret path patterns (or the path) outside the caller’s own path scope',
      }),
    ),
    retryAfter: Type.Optional(Type.Integer()),
    errors: Type.Optional(Type.Array(Type.Object({ path: Type.String(), message: Type.String() }))),
  },
  { $id: 'Problem', title: 'Problem (RFC 9457)' },
)

export const ProblemRef = Type.Ref('Problem')

/** Error responses every route can give, by how it is reached. */
export function errorResponses(kind: 'public' | 'authenticated' | 'org'): Record<number, TSchema> {
  const common = {
    400: ProblemRef,
    413: ProblemRef,
    415: ProblemRef,
    429: ProblemRef,
    500: ProblemRef,
    503: ProblemRef,
  }
  if (kind === 'public') return { ...common, 403: ProblemRef, 404: ProblemRef, 409: ProblemRef, 401: ProblemRef }
  if (kind === 'authenticated') return { ...common, 401: ProblemRef, 403: ProblemRef }
  return { ...common, 401: ProblemRef, 403: ProblemRef, 404: ProblemRef, 409: ProblemRef }
}

/**
 * `limit` and `cursor` of every list that grows with an org's history or membership
 * (src/db/page.ts): at most 500 rows a page, 100 by default; `cursor` is the previous
 * page's `nextCursor`, opaque, and a cursor this API did not return is a 400.
 */
export const PageParams = {
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 100, description: 'rows per page' }),
  cursor: Type.Optional(
    Type.String({ maxLength: 1000, description: 'the previous page’s nextCursor (absent for the first page)' }),
  ),
}

/** A page query of a list without filters. */
export const PageQuery = Type.Object(PageParams, Strict)

/** A page query, with the list's own filters beside `limit` and `cursor`. */
export function pageQuery<P extends TProperties>(filters: P) {
  return Type.Object({ ...filters, ...PageParams }, Strict)
}

/** The null that ends a list: the last page says there is no next one. */
export const NextCursor = Type.Union([Type.String(), Type.Null()], {
  description: 'pass as `cursor` for the next page; null on the last page',
})
