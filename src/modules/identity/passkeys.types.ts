import { Type } from '@sinclair/typebox'
import { Strict } from '../../http/schemas.ts'

/** WebAuthn responses as browsers serialize them, bounded in size (base64url fields). */
const B64 = (maxLength: number, description?: string) =>
  Type.String({
    pattern: '^[A-Za-z0-9_-]*$',
    minLength: 1,
    maxLength,
    ...(description === undefined ? {} : { description }),
  })
const ExtensionResults = Type.Object({}, { additionalProperties: true, maxProperties: 16 })
const Attachment = Type.Optional(Type.Union([Type.Literal('platform'), Type.Literal('cross-platform')]))

/** `AuthenticationResponseJSON` of WebAuthn Level 3 (`PublicKeyCredential.toJSON()` of an assertion). */
export const AssertionSchema = Type.Object(
  {
    id: B64(1400, 'credential id'),
    rawId: B64(1400),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: B64(4096),
        authenticatorData: B64(4096),
        signature: B64(2048),
        userHandle: Type.Optional(B64(128)),
      },
      Strict,
    ),
    clientExtensionResults: ExtensionResults,
    authenticatorAttachment: Attachment,
  },
  { ...Strict, description: 'the assertion, as PublicKeyCredential.toJSON() gives it' },
)

/** `RegistrationResponseJSON` of WebAuthn Level 3 (`PublicKeyCredential.toJSON()` of a new credential). */
export const AttestationSchema = Type.Object(
  {
    id: B64(1400, 'credential id'),
    rawId: B64(1400),
    type: Type.Literal('public-key'),
    response: Type.Object(
      {
        clientDataJSON: B64(4096),
        attestationObject: B64(16_384),
        authenticatorData: Type.Optional(B64(16_384)),
        transports: Type.Optional(Type.Array(Type.String({ maxLength: 32 }), { maxItems: 8 })),
        publicKeyAlgorithm: Type.Optional(Type.Integer()),
        publicKey: Type.Optional(B64(4096)),
      },
      Strict,
    ),
    clientExtensionResults: ExtensionResults,
    authenticatorAttachment: Attachment,
  },
  { ...Strict, description: 'the new credential, as PublicKeyCredential.toJSON() gives it' },
)
