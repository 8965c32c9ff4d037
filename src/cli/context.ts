import { createModules } from '../app.ts'
import { loadConfig } from '../config.ts'
import type { Services } from '../control/control.command.ts'
import { createLogger } from '../logger.ts'
import { openRuntime } from '../runtime.ts'
import { assertResident } from '../modules/ops/residency.ts'

/** Opens what a CLI command needs, runs it, and always closes the database. */
export async function withServices<T>(
  options: Parameters<typeof openRuntime>[1],
  fn: (services: Services) => Promise<T>,
): Promise<T> {
  const config = loadConfig()
  const logger = createLogger({ logLevel: config.logLevel === 'info' ? 'warn' : config.logLevel }, process.stderr)
  const runtime = await openRuntime(config, options)
  try {
    // P8.2: a command never works on a database holding another region's org (the service would not start on it).
    await assertResident(runtime.database.kysely, config.residency?.region)
    return await fn({ ...createModules({ config, logger, ...runtime }), runtime, config })
  } finally {
    await runtime.database.close()
    runtime.rootKey.close?.()
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(jsonText(value))
}

/** What printJson prints: the value as indented JSON and a newline. */
export function jsonText(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`
}
