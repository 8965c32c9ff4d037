import { Fragment } from 'react'
import { Badge, Code, NativeSelect, NumberInput, TextInput } from '@mantine/core'
import type { Alert } from './api.ts'

export type Severity = Alert['severity']
/** The severities, least first, as the API names them. */
export const SEVERITIES: readonly Severity[] = ['low', 'medium', 'high', 'critical']

/** A moment the API gives (ISO 8601) in the reader's locale, or a dash when there is none. */
export const when = (iso: string | null | undefined) =>
  iso === null || iso === undefined ? '—' : new Date(iso).toLocaleString()

/** A severity as a badge, each colour at least 4.5:1 against its text (WCAG AA). */
export function SeverityBadge({ severity }: { severity: Alert['severity'] }) {
  const color = { low: 'gray.8', medium: 'yellow.9', high: 'orange.9', critical: 'red.9' }[severity]
  return (
    <Badge color={color} c={severity === 'medium' || severity === 'high' ? 'black' : undefined}>
      {severity}
    </Badge>
  )
}

/** An alert's or an incident's status as a badge. */
export function StatusBadge({ status }: { status: string }) {
  const color = status === 'open' ? 'red.9' : status === 'resolved' || status === 'closed' ? 'teal.9' : 'blue.9'
  return <Badge color={color}>{status}</Badge>
}

/** A breach notification clock's state: pending, sent or missed. */
export function ClockBadge({ status }: { status: 'pending' | 'sent' | 'missed' }) {
  const color = { pending: 'orange.9', sent: 'teal.9', missed: 'red.9' }[status]
  return (
    <Badge color={color} c={status === 'pending' ? 'black' : undefined}>
      {status}
    </Badge>
  )
}

/**
 * Who an API actor reference is ("user:<id>", a bare user id, "system:alerts"): the
 * member's email when the page knows it, else the reference as the API gave it.
 */
export function actorName(ref: string | null | undefined, people: Map<string, string>): string {
  if (ref === null || ref === undefined) return '—'
  const id = ref.startsWith('user:') ? ref.slice('user:'.length) : ref
  return people.get(id) ?? ref
}

/**
 * A severity to choose. With `fallback`, a first choice "Default (…)" (the value '') leaves it
 * to the API, `fallback` saying what that default is; without, one of the four must be chosen.
 */
export function SeveritySelect({
  label,
  description,
  fallback,
  value,
  onChange,
}: {
  label: string
  description?: string
  fallback?: string
  value: Severity | ''
  onChange: (severity: Severity | '') => void
}) {
  const choices = SEVERITIES.map((s) => ({ value: s, label: s }))
  return (
    <NativeSelect
      label={label}
      description={description}
      data={fallback === undefined ? choices : [{ value: '', label: `Default (${fallback})` }, ...choices]}
      value={value}
      onChange={(event) => onChange(event.currentTarget.value as Severity | '')}
    />
  )
}

/** The kinds of party a breach is notified to, as the API names them. */
export const PARTY_KINDS = [
  { value: 'customers', label: 'customers' },
  { value: 'users', label: 'users' },
  { value: 'third_party', label: 'third party' },
  { value: 'regulator', label: 'regulator' },
]

/** A party being written: its kind, name and deadline in hours (as typed). */
export interface PartyDraft {
  kind: string
  name: string
  hours: number | string
}

/**
 * A breach notification party's fields — kind, name, deadline in hours — for the plan's
 * parties and a party added when a breach is confirmed; `fieldError` gives a refusal's
 * message for one of the API's fields (kind, name, deadlineHours).
 */
export function PartyFields({
  party,
  nameId,
  fieldError,
  onChange,
}: {
  party: PartyDraft
  nameId?: string
  fieldError?: (field: 'kind' | 'name' | 'deadlineHours') => string | undefined
  onChange: (party: PartyDraft) => void
}) {
  return (
    <>
      <NativeSelect
        label="Kind"
        data={PARTY_KINDS}
        value={party.kind}
        error={fieldError?.('kind')}
        onChange={(event) => onChange({ ...party, kind: event.currentTarget.value })}
      />
      <TextInput
        id={nameId}
        label="Name"
        maxLength={200}
        value={party.name}
        error={fieldError?.('name')}
        onChange={(event) => onChange({ ...party, name: event.currentTarget.value })}
      />
      <NumberInput
        label="Deadline (hours)"
        min={1}
        max={720}
        allowDecimal={false}
        value={party.hours}
        error={fieldError?.('deadlineHours')}
        onChange={(value) => onChange({ ...party, hours: value })}
      />
    </>
  )
}

const RULE_NAMES: Record<string, string> = {
  login_failures_account: 'Failed sign-ins for an account',
  login_failures_ip: 'Failed sign-ins from an address',
  reveal_burst: 'Burst of reveals',
  reveal_off_hours: 'Reveal outside usual hours',
  privilege_change: 'Privilege change',
  mfa_disabled: 'Two-factor authentication turned off',
  grant_misuse: 'Diagnostic access grant misused',
  application_action: 'Watched application action',
  audit_integrity: 'Audit chain broken',
  plan_review_overdue: 'Response plan review overdue',
  disclosure_ack_overdue: 'Vulnerability report not acknowledged',
  breach_notification_missed: 'Breach notification missed',
  audit_unwitnessed: 'Audit log not witnessed',
  audit_witness_inconsistent: 'Audit witness inconsistent',
  backup_failed: 'Scheduled backup failed',
}

/**
 * An alert rule's name in words ("login_failures_account" → "Failed sign-ins for an
 * account"); a rule the console does not know reads as its key's words.
 */
export function ruleName(rule: string): string {
  const known = RULE_NAMES[rule]
  if (known !== undefined) return known
  const words = rule.replace(/_/g, ' ')
  return words.charAt(0).toUpperCase() + words.slice(1)
}

/** A rule's description as the API writes it: a `quoted` name (a setting, a pattern) shown as code, not backticks. */
export function RuleDescription({ text }: { text: string }) {
  return (
    <>
      {text.split('`').map((part, i) =>
        // Odd parts sit between backticks (an unmatched last one reads as plain text).
        // biome-ignore lint/suspicious/noArrayIndexKey: the parts of one fixed string
        i % 2 === 1 ? <Code key={i}>{part}</Code> : <Fragment key={i}>{part}</Fragment>,
      )}
    </>
  )
}
