/**
 * A real SMTP server (nodemailer's smtp-server) run as its own process for the mail
 * tests. Environment: SMTP_TLS_CERT / SMTP_TLS_KEY (PEM), SMTP_MODE (`starttls`: offers
 * STARTTLS; `plain`: does not), SMTP_REJECT_FIRST (answer 451 to each recipient's first
 * message). Prints `SMTP listening <port>`, then one JSON line per message accepted.
 */
import { SMTPServer } from 'smtp-server'

const plain = process.env.SMTP_MODE === 'plain'
const seen = new Set<string>()
const server = new SMTPServer({
  secure: false,
  ...(plain ? {} : { key: process.env.SMTP_TLS_KEY, cert: process.env.SMTP_TLS_CERT }),
  disabledCommands: plain ? ['STARTTLS', 'AUTH'] : ['AUTH'],
  authOptional: true,
  logger: false,
  onData(stream, session, callback) {
    let data = ''
    stream.on('data', (chunk: Buffer) => (data += chunk.toString()))
    stream.on('end', () => {
      const to = session.envelope.rcptTo.map((r) => r.address)
      const key = to.join(',')
      if (process.env.SMTP_REJECT_FIRST === '1' && !seen.has(key)) {
        seen.add(key)
        const error = Object.assign(new Error('try again later'), { responseCode: 451 })
        callback(error)
        return
      }
      process.stdout.write(
        `${JSON.stringify({ to, from: session.envelope.mailFrom === false ? null : session.envelope.mailFrom.address, secure: session.secure, data })}\n`,
      )
      callback()
    })
  },
})
server.listen(0, '127.0.0.1', () => {
  const address = server.server.address()
  process.stdout.write(`SMTP listening ${typeof address === 'object' && address !== null ? address.port : 0}\n`)
})
process.on('SIGTERM', () => server.close(() => process.exit(0)))
