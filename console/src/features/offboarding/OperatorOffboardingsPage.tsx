import { useMemo, useState } from 'react'
import { Anchor, Button, Container, Group, NativeSelect, Stack, Table, Text, Title } from '@mantine/core'
import { Link } from 'react-router'
import { Countdown } from '../../components/Countdown.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { when } from '../../lib/format.ts'
import { STATUS_LABELS, useOperatorOffboardings } from './api.ts'
import './offboarding.css'
import { counted } from '../../lib/plural.ts'

type Shown = 'scheduled' | 'all'

/**
 * Operators (orgs:list): the orgs being deleted — each in its grace period, with the time
 * left — and, on "All", the cancelled and completed ones. The API has no status filter:
 * the filter applies to the pages loaded, and says so. Anyone else sees the API's refusal.
 */
export function OperatorOffboardingsPage() {
  const offboardings = useOperatorOffboardings()
  const [shown, setShown] = useState<Shown>('scheduled')
  const all = useMemo(() => offboardings.data?.pages.flatMap((p) => p.offboardings) ?? [], [offboardings.data])
  const rows = all.filter((o) => shown === 'all' || o.status === 'scheduled')

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="xs">
        Offboardings
      </Title>
      <Text c="dimmed" size="sm" mb="md">
        Orgs whose owners asked for their deletion. Each is deleted when its grace period ends, unless its owners cancel
        before; then its certificate is here, to hand over with its receipt.{' '}
        <Anchor component={Link} to="/operator" underline="always">
          Operator overview
        </Anchor>
      </Text>
      <Stack gap="sm">
        <ListStatus query={offboardings} noun="offboardings" refusal="You cannot see the orgs’ offboardings" />
        {offboardings.isSuccess ? (
          <Group align="flex-end" gap="sm" role="group" aria-label="Filters">
            <NativeSelect
              label="Show"
              description={
                offboardings.hasNextPage
                  ? `Applies to the ${counted(all.length, 'offboarding')} loaded so far; load more to see further.`
                  : `Applies to all ${counted(all.length, 'offboarding')}.`
              }
              value={shown}
              onChange={(e) => setShown(e.currentTarget.value as Shown)}
              data={[
                { value: 'scheduled', label: 'In progress' },
                { value: 'all', label: 'All (cancelled and completed too)' },
              ]}
            />
            <Button variant="default" onClick={() => void offboardings.refetch()} loading={offboardings.isRefetching}>
              Refresh
            </Button>
          </Group>
        ) : null}
        {offboardings.isSuccess && rows.length === 0 ? (
          <Text c="dimmed">{shown === 'scheduled' ? 'No offboarding in progress.' : 'No offboarding yet.'}</Text>
        ) : null}
        {rows.length > 0 ? (
          <ListTable
            striped
            label="Offboardings"
            columns={['Org', 'Started', 'Grace period ends', 'Time left', 'State']}
          >
            {rows.map((o) => (
              <Table.Tr key={o.orgId}>
                <Table.Th scope="row" fw={500}>
                  <Anchor component={Link} to={`/operator/offboardings/${o.orgId}`}>
                    {o.orgName}
                  </Anchor>
                  <Text size="xs" c="dimmed" className="offboarding-id">
                    {o.orgId}
                  </Text>
                </Table.Th>
                <Table.Td>{when(o.requestedAt)}</Table.Td>
                <Table.Td>{when(o.scheduledFor)}</Table.Td>
                <Table.Td>
                  {o.status === 'scheduled' ? (
                    <Countdown dueAt={o.scheduledFor} label={`Time left before ${o.orgName} is deleted`} />
                  ) : (
                    '—'
                  )}
                </Table.Td>
                <Table.Td>{STATUS_LABELS[o.status]}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={offboardings} />
      </Stack>
    </Container>
  )
}
