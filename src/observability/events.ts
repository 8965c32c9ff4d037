import diagnosticsChannel from 'node:diagnostics_channel'

/**
 * What the service's own code reports for metrics, on Node's diagnostics channels: the code
 * that does the work publishes a plain message; metrics.ts subscribes only when metrics are
 * on. With no subscriber a publication is a property check (`hasSubscribers`), so the jobs,
 * the sequencer and the credential gate need no metrics dependency and pay nothing when
 * metrics are off. Messages carry fixed names and numbers only — never an org, a user, a
 * secret or an address.
 */

/** A periodic job's run ended (src/jobs/periodic.ts). */
export interface JobRunMessage {
  /** The job's fixed name, as given to `periodic()`. */
  name: string
  /** Wall time of the run, in seconds. */
  seconds: number
  /** The run threw (it is retried on the next tick). */
  failed: boolean
}

/** The audit sequencer chained events (src/modules/audit/audit.sequencer.ts). */
export interface AuditChainedMessage {
  /** For each event chained, seconds from its commit time (`occurred_at`) to its chaining. */
  delaysSeconds: number[]
}

/** The credential gate refused an attempt because a brute-force delay is owed (identity module). */
export interface AuthThrottledMessage {
  /** The gate action refused (`auth.login`, `mfa.step_up`…). */
  action: string
}

export const jobRun = diagnosticsChannel.channel('custodian:job.run')
export const auditChained = diagnosticsChannel.channel('custodian:audit.chained')
export const authThrottled = diagnosticsChannel.channel('custodian:auth.throttled')
