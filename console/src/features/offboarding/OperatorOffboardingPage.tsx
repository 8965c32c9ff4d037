import type { ReactNode } from 'react'
import { Anchor, Button, Container, Group, Stack, Table, Text, Title } from '@mantine/core'
import { Link, useParams } from 'react-router'
import { Countdown } from '../../components/Countdown.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { saveFile } from '../../lib/download.ts'
import { when } from '../../lib/format.ts'
import { STATUS_LABELS, useOperatorOffboarding, type OperatorOffboarding } from './api.ts'
import './offboarding.css'

/**
 * One org's deletion, as operators see it: its state and times, who asked and who
 * cancelled; once completed, the rows erased per table, the signed certificate and the
 * receipt of its `org.offboarding.complete` event in the provider's log, each saved as a
 * file to hand to the former customer (`custodian verify-certificate` checks them offline).
 */
export function OperatorOffboardingPage() {
  const { offboardedOrgId = '' } = useParams()
  const found = useOperatorOffboarding(offboardedOrgId)
  const o = found.data
  return (
    <Container size="lg" py="md">
      <Anchor component={Link} to="/operator/offboardings" size="sm">
        All offboardings
      </Anchor>
      <Title order={1} mt="xs" mb="md">
        {o === undefined ? 'Offboarding' : `Offboarding of ${o.orgName}`}
      </Title>
      {found.isPending ? <PageLoader label="Loading the offboarding" /> : null}
      {found.isError ? <ProblemAlert error={found.error} title="You cannot see this offboarding" /> : null}
      {o !== undefined ? <Details offboarding={o} /> : null}
    </Container>
  )
}

function Details({ offboarding: o }: { offboarding: OperatorOffboarding }) {
  const erased = o.erased === null ? [] : Object.entries(o.erased)
  // `erased.rows`: the rows deleted per table (found from the schema), largest first.
  const rows = o.erased?.rows
  const tables = (typeof rows === 'object' && rows !== null ? Object.entries(rows as Record<string, number>) : [])
    .filter(([, n]) => n > 0)
    .sort(([, a], [, b]) => b - a)
  return (
    <Stack gap="lg">
      <Table aria-label="Offboarding" variant="vertical" withTableBorder>
        <Table.Tbody>
          <Row name="Org">
            {o.orgName} <span className="offboarding-id">({o.orgId})</span>
          </Row>
          <Row name="State">{STATUS_LABELS[o.status]}</Row>
          <Row name="Started">{when(o.requestedAt)}</Row>
          <Row name="Started by">
            <span className="offboarding-id">{o.requestedBy}</span>
          </Row>
          <Row name="Grace period ends">{when(o.scheduledFor)}</Row>
          {o.status === 'scheduled' ? (
            <Row name="Time left">
              <Countdown dueAt={o.scheduledFor} label={`Time left before ${o.orgName} is deleted`} />
            </Row>
          ) : null}
          {o.cancelledAt !== null ? <Row name="Cancelled">{when(o.cancelledAt)}</Row> : null}
          {o.completedAt !== null ? <Row name="Deleted">{when(o.completedAt)}</Row> : null}
          {o.auditEvent !== null ? (
            <Row name="Audit event">
              <span className="offboarding-id">
                {o.auditEvent.id} in the provider’s log ({o.auditEvent.org})
              </span>
            </Row>
          ) : null}
        </Table.Tbody>
      </Table>
      {erased.length > 0 ? (
        <Panel title="What was erased">
          <Stack gap="sm">
            <ListTable label="Erased" columns={['What', 'Count']}>
              {erased
                .filter(([, value]) => typeof value !== 'object')
                .map(([what, value]) => (
                  <Table.Tr key={what}>
                    <Table.Th scope="row" fw={500}>
                      {what}
                    </Table.Th>
                    <Table.Td>{String(value as string | number)}</Table.Td>
                  </Table.Tr>
                ))}
            </ListTable>
            {tables.length > 0 ? (
              <ListTable label="Rows erased per table" columns={['Table', 'Rows']}>
                {tables.map(([table, rows]) => (
                  <Table.Tr key={table}>
                    <Table.Th scope="row" fw={500}>
                      {table}
                    </Table.Th>
                    <Table.Td>{rows}</Table.Td>
                  </Table.Tr>
                ))}
              </ListTable>
            ) : null}
          </Stack>
        </Panel>
      ) : null}
      {o.certificate !== null ? (
        <Panel
          title="Certificate"
          description="Signed by the service’s key; hand it to the former customer with the receipt of its audit event."
        >
          <Stack gap="sm">
            <Text size="xs" className="offboarding-jws">
              {o.certificate}
            </Text>
            <Group>
              <Button
                variant="default"
                onClick={() =>
                  // The API's whole answer: `custodian verify-certificate --file` reads its
                  // `certificate` and `receipt` fields.
                  saveFile(JSON.stringify(o, null, 2), `offboarding-${o.orgId}.json`, 'application/json')
                }
              >
                Save certificate and receipt
              </Button>
              {o.receipt === null ? (
                <Text size="sm" c="dimmed">
                  No receipt yet: a signed checkpoint of the provider’s log does not cover the event yet.
                </Text>
              ) : null}
            </Group>
          </Stack>
        </Panel>
      ) : null}
    </Stack>
  )
}

function Row({ name, children }: { name: string; children: ReactNode }) {
  return (
    <Table.Tr>
      <Table.Th scope="row">{name}</Table.Th>
      <Table.Td>{children}</Table.Td>
    </Table.Tr>
  )
}
