import * as OTPAuth from 'otpauth'
import type { JsonBody } from './json.ts'

const STEP_MS = 30_000
/** The highest time step handed out per seed in this process (the server refuses any step not above its last). */
const handedOut = new Map<string, number>()

function codeAt(secret: string, step: number): string {
  handedOut.set(secret, Math.max(handedOut.get(secret) ?? -1, step))
  return new OTPAuth.TOTP({
    secret: OTPAuth.Secret.fromBase32(secret),
    digits: 6,
    period: 30,
    algorithm: 'SHA1',
  }).generate({ timestamp: step * STEP_MS })
}

/** A TOTP code for a base32 seed, `offsetSteps` 30-second steps from now. */
export function totpCode(secret: string, offsetSteps = 0): string {
  return codeAt(secret, Math.floor(Date.now() / STEP_MS) + offsetSteps)
}

/**
 * A TOTP code the server has not seen yet: of a time step above every one handed out for this
 * seed in this process (the server refuses a step not above the last it accepted, RFC 6238
 * §5.2) and within its ±1-step window — waiting for the next step when needed. Use it when a
 * test may run within 30 s of an earlier code (the world's enrolment, a sign-in).
 */
export async function unusedTotpCode(secret: string): Promise<string> {
  for (;;) {
    const now = Math.floor(Date.now() / STEP_MS)
    const step = Math.max(now, (handedOut.get(secret) ?? -1) + 1)
    if (step <= now + 1) return codeAt(secret, step)
    await new Promise((resolve) => setTimeout(resolve, (now + 1) * STEP_MS - Date.now() + 50))
  }
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
