import { useMemo, useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Box,
  Button,
  Checkbox,
  Group,
  NativeSelect,
  Paper,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListBeside } from '../../components/ListPage.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { TokenShownOnce } from '../../components/TokenShownOnce.tsx'
import { useAction } from '../../lib/action.ts'
import { counted } from '../../lib/plural.ts'
import { describeAction, describeNetworkError } from '../../lib/describe.ts'
import { ApiError } from '../../lib/api.ts'
import {
  useDeliveries,
  useFollowed,
  usePrivacyRequestChoices,
  useWebhookActions,
  useWebhooks,
  type Delivery,
  type DeliveryStatus,
  type RequestChoice,
  type WebhookEvent,
} from './api.ts'
import { StatusBadge } from './StatusBadge.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

const when = (iso: string | null) => (iso === null ? '—' : new Date(iso).toLocaleString())

/**
 * The events a webhook may subscribe to, in words, with what each one delivers: keyed by the
 * API's union, so the compiler keeps the table complete when the API adds one.
 */
const EVENT_WORDS: Record<WebhookEvent, { label: string; description: string }> = {
  notifications: { label: 'Notifications', description: 'every notification of the org’s outbox, once per batch' },
  'erasure.requested': {
    label: 'Erasure requested',
    description: 'a data subject was erased: erase them too (the 2xx answer is recorded)',
  },
  'audit.checkpoint': { label: 'Audit checkpoint', description: 'each signed audit checkpoint, to keep elsewhere' },
  'consent.reconsent_required': {
    label: 'Re-consent required',
    description: 'data subjects who must consent again to a purpose that changed, in batches',
  },
}
const EVENTS = Object.entries(EVENT_WORDS).map(([value, words]) => ({ value, ...words }))

/** A webhook event (a subscription's, a delivery's) in words; one the console does not know reads as its words. */
function describeEvent(event: string): string {
  return Object.hasOwn(EVENT_WORDS, event) ? EVENT_WORDS[event as WebhookEvent].label : describeAction(event)
}

/**
 * The org's webhooks (list, add with its events, rotate its signing secret or remove it after
 * a confirm dialog) and their recent deliveries. A new or rotated signing secret is shown
 * once, in a dialog: it lives in this section's state only (never a URL, storage or the
 * query cache) and goes when the dialog closes or the page is left. After a rotation the
 * previous secret also signs for 24 hours, which the confirm dialog says.
 */
export function WebhooksSection({ orgId, canManage }: { orgId: string; canManage: boolean }) {
  const webhooks = useWebhooks(orgId)
  const actions = useWebhookActions(orgId)
  const [removing, setRemoving] = useState<{ id: string; name: string } | null>(null)
  const [added, setAdded] = useState<{ name: string; secret: string; until?: string } | null>(null)
  const [rotating, setRotating] = useState<{ id: string; name: string } | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const all = useMemo(() => webhooks.data?.pages.flatMap((p) => p.webhooks) ?? [], [webhooks.data])

  return (
    <Stack gap="lg">
      <ListBeside
        aside={
          canManage ? (
            <AddWebhookForm
              orgId={orgId}
              onAdded={(made) => {
                setNotice(null)
                setAdded(made)
              }}
            />
          ) : (
            <Text c="dimmed" size="sm">
              Adding and removing webhooks needs <PermissionName permission="webhooks:manage" />.
            </Text>
          )
        }
      >
        <Stack gap="sm">
          <Title order={2} size="h4">
            Webhooks
          </Title>
          <Notice title="Done" message={notice} onClose={() => setNotice(null)} />
          <ListStatus
            query={webhooks}
            noun="webhooks"
            refusal="You cannot list this org’s webhooks"
            empty={{ when: all.length === 0, text: 'No webhooks yet.' }}
          />
          {all.length > 0 ? (
            <ListTable
              striped
              label="Webhooks"
              columns={['Name', 'URL', 'Events', 'State', 'Created', canManage ? 'Actions' : null]}
            >
              {all.map((w) => (
                <Table.Tr key={w.id}>
                  <Table.Td fw={500}>{w.name}</Table.Td>
                  <Table.Td className="notify-value">{w.url}</Table.Td>
                  <Table.Td>{w.events.map(describeEvent).join(', ')}</Table.Td>
                  <Table.Td>{w.enabled ? 'enabled' : 'disabled'}</Table.Td>
                  <Table.Td>{when(w.createdAt)}</Table.Td>
                  {canManage ? (
                    <Table.Td>
                      <Group gap="xs" wrap="nowrap">
                        <RowAction
                          label={`Rotate signing secret of webhook ${w.name}`}
                          onClick={() => setRotating({ id: w.id, name: w.name })}
                        >
                          Rotate signing secret
                        </RowAction>
                        <RowAction
                          color="red.9"
                          variant="outline"
                          label={`Delete webhook ${w.name}`}
                          onClick={() => setRemoving({ id: w.id, name: w.name })}
                        >
                          Delete
                        </RowAction>
                      </Group>
                    </Table.Td>
                  ) : null}
                </Table.Tr>
              ))}
            </ListTable>
          ) : null}
          <LoadMore query={webhooks} />
        </Stack>
      </ListBeside>
      <DeliveriesList orgId={orgId} canManage={canManage} />

      <Dialog open={added !== null} title="The webhook’s signing secret" onClose={() => setAdded(null)}>
        {added !== null ? (
          <Stack gap="sm">
            <Alert variant="default" title="Shown once">
              Each delivery is signed with it (X-Custodian-Signature, HMAC-SHA256). Copy it now into the receiver: this
              page does not show it again. It is kept in the org’s vault as the secret webhook/{added.name}, which
              members holding vault:reveal can reveal there (audited); it goes when the webhook is removed.
              {added.until === undefined
                ? null
                : ` Until ${when(added.until)}, deliveries carry a signature under the previous secret as well.`}
            </Alert>
            <TokenShownOnce label={`Signing secret of ${added.name}`} token={added.secret} copyLabel="Copy secret">
              <Button onClick={() => setAdded(null)}>Done</Button>
            </TokenShownOnce>
          </Stack>
        ) : null}
      </Dialog>
      <ConfirmDialog
        opened={rotating !== null}
        onClose={() => setRotating(null)}
        title={`Rotate the signing secret of ${rotating?.name ?? ''}?`}
        confirmLabel="Rotate signing secret"
        onConfirm={async () => {
          if (rotating === null) return
          const made = await actions.rotateSecret(rotating.id)
          setNotice(null)
          setAdded({ name: made.name, secret: made.secret, until: made.previousSecretUntil })
        }}
      >
        A new signing secret replaces the current one and is shown once. For 24 hours every delivery is signed with
        both, so the receiver can switch to the new secret without refusing anything; after that only the new one signs.
      </ConfirmDialog>
      <ConfirmDialog
        opened={removing !== null}
        onClose={() => setRemoving(null)}
        title={`Delete the webhook ${removing?.name ?? ''}?`}
        confirmLabel="Delete webhook"
        danger
        onConfirm={async () => {
          if (removing === null) return
          await actions.remove(removing.id)
          setNotice(`The webhook ${removing.name} is deleted; its signing secret is erased.`)
        }}
      >
        Nothing more is sent to it, and deliveries still waiting for it end as failed. Its signing secret is erased.
      </ConfirmDialog>
    </Stack>
  )
}

/** Registers a webhook (a step-up action); the secret goes straight to the section's dialog. */
function AddWebhookForm({
  orgId,
  onAdded,
}: {
  orgId: string
  onAdded: (added: { name: string; secret: string }) => void
}) {
  const actions = useWebhookActions(orgId)
  const [name, setName] = useState('')
  const [url, setUrl] = useState('')
  const [events, setEvents] = useState<string[]>(['notifications'])
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const problem = error instanceof ApiError ? error : undefined

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setError(null)
    try {
      const made = await actions.register({ name, url, events: events as WebhookEvent[] })
      setName('')
      setUrl('')
      setEvents(['notifications'])
      onAdded({ name: made.name, secret: made.secret })
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(false)
    }
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="webhook-add-title">
      <Title order={2} size="h4" id="webhook-add-title" mb="sm">
        New webhook
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="Not added" />
          <TextInput
            label="Webhook name"
            description="Lower-case letters, digits, _ and -"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={problem?.fieldError('name')}
          />
          <TextInput
            label="URL"
            description="https:// only; no credentials in it"
            required
            type="url"
            value={url}
            onChange={(e) => setUrl(e.currentTarget.value)}
            error={problem?.fieldError('url')}
          />
          <Checkbox.Group label="Events" value={events} onChange={setEvents} error={problem?.fieldError('events')}>
            <Stack gap={6} mt="xs">
              {EVENTS.map((e) => (
                <Checkbox key={e.value} value={e.value} label={e.label} description={e.description} />
              ))}
            </Stack>
          </Checkbox.Group>
          <Button type="submit" loading={pending}>
            Add webhook
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}

const STATUSES: { value: DeliveryStatus | ''; label: string }[] = [
  { value: '', label: 'Any' },
  { value: 'pending', label: 'pending' },
  { value: 'delivered', label: 'delivered' },
  { value: 'failed', label: 'failed (dead letters)' },
]

/** When a delivery was delivered, will be tried next, or was given up (a dead letter, and until when it can be retried). */
function outcome(d: Delivery): string {
  if (d.deliveredAt !== null) return when(d.deliveredAt)
  if (d.nextAttemptAt !== null) return `next ${when(d.nextAttemptAt)}`
  if (d.deadLetteredAt !== null)
    return `dead-lettered ${when(d.deadLetteredAt)}${d.retryableUntil === null ? '' : `; retryable until ${when(d.retryableUntil)}`}`
  return '—'
}

/**
 * The rows to show: the list as the API answers it, and each delivery retried here that has
 * left it since (a dead letter retried while the list shows the failed ones is pending now),
 * in its place by creation time, as last asked (useFollowed) — so the row the user acted on
 * does not vanish under their pointer, and goes on to show how it settles. `left` holds the
 * ids of those kept rows.
 */
export function withRetried(listed: Delivery[], retried: Delivery[]): { rows: Delivery[]; left: Set<string> } {
  const shown = new Set(listed.map((d) => d.id))
  const kept = retried.filter((d) => !shown.has(d.id))
  const rows = [...listed, ...kept].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  return { rows, left: new Set(kept.map((d) => d.id)) }
}

/**
 * Deliveries newest first, 50 a page, optionally of one status (failed: the dead letters) or
 * those of one privacy request. A dead letter gets "Retry" (webhooks:manage): the API's
 * answer, its new state, is said in a notice and the row follows it until it settles. Retried
 * while the list shows only the failed ones, the row stays (with its new state and a word on
 * where it went) until the filter changes, and the notice says where to follow it.
 */
function DeliveriesList({ orgId, canManage }: { orgId: string; canManage: boolean }) {
  const [form, setForm] = useState('')
  const [requestId, setRequestId] = useState('')
  const [status, setStatus] = useState<DeliveryStatus | ''>('')
  const deliveries = useDeliveries(orgId, requestId, status)
  const requests = usePrivacyRequestChoices(orgId)
  const actions = useWebhookActions(orgId)
  const retry = useAction()
  const [retried, setRetried] = useState<string | null>(null)
  // Deliveries retried here under the current filter: kept in view once the filter drops them.
  const [kept, setKept] = useState<Delivery[]>([])
  const listed = useMemo(() => deliveries.data?.pages.flatMap((p) => p.deliveries) ?? [], [deliveries.data])
  // Kept rows are asked again one by one until they settle: the list no longer covers them.
  const followed = useFollowed(orgId, kept)
  const { rows: all, left } = useMemo(() => withRetried(listed, followed), [listed, followed])
  const problem = deliveries.error instanceof ApiError ? deliveries.error : undefined
  const apply = (event: SyntheticEvent) => {
    event.preventDefault()
    setKept([])
    setRequestId(form.trim())
  }
  const retryOne = async (d: Delivery) => {
    setRetried(null)
    let queued: Delivery | undefined
    const ok = await retry.run(async () => {
      queued = await actions.retry(d.id)
    })
    if (!ok) return
    const now = queued ?? { ...d, status: 'pending' as const }
    const gone = status !== '' && now.status !== status
    if (gone) setKept((rows) => [...rows.filter((r) => r.id !== now.id), now])
    setRetried(
      `The delivery to ${d.webhook} is sent again: now ${now.status}, attempt budget renewed (retried ${counted(now.retries, 'time')}).${
        gone
          ? ` It is no longer ${status}, so the list leaves it out from now on: it stays below until the filter changes; choose “Any” to follow it.`
          : ''
      }`,
    )
  }

  return (
    <Stack gap="sm" component="section" aria-labelledby="deliveries-title">
      <Title order={2} size="h4" id="deliveries-title">
        Recent deliveries
      </Title>
      <Box component="form" onSubmit={apply} aria-label="Filter deliveries">
        <Group align="flex-end" gap="sm">
          <NativeSelect
            label="Delivery status"
            data={STATUSES}
            value={status}
            onChange={(e) => {
              setKept([])
              setStatus(e.currentTarget.value as DeliveryStatus | '')
            }}
            error={problem?.errors.find((e) => e.path === '/query/status')?.message}
          />
          {requests.isSuccess ? (
            <NativeSelect
              label="Privacy request"
              description="Only the deliveries of one privacy request (an erasure)"
              value={form}
              onChange={(e) => setForm(e.currentTarget.value)}
              data={requestChoices(requests.data, form)}
              error={problem?.errors.find((e) => e.path === '/query/requestId')?.message}
            />
          ) : (
            // Without privacy:read the requests cannot be listed here: their id, typed.
            <TextInput
              label="Privacy request (id)"
              description="Only the deliveries of one privacy request (an erasure)"
              value={form}
              onChange={(e) => setForm(e.currentTarget.value)}
              error={problem?.errors.find((e) => e.path === '/query/requestId')?.message}
            />
          )}
          <Button type="submit">Apply filter</Button>
          <Button variant="default" onClick={() => void deliveries.refetch()} loading={deliveries.isRefetching}>
            Refresh
          </Button>
        </Group>
      </Box>
      <Notice title="Retried" message={retried} onClose={() => setRetried(null)} />
      <ActionProblem error={retry.error} title="Not retried" />
      <ListStatus
        query={deliveries}
        noun="deliveries"
        refusal="You cannot list this org’s webhook deliveries"
        empty={{
          when: all.length === 0,
          text:
            status === 'failed'
              ? 'No dead letters.'
              : status === ''
                ? 'No deliveries yet.'
                : `No ${status} deliveries.`,
        }}
      />
      {all.length > 0 ? (
        <ListTable
          striped
          label="Webhook deliveries"
          columns={[
            'Created',
            'Webhook',
            'Event',
            'Destination',
            'Status',
            'Attempts',
            'Retries',
            'Last answer',
            'Delivered or next attempt',
            canManage ? 'Actions' : null,
          ]}
        >
          {all.map((d) => (
            <Table.Tr key={d.id}>
              <Table.Td>{when(d.createdAt)}</Table.Td>
              <Table.Td>{d.webhook}</Table.Td>
              <Table.Td>{describeEvent(d.event)}</Table.Td>
              <Table.Td className="notify-value">{d.destination}</Table.Td>
              <Table.Td>
                <StatusBadge status={d.status} />
                {left.has(d.id) ? (
                  <Text size="xs" c="dimmed">
                    {d.status === status ? `retried: ${status} again` : `retried: no longer ${status}`}
                  </Text>
                ) : null}
              </Table.Td>
              <Table.Td>{d.attempts}</Table.Td>
              <Table.Td>{d.retries}</Table.Td>
              <Table.Td className="notify-value">
                {d.lastError !== null
                  ? describeNetworkError(d.lastError)
                  : d.lastStatus === null
                    ? '—'
                    : `HTTP ${d.lastStatus}`}
              </Table.Td>
              <Table.Td>{outcome(d)}</Table.Td>
              {canManage ? (
                <Table.Td>
                  {d.status === 'failed' ? (
                    <RowAction
                      label={`Retry the delivery to ${d.webhook} of ${when(d.createdAt)}`}
                      onClick={() => void retryOne(d)}
                      disabled={retry.pending}
                    >
                      Retry
                    </RowAction>
                  ) : null}
                </Table.Td>
              ) : null}
            </Table.Tr>
          ))}
        </ListTable>
      ) : null}
      <LoadMore query={deliveries} />
    </Stack>
  )
}

const REQUEST_KINDS: Record<string, string> = {
  access: 'Access (export)',
  rectify: 'Rectification',
  erase: 'Erasure',
  restrict: 'Restriction of processing',
  lift_restriction: 'Lifting of a restriction',
}

/**
 * The privacy-request filter's choices: any, then each request in words — its kind, when it
 * was received and a short reference (the first 8 characters of its id) — never the
 * subject's or requester's personal data.
 */
function requestChoices(requests: readonly RequestChoice[], current: string): { value: string; label: string }[] {
  const choices = [
    { value: '', label: 'Any request' },
    ...requests.map((r) => ({
      value: r.id,
      label: `${REQUEST_KINDS[r.kind] ?? r.kind} received ${when(r.receivedAt)} · ref. ${r.id.slice(0, 8)}`,
    })),
  ]
  if (current !== '' && !choices.some((c) => c.value === current))
    choices.push({ value: current, label: `an older request · ref. ${current.slice(0, 8)}` })
  return choices
}
