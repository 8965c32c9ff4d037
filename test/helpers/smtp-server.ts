import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import path from 'node:path'
import { generate } from 'selfsigned'

export interface ReceivedMail {
  to: string[]
  from: string | null
  /** Whether the session was upgraded to TLS (STARTTLS) before the message. */
  secure: boolean
  data: string
}

/** Starts a real SMTP server process (smtp-server-process.ts); `caFile` receives its certificate. */
export async function startSmtpServer(options: {
  caFile: string
  mode: 'starttls' | 'plain'
  rejectFirst?: boolean
}): Promise<{
  port: number
  messages: ReceivedMail[]
  /** The messages to `address` once there are at least `count` (the process reports each a moment after accepting it). */
  to(address: string, count: number): Promise<ReceivedMail[]>
  stop(): Promise<void>
}> {
  const tls = await generate(
    [{ name: 'commonName', value: `localhost test ${process.pid}-${Math.random().toString(36).slice(2)}` }],
    {
      keySize: 2048,
      extensions: [
        {
          name: 'subjectAltName',
          altNames: [
            { type: 2, value: 'localhost' },
            { type: 7, ip: '127.0.0.1' },
          ],
        },
      ],
    } as never,
  )
  writeFileSync(options.caFile, tls.cert)
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 'smtp-server-process.ts')], {
    env: {
      PATH: process.env.PATH ?? '',
      SMTP_TLS_CERT: tls.cert,
      SMTP_TLS_KEY: tls.private,
      SMTP_MODE: options.mode,
      SMTP_REJECT_FIRST: options.rejectFirst === true ? '1' : '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const messages: ReceivedMail[] = []
  let buffer = ''
  let output = ''
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`SMTP server did not start:\n${output}`)), 20_000)
    child.stdout?.on('data', (chunk: Buffer) => {
      buffer += chunk.toString()
      const lines = buffer.split('\n')
      buffer = lines.pop() ?? ''
      for (const line of lines) {
        const listening = /^SMTP listening (\d+)$/.exec(line)
        if (listening !== null) {
          clearTimeout(timer)
          resolve(Number(listening[1]))
        } else if (line.startsWith('{')) {
          messages.push(JSON.parse(line) as ReceivedMail)
        }
      }
    })
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()))
    child.once('exit', (code) => reject(new Error(`SMTP server exited with ${code}:\n${output}`)))
  })
  return {
    port,
    messages,
    async to(address, count) {
      const deadline = Date.now() + 10_000
      for (;;) {
        const found = messages.filter((m) => m.to.includes(address))
        if (found.length >= count || Date.now() > deadline) return found
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    },
    async stop() {
      if (child.exitCode !== null) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    },
  }
}
