import { request } from 'node:http'
import { AppError, ERROR_STATUS, type ErrorCode } from '../errors.ts'
import type { CommandOutput } from './control.command.ts'
import { commandRoute, type Frame, TTY_HEADER, UID_HEADER } from './control.protocol.ts'

/** The command could not be given to the service: nothing ran. The message says why and what to do. */
export class ControlUnavailableError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ControlUnavailableError'
  }
}

/**
 * Sends one command over the control socket and relays what it writes to `out` as it
 * comes. Resolves to the command's exit code and result; rejects with the command's own
 * error (an AppError with its stable code when it had one, as a local run would throw), or
 * with {@link ControlUnavailableError} when the service did not take it (no socket, no
 * permission, shutting down, or the input refused).
 */
export function sendControlCommand(
  socket: string,
  name: string,
  input: unknown,
  out: CommandOutput,
): Promise<{ exitCode: number; result: unknown }> {
  const body = JSON.stringify(input)
  return new Promise((resolve, reject) => {
    const req = request(
      {
        socketPath: socket,
        method: 'POST',
        path: commandRoute(name),
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          [UID_HEADER]: String(process.getuid?.() ?? 0),
          [TTY_HEADER]: out.isTTY ? '1' : '0',
        },
      },
      (res) => {
        res.setEncoding('utf8')
        let text = ''
        if (res.statusCode !== 200) {
          res.on('data', (chunk: string) => (text += chunk))
          res.on('end', () => reject(refusal(res.statusCode ?? 0, text, socket)))
          return
        }
        let settled = false
        const handle = (line: string) => {
          if (line === '' || settled) return
          const frame = JSON.parse(line) as Frame
          if ('stdout' in frame) out.stdout(frame.stdout)
          else if ('stderr' in frame) out.stderr(frame.stderr)
          else if ('exitCode' in frame) {
            settled = true
            resolve({ exitCode: frame.exitCode, result: frame.result })
          } else {
            settled = true
            const { code, message } = frame.error
            reject(
              code !== undefined && code in ERROR_STATUS
                ? new AppError(code as ErrorCode, message)
                : new Error(message),
            )
          }
        }
        res.on('data', (chunk: string) => {
          text += chunk
          let newline = text.indexOf('\n')
          while (newline !== -1) {
            handle(text.slice(0, newline))
            text = text.slice(newline + 1)
            newline = text.indexOf('\n')
          }
        })
        res.on('end', () => {
          handle(text)
          if (!settled)
            reject(
              new Error(
                `the service closed the control socket before \`custodian ${name}\` finished (did it stop?); its log says what happened, and whether the command took effect`,
              ),
            )
        })
        res.on('error', reject)
      },
    )
    req.on('error', (error: NodeJS.ErrnoException) => reject(unreachable(error, socket)))
    req.end(body)
  })
}

function unreachable(error: NodeJS.ErrnoException, socket: string): Error {
  if (error.code === 'ENOENT' || error.code === 'ECONNREFUSED')
    return new ControlUnavailableError(
      `no service answers on the control socket ${socket} (it may be stopping); run the command again once it has stopped or started`,
    )
  if (error.code === 'EACCES')
    return new ControlUnavailableError(
      `permission denied on the control socket ${socket}: run the command as the user the service runs as`,
    )
  return new ControlUnavailableError(`the control socket ${socket}: ${error.code ?? error.message}`)
}

function refusal(status: number, text: string, socket: string): Error {
  if (status === 503)
    return new ControlUnavailableError(
      'the service is shutting down and takes no more commands; run the command again once it has stopped',
    )
  let problem: { code?: string; detail?: string } = {}
  try {
    problem = JSON.parse(text) as typeof problem
  } catch {
    // not problem+json: said by status below
  }
  if (status === 409 && problem.detail !== undefined) return new ControlUnavailableError(problem.detail)
  return new ControlUnavailableError(
    `the service refused the command on ${socket} (HTTP ${status}${problem.code === undefined ? '' : ` ${problem.code}`}): ${problem.detail ?? text.slice(0, 200)}`,
  )
}
