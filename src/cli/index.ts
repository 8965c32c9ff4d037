import { Command, CommanderError } from 'commander'
import { ConfigError } from '../config.ts'
import { isAppError } from '../errors.ts'
import { registerAdmin } from './admin.ts'
import { registerAudit } from './audit.ts'
import { registerAuditTail } from './audit-tail.ts'
import { registerExport } from './export.ts'
import { registerLogin } from './login.ts'
import { CliError, describeError, isCustodianError } from './remote.ts'
import { registerRun } from './run.ts'
import { registerSecrets } from './secrets.ts'
import { registerInit } from './init.ts'
import { registerMigrate } from './migrate.ts'
import { registerServe } from './serve.ts'
import { registerUnseal } from './unseal.ts'
import { registerKeys } from './keys.ts'
import { registerVerifyCertificate } from './verify-certificate.ts'
import { registerWitness } from './witness.ts'

const program = new Command('custodian')
  .description(
    'Custodian: the machinery behind a SaaS security policy’s promises. Configure with CUSTODIAN_* variables (see README).',
  )
  .exitOverride()
registerInit(program)
registerServe(program)
registerMigrate(program)
registerAudit(program)
registerAdmin(program)
registerUnseal(program)
registerKeys(program)
registerVerifyCertificate(program)
registerWitness(program)
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
  } else if (error instanceof ConfigError) {
    process.stderr.write(`${error.message}\n`)
    process.exitCode = 2
  } else {
    process.stderr.write(
      `custodian: ${isAppError(error) ? `${error.code}: ${error.message}` : (error as Error).message}\n`,
    )
    process.exitCode = 1
  }
}
