import { useMemo } from 'react'
import { Button, Group, Table, Text } from '@mantine/core'
import { Countdown } from '../../components/Countdown.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { when } from '../../lib/format.ts'
import { TOLD, usePropagations, type Propagation } from './api.ts'

/**
 * The messages sent to recipients and not acknowledged yet (Art. 19): those past their
 * stop-processing deadline first, marked overdue in words, then those still within it, each
 * soonest deadline first, with the time left counted down. Each names its recipient, what it
 * told (withdrawal, objection, erasure) and the purposes — never the subject: the API keeps
 * no subject id on a message, and a recipient sees only a reference keyed for it.
 */
export function UnacknowledgedPanel({ orgId }: { orgId: string }) {
  const overdue = usePropagations(orgId, 'overdue')
  const pending = usePropagations(orgId, 'pending')
  const late = useMemo(() => overdue.data?.pages.flatMap((p) => p.propagations) ?? [], [overdue.data])
  const waiting = useMemo(() => pending.data?.pages.flatMap((p) => p.propagations) ?? [], [pending.data])
  const loaded = overdue.isSuccess && pending.isSuccess
  return (
    <Panel
      title="Unacknowledged propagations"
      description="Withdrawals, objections and erasures told to recipients that have not acknowledged yet: overdue first, then by deadline. Each that passes its deadline raises an alert (Alerts)."
    >
      <Group mb="sm">
        <Button
          variant="default"
          onClick={() => void Promise.all([overdue.refetch(), pending.refetch()])}
          loading={overdue.isRefetching || pending.isRefetching}
        >
          Refresh
        </Button>
      </Group>
      <ListStatus
        query={overdue.isError ? overdue : pending}
        noun="unacknowledged propagations"
        refusal="You cannot see this org’s propagations"
        empty={{ when: loaded && late.length + waiting.length === 0, text: 'Every recipient has acknowledged.' }}
      />
      {late.length + waiting.length > 0 ? (
        <ListTable
          label="Unacknowledged propagations"
          columns={['Recipient', 'Told of', 'Purposes', 'Queued', 'Deadline', 'Time left']}
        >
          {late.map((p) => (
            <Row key={p.id} propagation={p} overdue />
          ))}
          {waiting.map((p) => (
            <Row key={p.id} propagation={p} overdue={false} />
          ))}
        </ListTable>
      ) : null}
      <Group gap="sm" mt="sm">
        <LoadMore query={overdue} label="More overdue" />
        <LoadMore query={pending} label="More pending" />
      </Group>
    </Panel>
  )
}

function Row({ propagation: p, overdue }: { propagation: Propagation; overdue: boolean }) {
  return (
    <Table.Tr className={overdue ? 'consent-overdue' : undefined}>
      <Table.Th scope="row" fw={500}>
        {p.recipient}
        {overdue ? (
          <Text span fw={700} size="sm" ml={6}>
            Overdue
          </Text>
        ) : null}
      </Table.Th>
      <Table.Td>{TOLD[p.action]}</Table.Td>
      <Table.Td>{p.purposes.join(', ')}</Table.Td>
      <Table.Td>{when(p.createdAt)}</Table.Td>
      <Table.Td>{when(p.deadline)}</Table.Td>
      <Table.Td>
        <Countdown dueAt={p.deadline} label={`Time left for ${p.recipient} to acknowledge`} />
      </Table.Td>
    </Table.Tr>
  )
}
