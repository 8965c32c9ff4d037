import { randomUUID } from 'node:crypto'
import { chmodSync } from 'node:fs'
import { PassThrough } from 'node:stream'
import { Type } from '@sinclair/typebox'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import { AppError, isAppError } from '../errors.ts'
import { registerNotFound, sendProblem, toAppError } from '../http/problem.ts'
import type { Logger } from 'pino'
import type { CommandContext, CommandNeeds, ControlCommand, Services } from './control.command.ts'
import { commandRoute, type Frame, UID_HEADER, TTY_HEADER, CONTROL_BODY_LIMIT_BYTES } from './control.protocol.ts'
import { prepareControlDirectory } from './control.socket.ts'

export interface ControlServer {
  /** The socket's path. */
  readonly path: string
  /**
   * Stops taking commands (the socket file is removed at once), lets the running ones
   * finish, and resolves when they have. Call it before the database closes.
   */
  close(): Promise<void>
}

/**
 * Listens on the control socket of an embedded service's data directory: one route per
 * command (`POST /commands/<name, words joined by '/'>`), its input checked against the
 * command's schema (additional properties refused, nothing coerced), output streamed back as
 * JSON lines (control.protocol.ts). HTTP over a Unix socket by Fastify rather than a
 * protocol of our own: its body limit (413), JSON parsing (400), schema validation and
 * 503 while closing are the hardened ones the service already relies on.
 *
 * @throws ControlSocketError when the control directory is not private to this user, or the
 *   socket's path is not usable (control.socket.ts)
 */
export async function startControlServer(deps: {
  dataDir: string
  commands: readonly ControlCommand[]
  services: Services
  logger: Logger
}): Promise<ControlServer> {
  const socket = prepareControlDirectory(deps.dataDir)
  const ownUid = process.getuid?.() ?? -1
  const running = new Set<Promise<void>>()
  const app = Fastify({
    loggerInstance: deps.logger.child({ listener: 'control socket' }) as FastifyBaseLogger, // eslint-disable-line @typescript-eslint/no-unnecessary-type-assertion -- it picks Fastify's logger type parameter (as in app.ts)
    bodyLimit: CONTROL_BODY_LIMIT_BYTES,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    return503OnClosing: true,
    // Input is taken as sent: no property dropped, no type coerced, no default filled in.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: true } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.setErrorHandler((error, request, reply) => {
    const problem = toAppError(error)
    if (problem.status >= 500) request.log.error({ err: error }, 'control socket: command failed before it ran')
    return sendProblem(request, reply, problem)
  })
  registerNotFound(app)

  const headers = Type.Object({
    [UID_HEADER]: Type.String({ pattern: '^[0-9]{1,10}$' }),
    [TTY_HEADER]: Type.Optional(Type.Union([Type.Literal('0'), Type.Literal('1')])),
  })
  for (const command of deps.commands) {
    app.post(commandRoute(command.name), { schema: { body: command.input, headers } }, async (request, reply) => {
      const uid = Number(request.headers[UID_HEADER])
      // Only this user and root can reach the socket (its directory is 0700): a CLI saying
      // it is anyone else is not telling the truth.
      if (uid !== ownUid && uid !== 0)
        return sendProblem(
          request,
          reply,
          new AppError('BAD_REQUEST', `uid ${uid} cannot reach this socket: only uid ${ownUid} and root can`),
        )
      // Checked by the CLI before it sends; refused here too, whoever sends it.
      if (command.besideService !== undefined)
        return sendProblem(
          request,
          reply,
          new AppError(
            'CONFLICT',
            `${command.name}: a Custodian service runs on this data directory; ${command.besideService}`,
          ),
        )
      const stream = new PassThrough()
      // A CLI that goes away (Ctrl-C) leaves the command to finish here, writing to no one:
      // what it writes then is dropped, never an error that would stop the service.
      stream.on('error', (error) => request.log.debug({ err: error }, 'control socket: the CLI went away'))
      const open = () => !stream.destroyed && !stream.writableEnded
      const send = (frame: Frame) => {
        if (open()) stream.write(`${JSON.stringify(frame)}\n`)
      }
      const finish = (frame: Frame) => {
        if (open()) stream.end(`${JSON.stringify(frame)}\n`)
      }
      const ctx: CommandContext<CommandNeeds> = {
        database: deps.services.runtime.database,
        services: command.needs === 'services' ? deps.services : undefined,
        out: {
          stdout: (text) => send({ stdout: text }),
          stderr: (text) => send({ stderr: text }),
          isTTY: request.headers[TTY_HEADER] === '1',
        },
        origin: { via: 'control socket', uid, requestId: request.id },
        exitCode: 0,
      }
      request.log.info({ command: command.name, uid }, 'control socket: command')
      const run = command.handler(request.body, ctx).then(
        (result) => finish({ exitCode: ctx.exitCode, result: result ?? null }),
        (error: unknown) => {
          const failure = isAppError(error)
            ? { code: error.code, message: error.message }
            : { message: (error as Error).message }
          // What the CLI prints (its message and code); a local run prints no more than that either.
          request.log.info({ command: command.name, failure }, 'control socket: command failed')
          finish({ error: failure })
        },
      )
      // Tracked apart from the connection: one whose CLI went away still finishes before close() resolves.
      running.add(run)
      void run.finally(() => running.delete(run))
      return reply.type('application/x-ndjson').send(stream)
    })
  }
  await app.listen({ path: socket })
  // The directory (0700) already keeps others out; the socket's own mode says the same.
  chmodSync(socket, 0o600)
  let closing: Promise<void> | undefined
  return {
    path: socket,
    close() {
      closing ??= app.close().then(async () => {
        await Promise.all(running)
      })
      return closing
    },
  }
}
