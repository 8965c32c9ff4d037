import type { Command } from 'commander'
import type { ChainedEvent } from '@custodian/client'
import { CliError, withClient } from './remote.ts'

/**
 * `custodian audit tail`: the org's audit log as it grows, over the API (`custodian
 * login`). Events print in chain order, each once, as they are chained (within about a
 * second of the action); the SDK reads them by position (audit.follow), so none is
 * skipped whatever the order in which requests commit.
 */
export function registerAuditTail(program: Command): void {
  // Beside the admin `audit verify|prove|…` when those are loaded (src/cli/index.ts), else alone.
  const audit =
    program.commands.find((command) => command.name() === 'audit') ??
    program.command('audit').description('the tamper-evident audit log')
  audit
    .command('tail')
    .description('print the last events of the org’s log, then each new one as it is chained (Ctrl-C stops)')
    .option('-n, --lines <n>', 'how many of the latest events first', '10')
    .option('--from-seq <seq>', 'start at this position in the chain instead')
    .option('--no-follow', 'stop at the current head instead of waiting for new events')
    .option('--json', 'one JSON object per line (the event as chained)')
    .option('--interval <ms>', 'how often to ask for new events', '1000')
    .action(async (options: { lines: string; fromSeq?: string; follow: boolean; json?: boolean; interval: string }) => {
      const lines = Number(options.lines)
      const interval = Number(options.interval)
      if (!Number.isInteger(lines) || lines < 0) throw new CliError('--lines: a whole number')
      if (!Number.isInteger(interval) || interval < 100) throw new CliError('--interval: milliseconds, 100 or more')
      const from = options.fromSeq === undefined ? undefined : Number(options.fromSeq)
      if (from !== undefined && (!Number.isInteger(from) || from < 1))
        throw new CliError('--from-seq: a seq, 1 or more')
      const stop = new AbortController()
      const onSignal = () => stop.abort()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
      try {
        await withClient(async (client) => {
          const head = (await client.audit.status()).headSeq
          const fromSeq = from ?? Math.max(1, head - lines + 1)
          if (!options.follow && fromSeq > head) return
          for await (const event of client.audit.follow({ fromSeq, intervalMs: interval, signal: stop.signal })) {
            process.stdout.write(options.json === true ? `${JSON.stringify(event)}\n` : `${line(event)}\n`)
            if (!options.follow && event.seq >= head) stop.abort()
          }
        })
      } finally {
        process.off('SIGINT', onSignal)
        process.off('SIGTERM', onSignal)
      }
    })
}

function line(event: ChainedEvent): string {
  const actor = `${event.actor.type}:${event.actor.id ?? '-'}`
  const target = event.target === null ? '-' : `${event.target.type}:${event.target.id ?? '-'}`
  return `${String(event.seq).padStart(6)}  ${event.time}  ${event.action}  ${event.outcome}  actor=${actor}  target=${target}`
}
