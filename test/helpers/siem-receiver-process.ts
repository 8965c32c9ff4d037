import { readFileSync } from 'node:fs'
import { startHttpsSiemReceiver, startSyslogSiemReceiver } from './siem-receivers.ts'

/**
 * A SIEM receiver as a process of its own, so that a test can kill it (SIGKILL) while
 * events flow and start it again on the same port. Each event it reads is appended to
 * `file` (one JSON line: org, seq, id) before the sender is answered. Prints `port <n>`.
 *
 * argv[2]: JSON `{ kind: 'https' | 'syslog', port, certFile, keyFile, file, token? }`.
 */
const options = JSON.parse(process.argv[2] as string) as {
  kind: 'https' | 'syslog'
  port: number
  certFile: string
  keyFile: string
  file: string
  token?: string
}
const certificate = { cert: readFileSync(options.certFile, 'utf8'), key: readFileSync(options.keyFile, 'utf8') }
const receiver =
  options.kind === 'https'
    ? await startHttpsSiemReceiver({ certificate, port: options.port, file: options.file, token: options.token })
    : await startSyslogSiemReceiver({ certificate, port: options.port, file: options.file })
process.stdout.write(`port ${receiver.port}\n`)
