import { Command, CommanderError } from 'commander'
import { registerAuditTail } from './audit-tail.ts'
import { registerExport } from './export.ts'
import { registerLogin } from './login.ts'
import { CliError, describeError, isCustodianError } from './remote.ts'
import { registerRun } from './run.ts'
import { registerSecrets } from './secrets.ts'

const program = new Command('custodian')
  .description(
    'Custodian: the machinery behind a SaaS security policy’s promises. Configure with CUSTODIAN_* variables (see README).',
  )
  .exitOverride()

// The day-to-day commands talk to a running service through the SDK and load nothing of
// the service itself; the admin commands open the data directory and load most of it
// (seconds of start-up on a busy machine). So the admin ones are loaded only when the
// command line is not a day-to-day command — `custodian --help` loads everything.
const [first, second] = process.argv.slice(2)
const dayToDay =
  ['login', 'logout', 'secrets', 'run', 'export'].includes(first ?? '') || (first === 'audit' && second === 'tail')

/** Admin commands (and the service's error types), loaded on demand. */
async function registerAdminCommands(): Promise<{
  isAppError: (error: unknown) => error is Error & { code: string }
  ConfigError: new (...args: never[]) => Error
}> {
  const [
    admin,
    audit,
    init,
    migrate,
    serve,
    unseal,
    keys,
    verifyCertificate,
    verifyReport,
    witness,
    consent,
    backup,
    config,
    errors,
  ] = await Promise.all([
    import('./admin.ts'),
    import('./audit.ts'),
    import('./init.ts'),
    import('./migrate.ts'),
    import('./serve.ts'),
    import('./unseal.ts'),
    import('./keys.ts'),
    import('./verify-certificate.ts'),
    import('./verify-report.ts'),
    import('./witness.ts'),
    import('./consent.ts'),
    import('./backup.ts'),
    import('../config.ts'),
    import('../errors.ts'),
  ])
  init.registerInit(program)
  serve.registerServe(program)
  migrate.registerMigrate(program)
  audit.registerAudit(program)
  admin.registerAdmin(program)
  unseal.registerUnseal(program)
  keys.registerKeys(program)
  verifyCertificate.registerVerifyCertificate(program)
  verifyReport.registerVerifyReport(program)
  witness.registerWitness(program)
  consent.registerConsent(program)
  backup.registerBackup(program)
  // P8.2: an admin command naming (--org) an org of another region is refused before it opens
  // anything here — that org's data is in that region's database, not this one's.
  program.hook('preAction', async (_program, action) => {
    const org: unknown = action.opts().org
    if (typeof org !== 'string') return
    const { createResidency } = await import('../modules/ops/residency.ts')
    createResidency(config.loadConfig().residency).assertLocal(org)
  })
  return { isAppError: errors.isAppError, ConfigError: config.ConfigError }
}

const service = dayToDay ? undefined : await registerAdminCommands()
// Day-to-day commands: a running service over HTTPS, through the SDK (src/cli/remote.ts).
registerLogin(program)
registerSecrets(program)
registerRun(program)
registerExport(program)
registerAuditTail(program)

try {
  await program.parseAsync(process.argv)
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode
  } else if (isCustodianError(error)) {
    // The API's problem, as the API gave it: code, detail, the fields it names.
    process.stderr.write(`custodian: ${describeError(error)}\n`)
    process.exitCode = 1
  } else if (error instanceof CliError) {
    process.stderr.write(`custodian: ${error.message}\n`)
    process.exitCode = 1
  } else if (service !== undefined && error instanceof service.ConfigError) {
    process.stderr.write(`${error.message}\n`)
    process.exitCode = 2
  } else {
    const message = (error as Error).message
    process.stderr.write(`custodian: ${service?.isAppError(error) === true ? `${error.code}: ${message}` : message}\n`)
    process.exitCode = 1
  }
}
