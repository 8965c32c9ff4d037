import { Badge } from '@mantine/core'
import { when } from '../../lib/format.ts'
import { counted } from '../../lib/plural.ts'
import type { CheckResult, PromiseStanding } from './api.ts'

type Verdict = CheckResult['verdict']
type PromiseVerdict = PromiseStanding['verdict']

const PROMISE_WORDS: Record<PromiseVerdict, string> = {
  met: 'Met',
  not_met: 'Not met',
  not_applicable: 'Not applicable',
}
const CHECK_WORDS: Record<Verdict, string> = { pass: 'Pass', fail: 'Fail', not_applicable: 'Not applicable' }

/**
 * How a verdict's badge looks: a failure filled red (red-9, app.css: AA contrast), a pass
 * outlined dark, not applicable plain grey — the words say it, the look only helps.
 */
const LOOK: Record<Verdict, { variant: string; color: string }> = {
  fail: { variant: 'filled', color: 'red' },
  pass: { variant: 'outline', color: 'dark' },
  not_applicable: { variant: 'default', color: 'gray' },
}

/** A promise's verdict as a badge whose text says it ("Met", "Not met", "Not applicable"): never colour alone. */
export function PromiseVerdictBadge({ verdict }: { verdict: PromiseVerdict }) {
  return (
    <Badge {...LOOK[verdict === 'not_met' ? 'fail' : verdict === 'met' ? 'pass' : 'not_applicable']}>
      {PROMISE_WORDS[verdict]}
    </Badge>
  )
}

/** A check's verdict as a badge whose text says it ("Pass", "Fail", "Not applicable"). */
export function CheckVerdictBadge({ verdict }: { verdict: Verdict }) {
  return <Badge {...LOOK[verdict]}>{CHECK_WORDS[verdict]}</Badge>
}

/** A check's verdict in a sentence's words ("pass", "fail", "not applicable"). */
export const verdictWords = (verdict: Verdict): string => CHECK_WORDS[verdict].toLowerCase()

/** A check's scope: "Service" (the deployment as a whole, shown to every org) or "This org". */
export const scopeWords = (scope: CheckResult['scope']): string => (scope === 'service' ? 'Service' : 'This org')

/** A run's trigger: "on schedule" or "on demand" ("Evaluate now", or the API). */
export const triggerWords = (trigger: 'schedule' | 'demand'): string =>
  trigger === 'schedule' ? 'on schedule' : 'on demand'

/** An interval in seconds as people say it: "1 hour", "30 minutes", "90 seconds". */
export function intervalWords(seconds: number): string {
  const unit = counted
  if (seconds % 86_400 === 0) return unit(seconds / 86_400, 'day')
  if (seconds % 3600 === 0) return unit(seconds / 3600, 'hour')
  if (seconds % 60 === 0) return unit(seconds / 60, 'minute')
  return unit(seconds, 'second')
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/

/**
 * An evidence key in words: `withoutSecondFactor` → "without second factor",
 * `policyRequires2fa` → "policy requires 2fa" (the key itself stays as the term's title).
 */
export function evidenceTerm(key: string): string {
  return key
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([a-z])([0-9])/g, '$1 $2')
    .replace(/[_-]/g, ' ')
    .toLowerCase()
}

/**
 * An evidence value as the page shows it (docs/compliance.md: figures, ids, times, short
 * words): a list joined with commas ("none" when empty), null as "none", a boolean as
 * "yes"/"no", a moment (RFC 3339) in the reader's locale, anything else as written.
 */
export function evidenceValue(value: unknown): string {
  if (value === null || value === undefined) return 'none'
  if (Array.isArray(value)) return value.length === 0 ? 'none' : value.map((v) => evidenceValue(v)).join(', ')
  if (typeof value === 'boolean') return value ? 'yes' : 'no'
  if (typeof value === 'string') return ISO_TIME.test(value) ? when(value) : value
  if (typeof value === 'number') return String(value)
  return JSON.stringify(value)
}
