/**
 * WebAuthn in the browser, with the JSON forms the API speaks (WebAuthn Level 3
 * `PublicKeyCredentialCreationOptionsJSON` / `…RequestOptionsJSON` in, the credential's
 * `toJSON()` shape out). The base64url conversions are done here by hand, so the console
 * does not depend on the browser having `parseCreationOptionsFromJSON` or `toJSON()`.
 * No challenge, signature or key material is kept or logged.
 */

type Json = Record<string, unknown>

/** base64url (no padding) → bytes. Throws on characters outside the alphabet. */
export function fromBase64url(text: string): ArrayBuffer {
  const base64 = text.replace(/-/g, '+').replace(/_/g, '/')
  const binary = atob(base64 + '='.repeat((4 - (base64.length % 4)) % 4))
  const bytes = new Uint8Array(binary.length)
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i)
  return bytes.buffer
}

/** bytes → base64url without padding. */
export function toBase64url(buffer: ArrayBuffer | ArrayBufferView): string {
  const bytes =
    buffer instanceof ArrayBuffer
      ? new Uint8Array(buffer)
      : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)
  let binary = ''
  for (const byte of bytes) binary += String.fromCharCode(byte)
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
}

/** Whether this browser offers WebAuthn at all. */
export function passkeysSupported(): boolean {
  return typeof window.PublicKeyCredential === 'function' && typeof navigator.credentials === 'object'
}

function descriptors(list: unknown): PublicKeyCredentialDescriptor[] | undefined {
  if (!Array.isArray(list)) return undefined
  return (list as Json[]).map((d) => ({
    type: 'public-key',
    id: fromBase64url(String(d.id)),
    ...(Array.isArray(d.transports) ? { transports: d.transports as AuthenticatorTransport[] } : {}),
  }))
}

/**
 * navigator.credentials.create() with the API's creation options; answers the new
 * credential as the API's `RegistrationResponseJSON`. Throws the browser's DOMException when
 * the person cancels or the authenticator refuses.
 */
export async function createPasskey(options: Json): Promise<Json> {
  const user = options.user as Json
  const publicKey: PublicKeyCredentialCreationOptions = {
    ...(options as unknown as PublicKeyCredentialCreationOptions),
    challenge: fromBase64url(String(options.challenge)),
    user: { ...(user as unknown as PublicKeyCredentialUserEntity), id: fromBase64url(String(user.id)) },
    excludeCredentials: descriptors(options.excludeCredentials) ?? [],
  }
  const credential = (await navigator.credentials.create({ publicKey })) as PublicKeyCredential | null
  if (credential === null) throw new Error('the browser made no passkey')
  const response = credential.response as AuthenticatorAttestationResponse
  return credentialJson(credential, {
    attestationObject: toBase64url(response.attestationObject),
    ...(typeof response.getTransports === 'function' ? { transports: response.getTransports() } : {}),
  })
}

/**
 * navigator.credentials.get() with the API's request options; answers the assertion as the
 * API's `AuthenticationResponseJSON`.
 */
export async function getPasskeyAssertion(options: Json): Promise<Json> {
  const publicKey: PublicKeyCredentialRequestOptions = {
    ...(options as unknown as PublicKeyCredentialRequestOptions),
    challenge: fromBase64url(String(options.challenge)),
    allowCredentials: descriptors(options.allowCredentials) ?? [],
  }
  const credential = (await navigator.credentials.get({ publicKey })) as PublicKeyCredential | null
  if (credential === null) throw new Error('the browser gave no passkey')
  const response = credential.response as AuthenticatorAssertionResponse
  return credentialJson(credential, {
    authenticatorData: toBase64url(response.authenticatorData),
    signature: toBase64url(response.signature),
    ...(response.userHandle !== null && response.userHandle.byteLength > 0
      ? { userHandle: toBase64url(response.userHandle) }
      : {}),
  })
}

/**
 * What both ceremonies answer (`RegistrationResponseJSON`, `AuthenticationResponseJSON`):
 * the credential's ids, its client data with `fields` (the ceremony's own response fields),
 * its extension results and, when the browser says, its attachment.
 */
function credentialJson(credential: PublicKeyCredential, fields: Json): Json {
  const attachment = credential.authenticatorAttachment
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: 'public-key',
    response: { clientDataJSON: toBase64url(credential.response.clientDataJSON), ...fields },
    clientExtensionResults: credential.getClientExtensionResults(),
    ...(attachment === 'platform' || attachment === 'cross-platform' ? { authenticatorAttachment: attachment } : {}),
  }
}

/** A readable sentence for a WebAuthn failure (cancelled, timed out, refused). */
export function passkeyErrorMessage(error: unknown): string {
  if (error instanceof DOMException && error.name === 'NotAllowedError')
    return 'The passkey request was cancelled or timed out.'
  if (error instanceof DOMException && error.name === 'InvalidStateError')
    return 'This authenticator already holds a passkey for your account.'
  return error instanceof Error ? error.message : 'The passkey request failed.'
}

/** What to show for a failed passkey step: a WebAuthn DOMException as its sentence, anything else as it is. */
export function passkeyProblem(error: unknown): unknown {
  return error instanceof DOMException ? new Error(passkeyErrorMessage(error)) : error
}
