import { useMemo, useState, type SyntheticEvent } from 'react'
import {
  Box,
  Button,
  Container,
  Group,
  NativeSelect,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
  VisuallyHidden,
} from '@mantine/core'
import { useParams, useSearchParams } from 'react-router'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { ApiError } from '../../lib/api.ts'
import { NO_FILTERS, useAuditEvents, type AuditEvent, type AuditFilters } from './api.ts'
import { EventDetail } from './EventDetail.tsx'
import { VerifyPanel } from './VerifyPanel.tsx'
import { describeEventAction, describeKind } from '../../lib/describe.ts'
import { useOrgPeople } from '../../lib/people.ts'
import { actorWords } from './actor.ts'
import './audit.css'

/** A datetime-local value (the browser's local time) as RFC 3339 UTC, or '' when empty. */
function toRfc3339(local: string): string {
  if (local === '') return ''
  const date = new Date(local)
  return Number.isNaN(date.getTime()) ? local : date.toISOString()
}

/**
 * The filters another page links with (`?action=retention.purge&target=<id>`): action,
 * actor and target, as the API takes them; anything else in the address is ignored.
 */
function linkedFilters(params: URLSearchParams): AuditFilters {
  return {
    ...NO_FILTERS,
    action: params.get('action') ?? '',
    actor: params.get('actor') ?? '',
    target: params.get('target') ?? '',
  }
}

/**
 * The org's audit log: filters (an address's `action`, `actor` and `target` applied on
 * opening), newest first a page at a time, one event's detail, export and verification.
 */
export function AuditPage({ canExport }: { canExport: boolean }) {
  const { orgId = '' } = useParams()
  const [params] = useSearchParams()
  const [form, setForm] = useState<AuditFilters>(() => linkedFilters(params))
  const [filters, setFilters] = useState<AuditFilters>(() => linkedFilters(params))
  const [selected, setSelected] = useState<AuditEvent | null>(null)
  const events = useAuditEvents(orgId, filters)
  const people = useOrgPeople(orgId)
  const all = useMemo(() => events.data?.pages.flatMap((p) => p.events) ?? [], [events.data])
  const problem = events.error instanceof ApiError ? events.error : undefined
  const fieldError = (field: string) => problem?.errors.find((e) => e.path === `/query/${field}`)?.message

  const apply = (e: SyntheticEvent) => {
    e.preventDefault()
    setSelected(null)
    setFilters({ ...form, from: toRfc3339(form.from), to: toRfc3339(form.to) })
  }
  const set = (field: keyof AuditFilters) => (e: { currentTarget: { value: string } }) => {
    const value = e.currentTarget.value
    setForm((f) => ({ ...f, [field]: value }))
  }
  /** A filter's input: its value in the form, and the API's message for that query parameter. */
  const filter = (field: Exclude<keyof AuditFilters, 'outcome' | 'origin'>) => ({
    value: form[field],
    onChange: set(field),
    error: fieldError(field),
  })

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="md">
        Audit log
      </Title>
      <Stack gap="lg">
        <Box component="form" onSubmit={apply} aria-label="Filter events">
          <Group align="flex-end" gap="sm" wrap="wrap">
            <TextInput label="Action" description="Exact, or a prefix: secret.*" {...filter('action')} />
            <NativeSelect
              label="Actor"
              description="A member of this org"
              value={form.actor}
              onChange={set('actor')}
              error={fieldError('actor')}
              data={actorChoices(people.data?.members ?? [], form.actor)}
            />
            <TextInput label="Target (id)" description="The id of a secret, member, grant…" {...filter('target')} />
            <NativeSelect
              label="Outcome"
              value={form.outcome}
              onChange={set('outcome')}
              data={[
                { value: '', label: 'Any' },
                { value: 'success', label: 'success' },
                { value: 'denied', label: 'denied' },
                { value: 'failure', label: 'failure' },
              ]}
            />
            <NativeSelect
              label="Origin"
              value={form.origin}
              onChange={set('origin')}
              data={[
                { value: '', label: 'Any' },
                { value: 'custodian', label: 'Custodian' },
                { value: 'application', label: 'Application' },
              ]}
            />
            <TextInput label="From" type="datetime-local" {...filter('from')} />
            <TextInput label="To" type="datetime-local" {...filter('to')} />
            <Button type="submit">Apply filters</Button>
            <Button
              variant="default"
              onClick={() => {
                setForm(NO_FILTERS)
                setFilters(NO_FILTERS)
                setSelected(null)
              }}
            >
              Clear
            </Button>
          </Group>
        </Box>

        <ListStatus
          query={events}
          noun="audit events"
          refusal="You cannot read this org’s audit log"
          empty={{ when: all.length === 0, text: 'No event matches.' }}
        />
        {events.isSuccess && all.length > 0 ? (
          <Stack gap="sm">
            <ListTable
              striped
              highlightOnHover
              label="Audit events"
              columns={[
                'Seq',
                'Time',
                'Action',
                'Outcome',
                'Origin',
                'Actor',
                'Target',
                <VisuallyHidden key="details">Details</VisuallyHidden>,
              ]}
            >
              {all.map((event) => (
                <Table.Tr key={event.id}>
                  <Table.Td>{event.seq ?? '…'}</Table.Td>
                  <Table.Td>{new Date(event.time).toLocaleString()}</Table.Td>
                  <Table.Td>
                    <Text size="sm" title={event.action}>
                      {describeEventAction(event.action, event.outcome)}
                    </Text>
                    <Text size="xs" c="dimmed">
                      {event.action}
                    </Text>
                  </Table.Td>
                  <Table.Td>{event.outcome}</Table.Td>
                  <Table.Td>{event.origin === 'application' ? 'Application' : 'Custodian'}</Table.Td>
                  <Table.Td>{actorWords(event)}</Table.Td>
                  <Table.Td>{event.target === null ? '—' : describeKind(event.target.type)}</Table.Td>
                  <Table.Td>
                    <RowAction
                      label={`Details of ${describeEventAction(event.action, event.outcome)} at ${new Date(event.time).toLocaleString()}`}
                      onClick={() => setSelected(event)}
                    >
                      Details
                    </RowAction>
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
            <LoadMore query={events} />
          </Stack>
        ) : null}
        {selected !== null ? <EventDetail orgId={orgId} event={selected} onClose={() => setSelected(null)} /> : null}
        {canExport ? <VerifyPanel orgId={orgId} /> : null}
      </Stack>
    </Container>
  )
}

/**
 * The Actor filter's choices: anyone, then the org's members by email (the value is the
 * user id the API filters on). An actor from the address that is not among them (a linked
 * service account, a former member) stays choosable, said for what it is.
 */
function actorChoices(
  members: readonly { userId: string; email: string }[],
  current: string,
): { value: string; label: string }[] {
  const choices = [
    { value: '', label: 'Anyone' },
    ...[...members].sort((a, b) => a.email.localeCompare(b.email)).map((m) => ({ value: m.userId, label: m.email })),
  ]
  if (current !== '' && !choices.some((c) => c.value === current))
    choices.push({ value: current, label: 'the actor this page was opened with (not a member)' })
  return choices
}
