import { spawn } from 'node:child_process'
import path from 'node:path'
import type { Command } from 'commander'
import { CliError, revealAll, withClient } from './remote.ts'
import { secretsToEnv } from './secret-env.ts'

/**
 * `custodian run [--prefix …] -- <command>`: runs a command with the org's secrets as
 * environment variables (as `infisical run` and envconsul do). The values go from the
 * API's answers to the child's environment and nowhere else: no file, no log, no output
 * of this command names more than how many were set. The child's exit code is this
 * command's; SIGINT, SIGTERM and SIGHUP are passed on to it.
 */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('run a command with secrets as environment variables (each reveal audited)')
    .argument('<command...>', 'the command and its arguments, after --')
    .option('--prefix <prefix>', 'only secrets whose name starts with it; it is left out of the variable’s name')
    .option('--reason <why>', 'recorded in the audit log with each reveal (default: the command’s name)')
    .option('--progress', 'show a progress bar on standard error while the secrets are read')
    .action(async (command: string[], options: { prefix?: string; reason?: string; progress?: boolean }) => {
      const [file, ...args] = command
      if (file === undefined) throw new CliError('name a command to run after --')
      const prefix = options.prefix ?? ''
      const revealed = await withClient((client) =>
        revealAll(client, {
          prefix,
          reason: options.reason ?? `custodian run: ${path.basename(file)}`,
          progress: options.progress === true || process.stderr.isTTY,
        }),
      )
      let variables: Map<string, string>
      try {
        variables = secretsToEnv(revealed, prefix)
      } catch (error) {
        throw new CliError((error as Error).message)
      }
      process.exitCode = await runWith(file, args, { ...process.env, ...Object.fromEntries(variables) })
    })
}

/** Spawns the command with `env`, passes signals on, and resolves to the exit code to leave with. */
function runWith(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env, stdio: 'inherit' })
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const
    const forward = (signal: NodeJS.Signals) => child.kill(signal)
    for (const signal of signals) process.on(signal, forward)
    const cleanup = () => {
      for (const signal of signals) process.off(signal, forward)
    }
    child.once('error', (error: NodeJS.ErrnoException) => {
      cleanup()
      reject(new CliError(`cannot run ${file}: ${error.code ?? error.message}`))
    })
    child.once('exit', (code, signal) => {
      cleanup()
      // A child ended by a signal: the shell's convention, 128 + its number.
      resolve(code ?? 128 + (signal === null ? 0 : (osSignals[signal] ?? 0)))
    })
  })
}

const osSignals: Partial<Record<NodeJS.Signals, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 }
