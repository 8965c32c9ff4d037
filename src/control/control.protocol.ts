/**
 * The control socket's protocol: HTTP/1.1 over the Unix socket.
 *
 * Request: `POST /commands/<name>` (the command's words joined by `/`: `keys/status`), a
 * JSON body that is the command's input, and two headers: {@link UID_HEADER} (the CLI's OS
 * user id, recorded in the audit log) and {@link TTY_HEADER} (`1` when the CLI's standard
 * output is a terminal). Refusals before the command runs are RFC 9457 problem+json
 * (400 malformed, 404 no such command, 409 not beside a running service, 413 larger than
 * {@link CONTROL_BODY_LIMIT_BYTES}, 503 the service is shutting down).
 *
 * Answer (200, `application/x-ndjson`): one {@link Frame} per line, in order — `stdout` and
 * `stderr` frames as the command writes, then exactly one last frame: `exitCode` (with the
 * handler's JSON `result`) or `error` (the handler threw: its stable code when it has one).
 */
export type Frame =
  | { stdout: string }
  | { stderr: string }
  | { exitCode: number; result: unknown }
  | { error: { code?: string; message: string } }

export const UID_HEADER = 'x-custodian-uid'
export const TTY_HEADER = 'x-custodian-tty'

/**
 * The largest request body the socket takes: 4 MiB. The inputs are options, plus the
 * checkpoints `audit verify --checkpoint` read from files (a few hundred bytes each).
 */
export const CONTROL_BODY_LIMIT_BYTES = 4 * 1024 * 1024

/** The route of a command: `keys status` → `/commands/keys/status`. */
export function commandRoute(name: string): string {
  return `/commands/${name.split(' ').join('/')}`
}
