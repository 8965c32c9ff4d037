import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { Agent, fetch as undiciFetch } from 'undici'

/**
 * Outbound HTTPS (OpenID providers, webhooks): the system's roots, plus the PEM
 * certificates of `CUSTODIAN_EXTRA_CA_FILE` for services behind a private CA. Nothing
 * else is relaxed: no plain HTTP, no skipped verification.
 */
export type OutboundFetch = (url: string, init: { method: string; headers: Record<string, string>; body?: string | URLSearchParams | undefined; signal?: AbortSignal | undefined; redirect?: 'manual' | 'error' | 'follow' }) => Promise<Response>

/**
 * The certificates of a PEM bundle, one string each: TLS clients given one string holding
 * several certificates use only the first.
 */
export function pemCertificates(file: string): string[] {
  return readFileSync(file, 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
}

/** The system's roots plus the extra CA file's certificates. */
export function trustedCas(caFile: string | undefined): string[] | undefined {
  return caFile === undefined ? undefined : [...rootCertificates, ...pemCertificates(caFile)]
}

export function createOutboundFetch(caFile: string | undefined): OutboundFetch {
  if (caFile === undefined) return (url, init) => fetch(url, init)
  const agent = new Agent({ connect: { ca: trustedCas(caFile) } })
  // undici's own Response class: the global Response's interface, and nothing here uses instanceof.
  // eslint-disable-next-line @typescript-eslint/no-unsafe-class-instance-assignment
  return (url, init) => undiciFetch(url, { ...init, dispatcher: agent })
}
