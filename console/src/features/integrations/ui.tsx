import { useState, type ReactNode } from 'react'
import { Badge, Button, Group, List, Table, Text } from '@mantine/core'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ANONYMOUS_ACTOR, oneOf } from '../../lib/kinds.ts'
import './integrations.css'
import { useIntegrationActions, type AuditEvent, type CheckResult, type DataSource } from './api.ts'

/** What the session may do to a data source, as GET /v1/me lists it; the API still decides. */
export interface SourcePermissions {
  /** secrets:check */
  check: boolean
  /** secrets:write: pause, resume, the rotation policy, rotate now */
  write: boolean
  /** secrets:delete */
  delete: boolean
}

export const when = (iso: string | null | undefined) => (iso == null ? 'never' : new Date(iso).toLocaleString())

/** `user@host:port/database`, as the credential's metadata gives it (never its password). */
export function connectionOf(source: { host: unknown; port: unknown; database: unknown; user: unknown }): string {
  return `${String(source.user)}@${String(source.host)}:${String(source.port)}/${String(source.database)}`
}

const ACTOR_KINDS: Record<string, string> = {
  user: 'a member',
  service_account: 'a service account',
  operator: 'an operator',
  system: 'the system',
  anonymous: ANONYMOUS_ACTOR,
}

/**
 * An audit actor in words: the service's own jobs by what they do, a member by email (`emails`:
 * user id → email), else the kind of actor ("a member", "a service account") — never an id.
 */
export function actorLabel(
  actor: { type: string; id: string | null },
  emails: ReadonlyMap<string, string> = new Map(),
): string {
  if (actor.type === 'system' && actor.id === 'rotation') return 'scheduled rotation (system)'
  if (actor.type === 'system' && actor.id === 'connector-check') return 'scheduled check (system)'
  const email = actor.type === 'user' && actor.id !== null ? emails.get(actor.id) : undefined
  return email ?? ACTOR_KINDS[actor.type] ?? oneOf(actor.type)
}

/**
 * A data source's status, at least 4.5:1 (WCAG AA) like the secrets' badges: teal-9 and
 * red-9 under white text, yellow-9 under black.
 */
export function StatusBadge({ status }: { status: DataSource['status'] }) {
  if (status === 'paused')
    return (
      <Badge className="source-badge" color="yellow.9" c="black">
        paused
      </Badge>
    )
  return (
    <Badge className="source-badge" color={status === 'exposed' ? 'red.9' : 'teal.9'}>
      {status}
    </Badge>
  )
}

/** The last check as the list has it: reachable or not, over TLS or not, can write or read-only. */
export function FindingBadges({ check }: { check: DataSource['lastCheck'] }) {
  if (check === null) return <Text size="sm">not checked yet</Text>
  if (!check.reachable)
    return (
      <Badge className="source-badge" color="red.9">
        unreachable
      </Badge>
    )
  return (
    <Group gap={4}>
      <Badge className="source-badge" color="teal.9">
        reachable
      </Badge>
      {check.tls === null ? null : (
        <Badge className="source-badge" variant="outline" color="dark">
          {check.tls ? 'TLS' : 'no TLS'}
        </Badge>
      )}
      {check.canWrite === null ? (
        <Badge className="source-badge" variant="outline" color="dark">
          write access unknown
        </Badge>
      ) : check.canWrite ? (
        <Badge className="source-badge" color="red.9">
          can write
        </Badge>
      ) : (
        <Badge className="source-badge" color="teal.9">
          read-only
        </Badge>
      )}
    </Group>
  )
}

/** A check's answer in one sentence, for the notice after "Check now". */
export function describeCheck(name: string, result: CheckResult): string {
  if (!result.reachable) return `${name} is unreachable: ${result.error ?? 'no reason given'}.`
  const how = result.tls === true ? 'over TLS' : 'without TLS'
  const who = `as role ${result.role ?? '?'}${result.superuser === true ? ' (superuser)' : ''}`
  const write =
    result.canWrite === true ? `it can write (${(result.writeReasons ?? []).join('; ')})` : 'it cannot write'
  return `${name} is reachable ${how} ${who}; ${write}.`
}

/** A check's findings, from a check's answer or from its `secret.check` audit event. */
export interface Findings {
  /** When it was checked (a check's answer), or when its audit event was recorded. */
  at: { label: string; time: string }
  by: string | null
  reachable: boolean
  error: string | null
  tls: boolean | null
  role: string | null
  superuser: boolean | null
  canWrite: boolean | null
  writeReasons: string[] | null
  writableTableCount: number | null
}

export function findingsOfResult(result: CheckResult): Findings {
  return {
    at: { label: 'Checked', time: result.checkedAt },
    by: null,
    reachable: result.reachable,
    error: result.error ?? null,
    tls: result.tls ?? null,
    role: result.role ?? null,
    superuser: result.superuser ?? null,
    canWrite: result.canWrite ?? null,
    writeReasons: result.writeReasons ?? null,
    writableTableCount: result.writableTableCount ?? null,
  }
}

const bool = (value: unknown) => (typeof value === 'boolean' ? value : null)
const str = (value: unknown) => (typeof value === 'string' ? value : null)

export function findingsOfEvent(event: AuditEvent, emails?: ReadonlyMap<string, string>): Findings {
  const d = event.details
  return {
    at: { label: 'Recorded', time: event.time },
    by: actorLabel(event.actor, emails),
    reachable: d.reachable === true,
    error: null,
    tls: bool(d.tls),
    role: str(d.role),
    superuser: bool(d.superuser),
    canWrite: bool(d.canWrite),
    writeReasons: Array.isArray(d.writeReasons) ? d.writeReasons.filter((r) => typeof r === 'string') : null,
    writableTableCount: null,
  }
}

const yesNo = (value: boolean | null) => (value === null ? 'not known' : value ? 'yes' : 'no')

/** A check's findings as a table of facts. */
export function FindingsTable({ findings }: { findings: Findings }) {
  const rows: [string, ReactNode][] = [
    [findings.at.label, `${when(findings.at.time)}${findings.by === null ? '' : ` by ${findings.by}`}`],
    ['Reachable', yesNo(findings.reachable)],
    ...(findings.error === null ? [] : ([['Why not', findings.error]] as [string, string][])),
    ['TLS', yesNo(findings.tls)],
    ['Role', findings.role ?? 'not known'],
    ['Superuser', yesNo(findings.superuser)],
    ['Can write', yesNo(findings.canWrite)],
  ]
  if (findings.writeReasons !== null && findings.writeReasons.length > 0)
    rows.push([
      'Ways it can write',
      <List size="sm" key="reasons">
        {findings.writeReasons.map((reason) => (
          <List.Item key={reason}>{reason}</List.Item>
        ))}
      </List>,
    ])
  if (findings.writableTableCount !== null) rows.push(['Writable tables', String(findings.writableTableCount)])
  return (
    <Table aria-label="Last check findings" variant="vertical" withTableBorder>
      <Table.Tbody>
        {rows.map(([label, value]) => (
          <Table.Tr key={label}>
            <Table.Th scope="row">{label}</Table.Th>
            <Table.Td>{value}</Table.Td>
          </Table.Tr>
        ))}
      </Table.Tbody>
    </Table>
  )
}

/**
 * Check now, pause or resume, delete (after a confirmation dialog): offered by the
 * session's permissions. Each result goes to `onDone` (a sentence) or `onError` (the
 * API's refusal, shown by the page as it is).
 */
export function SourceActions({
  orgId,
  source,
  can,
  compact,
  onDone,
  onError,
  onChecked,
  onDeleted,
}: {
  orgId: string
  source: { id: string; name: string; paused: boolean }
  can: SourcePermissions
  compact?: boolean
  onDone: (notice: string) => void
  onError: (problem: { title: string; error: unknown } | null) => void
  onChecked?: (result: CheckResult) => void
  onDeleted?: () => void
}) {
  const actions = useIntegrationActions(orgId)
  const [pending, setPending] = useState<'check' | 'pause' | null>(null)
  const [confirming, setConfirming] = useState(false)
  const size = compact === true ? 'xs' : 'sm'
  const run = async (kind: 'check' | 'pause', title: string, action: () => Promise<void>) => {
    setPending(kind)
    onError(null)
    try {
      await action()
    } catch (error) {
      onError({ title, error })
    } finally {
      setPending(null)
    }
  }
  if (!can.check && !can.write && !can.delete) return null
  return (
    <Group gap="xs" role="group" aria-label={`Actions on ${source.name}`} wrap="nowrap">
      {can.check ? (
        <Button
          size={size}
          variant="default"
          loading={pending === 'check'}
          aria-label={`Check now: ${source.name}`}
          onClick={() =>
            void run('check', `Not checked: ${source.name}`, async () => {
              const result = await actions.check(source.id)
              onChecked?.(result)
              onDone(`Checked. ${describeCheck(source.name, result)}`)
            })
          }
        >
          Check now
        </Button>
      ) : null}
      {can.write ? (
        <Button
          size={size}
          variant="default"
          loading={pending === 'pause'}
          aria-label={`${source.paused ? 'Resume' : 'Pause'} ${source.name}`}
          onClick={() =>
            void run('pause', `${source.paused ? 'Not resumed' : 'Not paused'}: ${source.name}`, async () => {
              await actions.setPaused(source.id, !source.paused)
              onDone(
                source.paused
                  ? `${source.name} is resumed: it can be used again.`
                  : `${source.name} is paused: every use is refused until it is resumed.`,
              )
            })
          }
        >
          {source.paused ? 'Resume' : 'Pause'}
        </Button>
      ) : null}
      {can.delete ? (
        <Button
          size={size}
          color="red.9"
          variant="outline"
          aria-label={`Delete ${source.name}`}
          onClick={() => setConfirming(true)}
        >
          Delete
        </Button>
      ) : null}
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title={`Delete ${source.name}?`}
        confirmLabel="Delete data source"
        danger
        onConfirm={async () => {
          await actions.remove(source.id)
          onDone(`${source.name} is deleted.`)
          onDeleted?.()
        }}
      >
        Every version of the credential is erased (data keys and ciphertexts destroyed), and its rotation policy goes
        with it. A credential that still manages another’s rotation is refused until that policy changes. This cannot be
        undone.
      </ConfirmDialog>
    </Group>
  )
}
