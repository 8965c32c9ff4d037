import { Temporal } from 'temporal-polyfill'
import type { Config } from '../../config.ts'

/**
 * /.well-known/security.txt (RFC 9116, P9.2), built from configuration.
 *
 * - Contact: the configured URIs; without any, the report form (/report, a plain HTML
 *   form that works without JavaScript), so the file is never without a working contact.
 * - Expires: a rolling date `expiresDays` ahead, at the start of a UTC day, so the file
 *   is stable within a day and never served stale.
 * - Canonical and Policy: under CUSTODIAN_PUBLIC_URL, or the request's own origin when it
 *   is unset and the file is not signed (a signed file needs the configured URL: a Host
 *   header must not be able to choose what gets signed).
 * - Signed, when a key is configured, as an OpenPGP cleartext message (RFC 9116 §2.3).
 *   The key is read and checked at start; a key that cannot sign stops the start.
 */
export interface SecurityTxt {
  /** Loads and checks the signing key, if one is configured. */
  ready(): Promise<void>
  /** The file for a request to `origin` (https://host[:port]) at time `now`. */
  render(origin: string, now: Date): Promise<string>
  /** The signing key's fingerprint, or undefined when the file is not signed. */
  fingerprint(): string | undefined
}

type OpenPgp = typeof import('openpgp')
type PrivateKey = Awaited<ReturnType<OpenPgp['readPrivateKey']>>

export const POLICY_PATH = '/v1/vulnerability-reports/policy'
/** The report form (disclosure.pages.ts). */
export const REPORT_FORM_PATH = '/report'

export function createSecurityTxt(config: Pick<Config, 'publicUrl' | 'disclosure'>): SecurityTxt {
  const d = config.disclosure
  let signer: { openpgp: OpenPgp; key: PrivateKey } | undefined
  const cache = new Map<string, string>()

  function body(origin: string, now: Date): string {
    const base = config.publicUrl ?? origin
    const expires = new Date(
      Temporal.Instant.fromEpochMilliseconds(now.getTime())
        .toZonedDateTimeISO('UTC')
        .startOfDay()
        .add({ days: d.expiresDays }).epochMilliseconds,
    )
    const contacts = d.contacts.length > 0 ? d.contacts : [`${base}${REPORT_FORM_PATH}`]
    const lines = [
      '# Security contact for this Custodian deployment (RFC 9116).',
      `# Report a vulnerability with the form at ${base}${REPORT_FORM_PATH} (no JavaScript needed),`,
      `# or POST ${base}/v1/vulnerability-reports (see Policy).`,
      ...contacts.map((c) => `Contact: ${c}`),
      `Expires: ${expires.toISOString().replace(/\.000Z$/, 'Z')}`,
      ...(d.encryptionUrl === undefined ? [] : [`Encryption: ${d.encryptionUrl}`]),
      ...(d.acknowledgmentsUrl === undefined ? [] : [`Acknowledgments: ${d.acknowledgmentsUrl}`]),
      `Preferred-Languages: ${d.languages.join(', ')}`,
      `Canonical: ${base}/.well-known/security.txt`,
      `Policy: ${d.policyUrl ?? `${base}${POLICY_PATH}`}`,
    ]
    return `${lines.join('\n')}\n`
  }

  return {
    async ready() {
      if (d.signingKey === undefined || signer !== undefined) return
      const openpgp = await import('openpgp')
      let key: PrivateKey
      try {
        key = await openpgp.readPrivateKey({ armoredKey: d.signingKey })
        if (!key.isDecrypted()) {
          if (d.signingPassphrase === undefined)
            throw new Error('the key is protected by a passphrase: set CUSTODIAN_SECURITY_TXT_SIGNING_PASSPHRASE_FILE')
          key = await openpgp.decryptKey({ privateKey: key, passphrase: d.signingPassphrase })
        }
        await key.getSigningKey()
      } catch (error) {
        throw new Error(
          `CUSTODIAN_SECURITY_TXT_SIGNING_KEY_FILE: cannot sign with this key: ${(error as Error).message}`,
          { cause: error },
        )
      }
      signer = { openpgp, key }
    },

    async render(origin, now) {
      const text = body(origin, now)
      if (d.signingKey === undefined) return text
      if (signer === undefined) await this.ready()
      const cached = cache.get(text)
      if (cached !== undefined) return cached
      const { openpgp, key } = signer as NonNullable<typeof signer>
      const signed = await openpgp.sign({ message: await openpgp.createCleartextMessage({ text }), signingKeys: key })
      cache.clear() // one day's file at a time
      cache.set(text, signed)
      return signed
    },

    fingerprint: () => signer?.key.getFingerprint(),
  }
}

/** The reporting policy that security.txt points to when no other is configured (text/plain). */
export function renderPolicy(base: string, config: Pick<Config, 'disclosure'>): string {
  const d = config.disclosure
  const weekend = [1, 2, 3, 4, 5, 6, 0]
    .filter((i) => d.weekend.has(i))
    .map((i) => ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'][i])
  const kib = (bytes: number) => `${Math.floor(bytes / 1024)} KiB`
  return `Vulnerability disclosure policy

We welcome reports of security vulnerabilities in this service. Please give us a
reasonable time to fix a problem before you disclose it, do not access or change data
that is not yours, and stop as soon as you have shown the problem exists.

How to report
  With a browser (no JavaScript needed): ${base}${REPORT_FORM_PATH}
  You follow the report at ${base}${REPORT_FORM_PATH}/status with your status token.

  Or with the API:
  POST ${base}/v1/vulnerability-reports
  Content-Type: application/json

  {
    "title": "one line",
    "location": "where: URL, endpoint, component, version",
    "impact": "what an attacker can do",
    "steps": "how to reproduce it",
    "severity": "low | medium | high | critical (optional, your estimate)",
    "reporter": { "name": "optional", "email": "optional, for updates", "credit": false },
    "attachments": [ { "filename": "poc.txt", "contentType": "text/plain", "data": "<base64>" } ]
  }

  Up to 5 attachments of at most ${kib(d.attachmentMaxBytes)} each; the whole request at most
  ${kib(d.maxBytes)}. At most ${d.rateLimitPerHour} reports an hour from one address.

What you get back
  A tracking reference (VR-…) and a status token (cst_vrs_…), shown once: keep it. With
  it you can follow the report and answer us:
    GET  ${base}/v1/vulnerability-reports/status            Authorization: Bearer <token>
    POST ${base}/v1/vulnerability-reports/status/messages   Authorization: Bearer <token>
         { "message": "…" }
  If you gave an e-mail address, we also write to you at each change. Those e-mails never
  contain your token or a link to sign in with.

When we answer
  We acknowledge every report within ${d.ackBusinessDays} business days of receipt, counted in
  ${d.timeZone}; ${weekend.join(' and ') || 'no day of the week'} and public holidays are not business days.
  A report received on a day off counts from the start of the next business day.

Your data
  Your contact details are kept encrypted and used only to tell you about your report.
  You can ask us to erase them at any time; the report itself stays.
`
}
