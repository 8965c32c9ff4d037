import { Badge, Group } from '@mantine/core'
import { Countdown } from '../../components/Countdown.tsx'
import type { PrivacyRequest, RequestKind, RequestStatus } from './api.ts'

/** A moment the API gives (ISO 8601) in the reader's locale, or a dash when there is none. */
export const when = (iso: string | null | undefined) =>
  iso === null || iso === undefined ? '—' : new Date(iso).toLocaleString()

/** What each kind of request asks, in words. */
export const KIND_LABELS: Record<RequestKind, string> = {
  access: 'access (export)',
  rectify: 'rectify',
  erase: 'erase',
  restrict: 'restrict processing',
  lift_restriction: 'lift the restriction',
}

export const STATUSES: RequestStatus[] = ['open', 'in_progress', 'completed', 'rejected']

/** A request's status, in words (in progress: an erasure waiting for its certificate). */
export function StatusBadge({ status }: { status: RequestStatus }) {
  const color = { open: 'blue.9', in_progress: 'orange.9', completed: 'teal.9', rejected: 'gray.8' }[status]
  return (
    <Badge color={color} c={status === 'in_progress' ? 'black' : undefined}>
      {status.replace('_', ' ')}
    </Badge>
  )
}

/**
 * Whether a request is overdue at `now` (ms): the API's `overdue` as it answered, or — as
 * the browser's clock passes the API's deadline while the page is open — still open or in
 * progress at or after `dueAt`, the API's own definition (requests.service.ts, `view`).
 */
export function isOverdue(request: Pick<PrivacyRequest, 'overdue' | 'status' | 'dueAt'>, now: number): boolean {
  const active = request.status === 'open' || request.status === 'in_progress'
  return active && (request.overdue || now >= new Date(request.dueAt).getTime())
}

/**
 * A request's clock: for an open or in-progress request, the time left to its deadline
 * counted down every second (components/Countdown) and, once past, an "Overdue" badge in
 * words beside "overdue by …" — never colour alone; for a closed one, when it closed.
 */
export function RequestClock({ request, overdue }: { request: PrivacyRequest; overdue: boolean }) {
  if (request.status !== 'open' && request.status !== 'in_progress')
    return <>{request.completedAt === null ? '—' : `closed ${when(request.completedAt)}`}</>
  return (
    <Group gap={6} wrap="nowrap">
      {overdue ? (
        <Badge color="red.9" variant="filled">
          Overdue
        </Badge>
      ) : null}
      <Countdown
        dueAt={request.dueAt}
        label={`Time left on the ${request.kind} request received ${when(request.receivedAt)}`}
      />
    </Group>
  )
}

/**
 * Who an API actor reference is ("user:<id>", a bare user id, "system:privacy"): the
 * member's email when the page knows it, the service itself for a `system:` job, else who
 * it was in words — never the id.
 */
export function actorName(ref: string | null | undefined, people: Map<string, string>): string {
  if (ref === null || ref === undefined) return '—'
  if (ref.startsWith('system:')) return 'Custodian (automatic)'
  const id = ref.startsWith('user:') ? ref.slice('user:'.length) : ref
  return people.get(id) ?? 'a former member'
}

/** A JSON value as the API returned it, indented, for a payload or the details of an event. */
export const pretty = (value: unknown) => JSON.stringify(value, null, 2)
