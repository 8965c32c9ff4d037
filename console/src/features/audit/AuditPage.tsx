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
import { useParams } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { NO_FILTERS, useAuditEvents, type AuditEvent, type AuditFilters } from './api.ts'
import { EventDetail } from './EventDetail.tsx'
import { VerifyPanel } from './VerifyPanel.tsx'
import './audit.css'

/** A datetime-local value (the browser's local time) as RFC 3339 UTC, or '' when empty. */
function toRfc3339(local: string): string {
  if (local === '') return ''
  const date = new Date(local)
  return Number.isNaN(date.getTime()) ? local : date.toISOString()
}

/** The org's audit log: filters, newest first a page at a time, one event's detail, export and verification. */
export function AuditPage({ canExport }: { canExport: boolean }) {
  const { orgId = '' } = useParams()
  const [form, setForm] = useState<AuditFilters>(NO_FILTERS)
  const [filters, setFilters] = useState<AuditFilters>(NO_FILTERS)
  const [selected, setSelected] = useState<AuditEvent | null>(null)
  const events = useAuditEvents(orgId, filters)
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

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="md">
        Audit log
      </Title>
      <Stack gap="lg">
        <Box component="form" onSubmit={apply} aria-label="Filter events">
          <Group align="flex-end" gap="sm" wrap="wrap">
            <TextInput
              label="Action"
              description="Exact, or a prefix: secret.*"
              value={form.action}
              onChange={set('action')}
              error={fieldError('action')}
            />
            <TextInput label="Actor id" value={form.actor} onChange={set('actor')} error={fieldError('actor')} />
            <TextInput label="Target id" value={form.target} onChange={set('target')} error={fieldError('target')} />
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
            <TextInput
              label="From"
              type="datetime-local"
              value={form.from}
              onChange={set('from')}
              error={fieldError('from')}
            />
            <TextInput label="To" type="datetime-local" value={form.to} onChange={set('to')} error={fieldError('to')} />
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

        {events.isPending ? <PageLoader label="Loading audit events" /> : null}
        {events.isError ? <ProblemAlert error={events.error} title="You cannot read this org’s audit log" /> : null}
        {events.isSuccess ? (
          <Stack gap="sm">
            {all.length === 0 ? (
              <Text c="dimmed">No event matches.</Text>
            ) : (
              <Table striped highlightOnHover aria-label="Audit events">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Seq</Table.Th>
                    <Table.Th scope="col">Time</Table.Th>
                    <Table.Th scope="col">Action</Table.Th>
                    <Table.Th scope="col">Outcome</Table.Th>
                    <Table.Th scope="col">Actor</Table.Th>
                    <Table.Th scope="col">Target</Table.Th>
                    <Table.Th scope="col">
                      <VisuallyHidden>Details</VisuallyHidden>
                    </Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {all.map((event) => (
                    <Table.Tr key={event.id}>
                      <Table.Td>{event.seq ?? '…'}</Table.Td>
                      <Table.Td>{new Date(event.time).toLocaleString()}</Table.Td>
                      <Table.Td>{event.action}</Table.Td>
                      <Table.Td>{event.outcome}</Table.Td>
                      <Table.Td>{event.actor.type}</Table.Td>
                      <Table.Td>{event.target === null ? '—' : event.target.type}</Table.Td>
                      <Table.Td>
                        <Button
                          size="xs"
                          variant="default"
                          aria-label={`Details of ${event.action} at ${event.time}`}
                          onClick={() => setSelected(event)}
                        >
                          Details
                        </Button>
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
            {events.hasNextPage ? (
              <Button variant="default" onClick={() => void events.fetchNextPage()} loading={events.isFetchingNextPage}>
                Load more
              </Button>
            ) : null}
          </Stack>
        ) : null}
        {selected !== null ? <EventDetail orgId={orgId} event={selected} onClose={() => setSelected(null)} /> : null}
        {canExport ? <VerifyPanel orgId={orgId} /> : null}
      </Stack>
    </Container>
  )
}
