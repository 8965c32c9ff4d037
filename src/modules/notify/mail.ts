import type { Transporter } from 'nodemailer'
import { trustedCas } from '../../http/outbound.ts'
import { parseSender, requireMailbox } from '../../email-address.ts'
import { memoized, onFirstUse } from '../../on-first-use.ts'

/** nodemailer, loaded by the first message sent (src/on-first-use.ts). */
const loadNodemailer = onFirstUse(() => import('nodemailer'))

/**
 * E-mail over SMTP (nodemailer). TLS is required by default: STARTTLS on a submission
 * port (the session is refused if the server does not offer it), or implicit TLS
 * (`smtps://`). Only a relay on the same host may be configured without TLS, explicitly.
 * Certificates are verified (system roots plus `CUSTODIAN_EXTRA_CA_FILE`), TLS 1.2 or later.
 */
export interface MailSettings {
  url: string
  from: string
  security: 'starttls' | 'tls' | 'none'
  user: string | undefined
  password: string | undefined
  extraCaFile: string | undefined
  timeoutMs: number
}

export interface Mailer {
  send(message: { to: string; subject: string; text: string; headers: Record<string, string> }): Promise<void>
}

export function createMailer(settings: MailSettings): Mailer {
  const url = new URL(settings.url)
  const ca = trustedCas(settings.extraCaFile)
  // The transport is made by the first send, with nodemailer; one for the mailer's life.
  const transport = memoized(
    async (): Promise<Transporter> =>
      (await loadNodemailer()).default.createTransport({
        host: url.hostname,
        port: Number(url.port || (settings.security === 'tls' ? 465 : 587)),
        secure: settings.security === 'tls',
        requireTLS: settings.security === 'starttls',
        ignoreTLS: settings.security === 'none',
        ...(settings.user === undefined ? {} : { auth: { user: settings.user, pass: settings.password ?? '' } }),
        tls: { minVersion: 'TLSv1.2', rejectUnauthorized: true, ...(ca === undefined ? {} : { ca }) },
        connectionTimeout: settings.timeoutMs,
        greetingTimeout: settings.timeoutMs,
        socketTimeout: settings.timeoutMs,
      }),
  )
  const sender = parseSender(settings.from)
  if (sender === undefined) throw new Error('CUSTODIAN_SMTP_FROM is not one address (optionally with a display name)')
  return {
    async send(message) {
      // K6: one parsed mailbox, handed over as an address object and an explicit envelope, so
      // nodemailer never reads a recipient string as a list (`a@x.test, b@y.test`) or a name.
      const to = requireMailbox(message.to, 'to').address
      await (await transport()).sendMail({
        from: { name: sender.name ?? '', address: sender.mailbox.address },
        to: { name: '', address: to },
        envelope: { from: sender.mailbox.address, to: [to] },
        subject: message.subject,
        text: message.text,
        headers: message.headers,
      })
    },
  }
}
