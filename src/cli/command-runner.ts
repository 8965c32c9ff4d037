import type { Static, TSchema } from '@sinclair/typebox'
import { loadConfig, type Config } from '../config.ts'
import { ControlUnavailableError, sendControlCommand } from '../control/control.client.ts'
import type { CommandContext, CommandNeeds, CommandOutput, ControlCommand } from '../control/control.command.ts'
import { controlSocketToUse } from '../control/control.socket.ts'
import { dataDirHolder, DataDirLockedError } from '../db/lock.ts'
import { printMigrationProgress } from '../db/migrate.ts'
import { openEmbeddedOrPostgres } from '../runtime.ts'
import { withServices } from './context.ts'

/** The CLI's own standard streams. */
export const terminal: CommandOutput = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  isTTY: Boolean(process.stdout.isTTY), // undefined when stdout is a file or pipe, whatever the types say
}

/**
 * Runs an admin command where its database is. PostgreSQL, or an embedded data directory
 * no process holds: here, opening it as before. An embedded data directory a running
 * service holds (`custodian.lock`): inside that service, over its control socket, printing
 * what it answers as it comes — the same output and exit code as a local run. A command
 * declared `besideService` is refused then, with its reason.
 *
 * @returns the handler's result (sets process.exitCode to the command's, when not 0)
 * @throws the handler's error as a local run would; ControlUnavailableError when the command is refused
 *   beside a running service, or the directory is held by a process without a control socket
 */
export async function runCommand<S extends TSchema, R, N extends CommandNeeds>(
  command: ControlCommand<S, R, N>,
  input: Static<S>,
): Promise<R> {
  const config = loadConfig()
  if (config.databaseUrl === undefined) {
    const holder = dataDirHolder(config.dataDir)
    if (holder !== undefined) return runInService(command, input, config.dataDir, holder)
  }
  const ctx: Omit<CommandContext<N>, 'database' | 'services'> = {
    out: terminal,
    origin: { via: 'local', uid: process.getuid?.() ?? 0, requestId: null },
    exitCode: 0,
  }
  const progress =
    command.printsOpening?.(input) === true ? printMigrationProgress((line) => terminal.stdout(`${line}\n`)) : undefined
  let result: R
  try {
    if (command.needs === 'database') {
      const database = await openEmbeddedOrPostgres(config, progress)
      try {
        const local = { ...ctx, database, services: undefined } as CommandContext<N>
        result = await command.handler(input, local)
        ctx.exitCode = local.exitCode
      } finally {
        await database.close()
      }
    } else {
      result = await withServices(
        {
          createRootKey: command.createRootKey === true,
          progress,
          migratingRootKey: command.migratingRootKey,
          replacingAuditKey: command.replacingAuditKey,
        },
        async (services) => {
          const local = { ...ctx, database: services.runtime.database, services } as CommandContext<N>
          const value = await command.handler(input, local)
          ctx.exitCode = local.exitCode
          return value
        },
      )
    }
  } catch (error) {
    // A service started between the probe above and the open: it has the directory now.
    if (error instanceof DataDirLockedError) return runInService(command, input, config.dataDir, error.pid)
    throw error
  }
  if (ctx.exitCode !== 0) process.exitCode = ctx.exitCode
  return result
}

/**
 * Refuses a command declared `besideService` while a service holds the embedded data
 * directory, before the command does anything of its own (`init` splits a root key first).
 *
 * @throws ControlUnavailableError naming the service's PID and the command's reason
 */
export function refuseBesideService(
  command: Pick<ControlCommand, 'name' | 'besideService'>,
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
): void {
  if (command.besideService === undefined || config.databaseUrl !== undefined) return
  const pid = dataDirHolder(config.dataDir)
  if (pid !== undefined) throw besideServiceRefusal(command, config.dataDir, pid)
}

function besideServiceRefusal(command: Pick<ControlCommand, 'name' | 'besideService'>, dataDir: string, pid: number) {
  return new ControlUnavailableError(
    `${command.name}: a Custodian service (pid ${pid}) runs on the data directory ${dataDir}; ${command.besideService ?? ''}`,
  )
}

async function runInService<S extends TSchema, R, N extends CommandNeeds>(
  command: ControlCommand<S, R, N>,
  input: Static<S>,
  dataDir: string,
  pid: number,
): Promise<R> {
  if (command.besideService !== undefined) throw besideServiceRefusal(command, dataDir, pid)
  const socket = controlSocketToUse(dataDir)
  if (socket === undefined)
    throw new ControlUnavailableError(
      `the data directory ${dataDir} is in use by pid ${pid}, which has no control socket (another custodian command, or a service from before the control socket); wait for it to finish, or stop it`,
    )
  const { exitCode, result } = await sendControlCommand(socket, command.name, input, terminal)
  if (exitCode !== 0) process.exitCode = exitCode
  return result as R
}
