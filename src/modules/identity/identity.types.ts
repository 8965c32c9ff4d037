import { Type, type Static } from '@sinclair/typebox'
import { AssertionSchema } from './passkeys.types.ts'
import { Credential, Email, Name, Password, RoleName, Strict, Timestamp, Uuid } from '../../http/schemas.ts'

export const OrgViewSchema = Type.Object({
  id: Uuid,
  kind: Type.Union([Type.Literal('provider'), Type.Literal('customer')]),
  name: Type.String(),
  timeZone: Type.String({
    description: 'IANA time zone in which the org’s hours of the day are counted (alert rules)',
  }),
  region: Type.Union([Type.String(), Type.Null()], {
    description:
      'the region the org is pinned to (data residency, P8.2): all its data lives in, and is served from, that region’s deployment; null where no region is configured',
  }),
  createdAt: Timestamp,
})
export type OrgView = Static<typeof OrgViewSchema>

/** A binding's path scope as stored and shown: patterns, or null for every secret. */
export const SecretPathsView = Type.Union([Type.Array(Type.String()), Type.Null()], {
  description:
    'secret path patterns the role reaches (docs/secret-paths.md): `*`, a prefix `payments/*`, or an exact path; null: every secret',
})
/** A path scope in a request: 1–50 patterns, or null for every secret (checked further by the service). */
export function secretPathsInput(description: string) {
  return Type.Union(
    [
      Type.Array(Type.String({ minLength: 1, maxLength: 130 }), {
        minItems: 1,
        maxItems: 50,
        description: 'secret path patterns: `*`, a prefix ending in `/*` (any depth), or an exact path',
      }),
      Type.Null(),
    ],
    { description: `at most your own path scope; null: every secret; ${description}` },
  )
}

export const MemberViewSchema = Type.Object({
  userId: Uuid,
  email: Type.String(),
  role: Type.String(),
  secretPaths: SecretPathsView,
  joinedAt: Timestamp,
  suspendedAt: Type.Union([Timestamp, Type.Null()]),
})
export type MemberView = Static<typeof MemberViewSchema>

export const InvitationViewSchema = Type.Object({
  id: Uuid,
  email: Type.String(),
  role: Type.String(),
  secretPaths: SecretPathsView,
  expiresAt: Timestamp,
})
export type InvitationView = Static<typeof InvitationViewSchema>

export const ServiceAccountViewSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  role: Type.String(),
  secretPaths: SecretPathsView,
  createdAt: Timestamp,
})
export type ServiceAccountView = Static<typeof ServiceAccountViewSchema>

export const ApiTokenViewSchema = Type.Object({
  id: Uuid,
  name: Type.String(),
  userId: Type.Union([Uuid, Type.Null()]),
  serviceAccountId: Type.Union([Uuid, Type.Null()]),
  holderName: Type.Union([Type.String(), Type.Null()], {
    description:
      'who holds the token, in words: the member’s email or the service account’s name; null for a former member',
  }),
  scopes: Type.Union([Type.Array(Type.String()), Type.Null()], {
    description: 'null: all of the holder’s permissions',
  }),
  secretPaths: Type.Union([Type.Array(Type.String()), Type.Null()], {
    description:
      'secret path patterns narrowing the holder’s own (docs/secret-paths.md); null: the holder’s as they are',
  }),
  createdAt: Timestamp,
  expiresAt: Timestamp,
  lastUsedAt: Type.Union([Timestamp, Type.Null()]),
  revokedAt: Type.Union([Timestamp, Type.Null()]),
})
export type ApiTokenView = Static<typeof ApiTokenViewSchema>

export const BootstrapBody = Type.Object({ token: Credential, orgName: Name, email: Email, password: Password }, Strict)
export const LoginBody = Type.Object(
  {
    email: Email,
    password: Type.String({ minLength: 1, maxLength: 256 }),
    orgId: Type.Optional(Uuid),
    code: Type.Optional(
      Type.String({
        minLength: 6,
        maxLength: 32,
        description: 'TOTP code or recovery code, when the account has two-factor authentication',
      }),
    ),
    // A passkey assertion instead of "code" (options from POST /v1/login/passkey/options).
    passkey: Type.Optional(AssertionSchema),
  },
  Strict,
)
export const AcceptInvitationBody = Type.Object(
  {
    token: Credential,
    password: Password,
    code: Type.Optional(
      Type.String({
        minLength: 6,
        maxLength: 32,
        description:
          'an existing account with two-factor authentication joins with its current TOTP code or a recovery code',
      }),
    ),
  },
  Strict,
)
/** A region's name (src/modules/ops/residency.ts REGION_NAME). */
export const RegionName = Type.String({
  pattern: '^[a-z][a-z0-9-]{0,31}$',
  description: 'a region of the deployment’s directory (CUSTODIAN_REGIONS)',
})
export const CreateOrgBody = Type.Object(
  {
    name: Name,
    ownerEmail: Email,
    region: Type.Optional({
      ...RegionName,
      description:
        'the region to pin the org to; an org is created only in its own region’s deployment, so anything but this deployment’s region is refused (409 ORG_REGION_PINNED); default this deployment’s',
    }),
  },
  Strict,
)
export const TimeZone = Type.String({
  minLength: 1,
  maxLength: 64,
  description: 'an IANA time zone such as Europe/Berlin (default UTC); not a fixed offset',
})
export const UpdateOrgBody = Type.Object(
  {
    name: Type.Optional(Name),
    timeZone: Type.Optional(TimeZone),
    region: Type.Optional({
      ...RegionName,
      description:
        'accepted only as the org’s own region: an org never moves to another region (409 ORG_REGION_PINNED, recorded)',
    }),
  },
  { ...Strict, minProperties: 1 },
)
export const InviteBody = Type.Object(
  {
    email: Email,
    role: RoleName,
    secretPaths: Type.Optional(secretPathsInput('the member’s path scope; omitted: your own')),
  },
  Strict,
)
export const ChangeRoleBody = Type.Object(
  { role: RoleName, secretPaths: Type.Optional(secretPathsInput('omitted: unchanged')) },
  Strict,
)
export const ServiceAccountBody = Type.Object(
  {
    name: Type.String({ pattern: '^[a-z0-9][a-z0-9._-]{0,62}$' }),
    role: RoleName,
    secretPaths: Type.Optional(secretPathsInput('omitted: your own path scope')),
  },
  Strict,
)
export const CreateTokenBody = Type.Object(
  {
    name: Name,
    expiresInDays: Type.Integer({ minimum: 1, maximum: 3650 }),
    scopes: Type.Optional(
      Type.Array(Type.String({ pattern: '^[a-z_]+:[a-z_]+$' }), {
        maxItems: 100,
        uniqueItems: true,
        description: 'at most your own permissions; omitted: your own (never more than the credential you call with)',
      }),
    ),
    secretPaths: Type.Optional(
      secretPathsInput(
        'narrows the holder’s path scope; omitted: the holder’s as they are (yours, if the holder reaches beyond you)',
      ),
    ),
    serviceAccountId: Type.Optional(Uuid),
  },
  Strict,
)

export const AccountOrgSchema = Type.Object({
  orgId: Uuid,
  name: Type.String(),
  kind: Type.Union([Type.Literal('provider'), Type.Literal('customer')]),
  role: Type.String(),
  joinedAt: Timestamp,
  suspendedAt: Type.Union([Timestamp, Type.Null()], {
    description: 'set while the membership is suspended: signing in to that org is refused',
  }),
  current: Type.Boolean({ description: 'the org this credential acts in' }),
  served: Type.Boolean({
    description:
      'false while rollback detection refuses the org (P8.1): its requests and sign-ins answer 503 `refusal` until an operator acknowledges the rollback (or a witness answers); the console shows it, and does not offer to sign in to it',
  }),
  refusal: Type.Union([Type.Literal('ORG_ROLLED_BACK'), Type.Literal('ORG_ROLLBACK_UNCHECKED'), Type.Null()], {
    description: 'the code the org’s requests answer while it is not served (docs/errors.md); null when served',
  }),
})
export type AccountOrg = Static<typeof AccountOrgSchema>
