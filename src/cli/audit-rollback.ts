import type { Command } from 'commander'
import { Type } from '@sinclair/typebox'
import { CLI_ACTOR, cliMeta, defineControlCommand, type CommandOutput } from '../control/control.command.ts'
import type { RollbackStatus } from '../modules/audit/rollback.service.ts'
import { runCommand } from './command-runner.ts'
import { jsonText } from './context.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/*
 * `custodian audit check-rollback` and `custodian audit acknowledge-rollback` (P8.1;
 * docs/operations.md, "Rollback detection and point-in-time recovery"): the admin side of
 * rollback detection, on the data directory or database like `keys status` (whoever runs it
 * holds the service's configuration and keys: the operator). Beside a running embedded
 * service both run inside it, over its control socket (src/control), so an acknowledgement
 * takes effect there at once. Over the API, the same acknowledgement is
 * `POST /v1/operator/rollback/orgs/{id}/acknowledge` (permission `audit:rollback`, step-up).
 */

/** `custodian audit check-rollback [--json]`: exits 1 when an org is rolled back or could not be checked. */
export const auditCheckRollbackCommand = defineControlCommand({
  name: 'audit check-rollback',
  input: Type.Object({ json: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
  needs: 'services',
  async handler(input, ctx) {
    const { rollback } = ctx.services.audit
    await rollback.checkAll()
    const status = rollback.status()
    if (input.json === true) ctx.out.stdout(jsonText(status))
    else printStatus(status, ctx.out)
    if (status.detection === 'armed' && status.refused.length > 0) ctx.exitCode = 1
  },
})

/** `custodian audit acknowledge-rollback --org ID --reason TEXT`: the org is served again, audited in both logs. */
export const auditAcknowledgeRollbackCommand = defineControlCommand({
  name: 'audit acknowledge-rollback',
  input: Type.Object({ org: Type.String(), reason: Type.String() }, { additionalProperties: false }),
  needs: 'services',
  async handler(input, { services, out, origin }) {
    const done = await services.audit.rollback.acknowledge({
      orgId: input.org.toLowerCase(),
      reason: input.reason,
      actor: CLI_ACTOR,
      meta: cliMeta(origin),
    })
    out.stdout(
      `Rollback of org ${done.orgId} acknowledged: its chain continues from size ${done.localSize}; superseded witnessed checkpoints: ${done.acknowledged.map((c) => `${c.source} at ${c.size}`).join(', ')}.\n`,
    )
    if (origin.via === 'local')
      out.stdout('A running service serves the org again at its next check (CUSTODIAN_AUDIT_ROLLBACK_CHECK_MS).\n')
  },
})

export function registerAuditRollback(audit: Command): void {
  audit
    .command('check-rollback')
    .description(
      'compare every org’s chain with the checkpoints its witnesses hold (the witness file, the tlog witnesses), as the service does at start and after a restore; exits 1 when an org is rolled back or could not be checked',
    )
    .option('--json', 'print the result as JSON')
    .action(async (options: { json?: boolean }) => {
      await runCommand(auditCheckRollbackCommand, options.json === true ? { json: true } : {})
    })

  audit
    .command('acknowledge-rollback')
    .description(
      'accept that an org was rolled back: it is served again and its chain continues from the restored head; recorded as audit.rollback.acknowledge in the provider org and in the org’s own log',
    )
    .requiredOption('--org <id>', 'the org detected as rolled back')
    .requiredOption('--reason <text>', 'why (audited), e.g. the restore it follows')
    .action(async (options: { org: string; reason: string }) => {
      if (!UUID.test(options.org)) {
        process.stderr.write(
          `audit acknowledge-rollback: --org ${JSON.stringify(options.org)} is not an org id (UUID)\n`,
        )
        process.exitCode = 1
        return
      }
      const reason = options.reason.trim()
      if (reason.length < 3 || reason.length > 1000) {
        process.stderr.write('audit acknowledge-rollback: --reason: 3 to 1000 characters\n')
        process.exitCode = 1
        return
      }
      await runCommand(auditAcknowledgeRollbackCommand, { org: options.org, reason })
    })
}

function printStatus(status: RollbackStatus, out: CommandOutput): void {
  if (status.detection === 'not_armed') {
    out.stdout(
      'Rollback detection is not armed: no readable witness is configured (CUSTODIAN_AUDIT_WITNESS_FILE, CUSTODIAN_AUDIT_TLOG_WITNESSES).\n',
    )
    return
  }
  out.stdout(`Checked ${status.lastCheck?.orgs ?? 0} org(s) against: ${status.sources.join(', ')}\n`)
  for (const problem of status.lastCheck?.problems ?? []) out.stdout(`  witness problem: ${problem}\n`)
  if (status.refused.length === 0) out.stdout('OK   no org is rolled back\n')
  for (const org of status.refused) {
    if (org.state === 'rolled_back')
      out.stdout(
        `FAIL org ${org.orgId}: rolled back (${org.kind}): ${org.source} holds size ${org.witnessedSize}, the database ${org.localSize}\n`,
      )
    else if (org.state === 'missing')
      out.stdout(
        `FAIL org ${org.orgId}: missing: ${org.source} holds its log at size ${org.witnessedSize}, the database has no such org (lost by a restore?)\n`,
      )
    else out.stdout(`FAIL org ${org.orgId}: unchecked: ${org.problems.join('; ')}\n`)
  }
}
