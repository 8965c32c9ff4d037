import type { PromiseEntry } from './catalogue.ts'

/**
 * The shapes of compliance (P5.4, P10.1, P10.2): live checks, their results, the signed
 * compliance report and the living security policy. Pure types, shared by the checks, the
 * service, the renderers (HTML, PDF, OSCAL) and the console.
 */

/** A check's answer: the promise holds here (`pass`), does not (`fail`), or does not apply (nothing it concerns exists or is configured). */
export type Verdict = 'pass' | 'fail' | 'not_applicable'

/**
 * `service`: about the deployment as a whole (TLS, the root key, the HTTP port), evaluated once
 * and shown to every org; `org`: about one org's data and people, evaluated per org.
 */
export type CheckScope = 'service' | 'org'

/**
 * Evidence of a verdict: figures, ids, times (RFC 3339), booleans, short words — never a
 * secret value and never a personal value (no email address, no name, no subject id).
 * A list holds at most 20 items (the check says how many there are in a count beside it).
 */
export type EvidenceValue = string | number | boolean | null | readonly (string | number)[]
export type Evidence = Readonly<Record<string, EvidenceValue>>

/** What one evaluation of a check answers. */
export interface CheckOutcome {
  verdict: Verdict
  /** One sentence for people, with the figures that decided it (no secret, no personal value). */
  summary: string
  evidence: Evidence
}

/** A check's latest result, as the API, the report and the console show it. */
export interface CheckResult {
  /** Stable id, `<promise>/<name>` in lower case: `p3.2/members-without-2fa`. */
  check: string
  /** The promise it proves (`P3.2`). */
  promise: string
  scope: CheckScope
  /** What it checks, in one sentence. */
  title: string
  verdict: Verdict
  summary: string
  evidence: Evidence
  /** When it ran (RFC 3339). */
  ranAt: string
  /** Since when its verdict has been this one (RFC 3339): the run that changed it. */
  since: string
}

/** A promise's standing: every check passes (`met`), one fails (`not_met`), or none applies. */
export type PromiseVerdict = 'met' | 'not_met' | 'not_applicable'

export interface PromiseStanding extends PromiseEntry {
  verdict: PromiseVerdict
  checks: CheckResult[]
}

/**
 * The compliance report (`custodian-compliance-report/v1`): every promise with its checks'
 * latest results, for one org (the service's checks and the org's own) or for the service
 * as a whole (`org` is then the provider org, and org checks are the provider org's own).
 * Downloaded as JSON, HTML or PDF, each with a detached signature (a compact JWS, EdDSA,
 * whose payload names the document's SHA-256) that `custodian verify-report` checks offline.
 */
export interface ComplianceReport {
  format: 'custodian-compliance-report/v1'
  reportId: string
  scope: 'org' | 'service'
  org: { id: string; name: string }
  /** RFC 3339. */
  generatedAt: string
  service: { publicUrl: string; version: string }
  summary: {
    promises: { met: number; notMet: number; notApplicable: number }
    checks: { pass: number; fail: number; notApplicable: number }
  }
  promises: PromiseStanding[]
}

/**
 * The living security policy (P10.1): a SaaS security policy's sections, each statement
 * written from the running configuration (numbers, durations, algorithms, providers read
 * from the service, never typed in), with the promise it states and its checks' verdict —
 * a statement whose promise is not met is shown as not currently met.
 */
export interface SecurityPolicy {
  format: 'custodian-security-policy/v1'
  org: { id: string; name: string }
  generatedAt: string
  service: { publicUrl: string; version: string }
  sections: PolicySection[]
}

export interface PolicySection {
  /** `encryption`, `access`, `authentication`, `logging`, `incident-response`, `retention`, `disclosure`, `backups`, … */
  id: string
  heading: string
  statements: PolicyStatement[]
}

export interface PolicyStatement {
  /** The sentence, with the live figures in it. */
  text: string
  promise: string
  verdict: PromiseVerdict
  /** The ids of the checks that back it. */
  checks: string[]
}
