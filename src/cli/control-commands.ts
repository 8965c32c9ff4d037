import type { ControlCommand } from '../control/control.command.ts'
import { bootstrapTokenCommand, tokenCreateCommand } from './admin.ts'
import { auditProveCommand, auditVerifyCommand } from './audit.ts'
import { auditAcknowledgeRollbackCommand, auditCheckRollbackCommand } from './audit-rollback.ts'
import { backupCreateCommand } from './backup.ts'
import { initCommand } from './init.ts'
import {
  keysMigrateRootCommand,
  keysReplaceAuditKeyCommand,
  keysRotateCommand,
  keysRotateRootCommand,
  keysStatusCommand,
} from './keys.ts'
import { migrateCommand } from './migrate.ts'

/**
 * Every admin command that opens the database: what a running embedded service answers on
 * its control socket (src/control/README.md). A new one is added here as well as to the CLI.
 */
export const CONTROL_COMMANDS = [
  initCommand,
  migrateCommand,
  bootstrapTokenCommand,
  tokenCreateCommand,
  keysStatusCommand,
  keysRotateCommand,
  keysRotateRootCommand,
  keysMigrateRootCommand,
  keysReplaceAuditKeyCommand,
  auditVerifyCommand,
  auditProveCommand,
  auditCheckRollbackCommand,
  auditAcknowledgeRollbackCommand,
  backupCreateCommand,
] as unknown as readonly ControlCommand[]
