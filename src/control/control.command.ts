import type { Static, TSchema } from '@sinclair/typebox'
import type { createModules } from '../app.ts'
import type { Config } from '../config.ts'
import type { Database } from '../db/connect.ts'
import type { AuditActor, RequestMeta } from '../modules/audit/audit.types.ts'
import type { Runtime } from '../runtime.ts'

/** Every module as createModules wires it, with the runtime and configuration it was built from. */
export type Services = ReturnType<typeof createModules> & { runtime: Runtime; config: Config }

/**
 * Where a command runs: `local`, in the CLI's own process on a data directory (or
 * PostgreSQL) it opened itself; `control socket`, inside the running embedded service, sent
 * by a CLI over the socket. `uid` is the operating-system user of the CLI process: its own
 * locally; over the socket the one the CLI states (Node.js cannot read a Unix socket's peer
 * credentials — see README.md for what guards the socket instead).
 */
export interface CommandOrigin {
  via: 'local' | 'control socket'
  uid: number
  /** The service's request id for a command sent over the socket; null locally. */
  requestId: string | null
}

/** Where a command's output goes: the CLI's standard streams, locally or relayed from the service. */
export interface CommandOutput {
  stdout(text: string): void
  stderr(text: string): void
  /** Whether the CLI's standard output is a terminal (a progress bar redraws in place there). */
  readonly isTTY: boolean
}

/**
 * What a handler gets. `services` when the command declared `needs: 'services'` (the
 * modules, keys and configuration); `database` always (a `needs: 'database'` command, such
 * as `migrate`, opens nothing else when it runs locally). `exitCode` starts at 0; set it
 * for a command that reports a failure in its output (`audit verify` finding a problem).
 */
export interface CommandContext<N extends CommandNeeds> {
  database: Database
  services: N extends 'services' ? Services : undefined
  out: CommandOutput
  origin: CommandOrigin
  exitCode: number
}

export type CommandNeeds = 'database' | 'services'

/**
 * One admin command the CLI runs either locally or, beside a running embedded service,
 * inside it over the control socket (src/control/README.md says how to add one).
 *
 * - `name`: the command line's words (`keys status`); also its route on the socket.
 * - `input`: a TypeBox schema of the options the CLI parsed (JSON: no Date, no Buffer). It
 *   is checked on the socket before the handler runs; additional properties are refused.
 * - `needs`: what the handler uses; `createRootKey` is passed to openRuntime when it runs
 *   locally (only `init` and `bootstrap-token` may create key files).
 * - `besideService`: when set, the command is refused while a service runs on the data
 *   directory, with this sentence as the reason (restore, init, rotate-root).
 * - `handler`: writes what the command prints through `ctx.out` and returns a JSON value
 *   the CLI's action may use (`audit prove` writes its receipt to `--out` on the CLI's side).
 */
export interface ControlCommand<S extends TSchema = TSchema, R = unknown, N extends CommandNeeds = CommandNeeds> {
  readonly name: string
  readonly input: S
  readonly needs: N
  readonly createRootKey?: boolean
  /**
   * `keys migrate-root`: run locally, the configured root key is the one the org keys move
   * to, not the one the database records yet (src/crypto/key-record.ts): openRuntime does
   * not compare it; the command checks its source against the record instead.
   */
  readonly migratingRootKey?: boolean
  /** `keys replace-audit-key`: the held audit key is the one to record, not compared. */
  readonly replacingAuditKey?: boolean
  readonly besideService?: string
  /**
   * Run locally, whether to print on stdout the database's creation and migrations while it
   * opens (`init`, `migrate`: a first start is never silent). A running service has done both.
   */
  readonly printsOpening?: (input: Static<S>) => boolean
  handler(input: Static<S>, ctx: CommandContext<N>): Promise<R>
}

/** Declares a command (an identity function that keeps the handler's types). */
export function defineControlCommand<S extends TSchema, R, N extends CommandNeeds>(
  command: ControlCommand<S, R, N>,
): ControlCommand<S, R, N> {
  return command
}

/**
 * The audit actor of every admin CLI command, local or over the socket: `system:cli` (as
 * docs/authentication.md has always said); {@link cliMeta} records which way and which user.
 */
export const CLI_ACTOR: AuditActor = { type: 'system', id: 'cli' }

/**
 * The request metadata of an admin CLI command's audit events: the user agent names the
 * way it came and the OS user id — `custodian-cli (local, uid 1000)`,
 * `custodian-cli (control socket, uid 0)` — and, over the socket, the service's request id.
 */
export function cliMeta(origin: CommandOrigin): RequestMeta {
  return { requestId: origin.requestId, ip: null, userAgent: `custodian-cli (${origin.via}, uid ${origin.uid})` }
}
