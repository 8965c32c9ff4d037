import { useEffect, useMemo, useRef, useState } from 'react'
import {
  Anchor,
  Button,
  CloseButton,
  Group,
  NativeSelect,
  Paper,
  Stack,
  Table,
  Text,
  Title,
  VisuallyHidden,
} from '@mantine/core'
import { Link } from 'react-router'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { useNotifications, type Notification, type NotificationStatus, type Source } from './api.ts'
import { describeAction, describeField, describeStatus, describeValue } from '../../lib/describe.ts'
import { StatusBadge } from './StatusBadge.tsx'

const when = (iso: string | null) => (iso === null ? '—' : new Date(iso).toLocaleString())

const STATUSES: { value: NotificationStatus | ''; label: string }[] = [
  { value: '', label: 'Any status' },
  { value: 'pending', label: 'pending (queued or retrying)' },
  { value: 'delivered', label: 'delivered' },
  { value: 'failed', label: 'failed (given up)' },
  { value: 'skipped', label: 'skipped (no mail server)' },
]

const TEXT: Record<Source, { table: string; noun: string; refusal: string; empty: string }> = {
  mine: {
    table: 'My notifications',
    noun: 'your notifications',
    refusal: 'You cannot list your notifications',
    empty: 'No notification for you',
  },
  org: {
    table: 'The org’s notifications',
    noun: 'the org’s notifications',
    refusal: 'You cannot see this org’s notifications',
    empty: 'No notification in this org',
  },
}

/**
 * One list of notifications, newest first, 50 a page: the session's own or the org's
 * outbox, filtered by status as the API filters it, each one's every field on "Details".
 */
export function NotificationList({ orgId, source, myId }: { orgId: string; source: Source; myId: string }) {
  const [status, setStatus] = useState<NotificationStatus | ''>('')
  const [selected, setSelected] = useState<Notification | null>(null)
  const notifications = useNotifications(orgId, source, status)
  const all = useMemo(() => notifications.data?.pages.flatMap((p) => p.notifications) ?? [], [notifications.data])
  const text = TEXT[source]
  const who = (n: Notification) =>
    n.recipient === myId
      ? 'you'
      : (n.recipientEmail ??
        (n.recipient.startsWith('vulnerability-report:') ? 'the report’s reporter' : 'a former member'))

  return (
    <Stack gap="sm">
      <Group align="flex-end" gap="sm">
        <NativeSelect
          label="Status"
          value={status}
          data={STATUSES}
          onChange={(e) => {
            setSelected(null)
            setStatus(e.currentTarget.value as NotificationStatus | '')
          }}
        />
        <Button variant="default" onClick={() => void notifications.refetch()} loading={notifications.isRefetching}>
          Refresh
        </Button>
      </Group>
      <ListStatus
        query={notifications}
        noun={text.noun}
        refusal={text.refusal}
        empty={{ when: all.length === 0, text: status === '' ? `${text.empty} yet.` : `${text.empty} is ${status}.` }}
      />
      {all.length > 0 ? (
        <Table striped highlightOnHover aria-label={text.table}>
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">Created</Table.Th>
              <Table.Th scope="col">Kind</Table.Th>
              <Table.Th scope="col">Subject</Table.Th>
              {source === 'org' ? <Table.Th scope="col">Recipient</Table.Th> : null}
              <Table.Th scope="col">Status</Table.Th>
              <Table.Th scope="col">Attempts</Table.Th>
              <Table.Th scope="col">
                <VisuallyHidden>Details</VisuallyHidden>
              </Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {all.map((n) => (
              <Table.Tr key={n.id}>
                <Table.Td>{when(n.createdAt)}</Table.Td>
                <Table.Td>{describeAction(n.kind)}</Table.Td>
                <Table.Td>{n.subject}</Table.Td>
                {source === 'org' ? <Table.Td className="notify-value">{who(n)}</Table.Td> : null}
                <Table.Td>
                  <StatusBadge status={n.status} />
                </Table.Td>
                <Table.Td>{n.attempts}</Table.Td>
                <Table.Td>
                  <Button
                    size="xs"
                    variant="default"
                    aria-label={`Details of ${n.subject} for ${who(n)} at ${when(n.createdAt)}`}
                    onClick={() => setSelected(n)}
                  >
                    Details
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      ) : null}
      <LoadMore query={notifications} />
      {selected !== null ? (
        <NotificationDetail orgId={orgId} notification={selected} who={who} onClose={() => setSelected(null)} />
      ) : null}
    </Stack>
  )
}

/**
 * The records a notification's data can name by id, each with its page in the console: the
 * field reads as a link in words ("Open the grant"), never the id.
 */
const RECORD_PAGES: Record<string, { path: string; text: string }> = {
  grantId: { path: 'grants', text: 'Open the grant' },
  incidentId: { path: 'incidents', text: 'Open the incident' },
  requestId: { path: 'privacy-requests', text: 'Open the privacy request' },
  reviewId: { path: 'access-reviews', text: 'Open the access review' },
  secretId: { path: 'secrets', text: 'Open the secret' },
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** One field of a notification's data in words: a record it names as a link to its page, else describeValue's words. */
function DataValue({ orgId, field, value }: { orgId: string; field: string; value: unknown }) {
  const page = RECORD_PAGES[field]
  if (page !== undefined && typeof value === 'string' && UUID.test(value))
    return (
      <Anchor component={Link} to={`/orgs/${orgId}/${page.path}/${value}`}>
        {page.text}
      </Anchor>
    )
  return describeValue(value)
}

/**
 * Every field of one notification in words, its data as labelled fields (never JSON, never an
 * id); the heading takes the focus when it opens.
 */
function NotificationDetail({
  orgId,
  notification: n,
  who,
  onClose,
}: {
  orgId: string
  notification: Notification
  who: (n: Notification) => string
  onClose: () => void
}) {
  const heading = useRef<HTMLHeadingElement>(null)
  useEffect(() => {
    heading.current?.focus()
  }, [n.id])
  const rows: [string, string][] = [
    ['Kind', describeAction(n.kind)],
    ['Recipient', who(n)],
    ['Status', describeStatus(n.status)],
    ['Attempts', String(n.attempts)],
    ['Last error', n.lastError ?? '—'],
    ['Created', when(n.createdAt)],
    ['Delivered', when(n.deliveredAt)],
  ]
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="notification-detail">
      <Group justify="space-between" mb="sm" wrap="nowrap">
        <Title order={2} size="h4" id="notification-detail" ref={heading} tabIndex={-1}>
          {n.subject}
        </Title>
        <CloseButton aria-label="Close notification details" onClick={onClose} />
      </Group>
      <Stack gap="sm">
        <Text className="notify-body">{n.body}</Text>
        <Table aria-label="Notification fields" layout="fixed">
          <Table.Tbody>
            {rows.map(([name, value]) => (
              <Table.Tr key={name}>
                <Table.Th scope="row" w={140}>
                  {name}
                </Table.Th>
                <Table.Td className="notify-value">{value}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        {Object.keys(n.data).length > 0 ? (
          <Table aria-label="Notification data" layout="fixed">
            <Table.Tbody>
              {Object.entries(n.data).map(([field, value]) => (
                <Table.Tr key={field}>
                  <Table.Th scope="row" w={140}>
                    {describeField(field)}
                  </Table.Th>
                  <Table.Td className="notify-value">
                    <DataValue orgId={orgId} field={field} value={value} />
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        ) : null}
      </Stack>
    </Paper>
  )
}
