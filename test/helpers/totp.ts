import * as OTPAuth from 'otpauth'
import type { JsonBody } from './json.ts'

/** A TOTP code for a base32 seed, `offsetSteps` 30-second steps from now. */
export function totpCode(secret: string, offsetSteps = 0): string {
  return new OTPAuth.TOTP({
    secret: OTPAuth.Secret.fromBase32(secret),
    digits: 6,
    period: 30,
    algorithm: 'SHA1',
  }).generate({ timestamp: Date.now() + offsetSteps * 30_000 })
}

type Send = (method: string, url: string, body?: unknown) => Promise<{ status: number; body: JsonBody; text: string }>

/**
 * Enrols the caller in TOTP through the API (begin, confirm with a first code) and returns
 * the seed and recovery codes. Operators must do this before anything else (P3.2).
 */
export async function enrolTotp(send: Send): Promise<{ secret: string; recoveryCodes: string[] }> {
  const begun = await send('POST', '/v1/me/2fa/totp')
  if (begun.status !== 200) throw new Error(`2FA enrolment failed: ${begun.text}`)
  const secret = begun.body.secret as string
  const confirmed = await send('POST', '/v1/me/2fa/totp/confirm', { code: totpCode(secret) })
  if (confirmed.status !== 200) throw new Error(`2FA confirmation failed: ${confirmed.text}`)
  return { secret, recoveryCodes: confirmed.body.recoveryCodes as string[] }
}
