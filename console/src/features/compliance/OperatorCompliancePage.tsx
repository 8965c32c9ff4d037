import { Anchor, Button, Container, Group, Stack, Table, Text, Title } from '@mantine/core'
import { Link } from 'react-router'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useOperatorCompliance } from './api.ts'
import { CheckCard } from './CheckCard.tsx'
import './compliance.css'

/**
 * The operators' compliance overview (issue 15; GET /v1/operator/compliance, orgs:list in the
 * provider org): the service's checks — with their history, kept in the provider org
 * (`providerOrgId`, the session's own) — and each org check with how many orgs pass, fail or
 * are not concerned, and the failing orgs by name (up to 20, as the API lists them): nothing
 * inside any org. Anyone else sees the API's refusal.
 */
export function OperatorCompliancePage({ providerOrgId }: { providerOrgId: string | undefined }) {
  const overview = useOperatorCompliance()
  const data = overview.data
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="xs">
        Operator compliance
      </Title>
      <Text size="sm" mb="md">
        The service’s own checks, and every org check across the orgs Custodian serves: counts and the names of the orgs
        where one fails, nothing inside them.{' '}
        <Anchor component={Link} to="/operator" underline="always">
          Back to the operator overview
        </Anchor>
        .
      </Text>
      <Stack gap="md">
        <ListStatus query={overview} noun="the compliance overview" refusal="You cannot see the service’s compliance" />
        {data === undefined ? null : (
          <>
            <Group justify="flex-end">
              <Button variant="default" onClick={() => void overview.refetch()} loading={overview.isRefetching}>
                Refresh
              </Button>
            </Group>
            <Panel
              title="The service’s checks"
              description="About the deployment as a whole (transport, the root key, row-level security, backups): evaluated in the provider org and shown to every org."
            >
              <Stack gap="xs">
                {data.service.length === 0 ? <Text c="dimmed">The service’s checks have not run yet.</Text> : null}
                {data.service.map((check) => (
                  <CheckCard key={check.check} check={check} historyOrgId={providerOrgId} headingOrder={3} />
                ))}
              </Stack>
            </Panel>
            <Panel
              title="Org checks across every org"
              description="How many orgs each check passes, fails or does not concern, from each org’s latest run; the orgs where it fails by name."
            >
              {data.orgChecks.length === 0 ? (
                <Text c="dimmed">No org has been evaluated yet.</Text>
              ) : (
                <ListTable
                  label="Org checks"
                  columns={['Check', 'Pass', 'Fail', 'Not applicable', 'Failing orgs']}
                  striped
                >
                  {data.orgChecks.map((c) => (
                    <Table.Tr key={c.check}>
                      <Table.Th scope="row" fw={400}>
                        <Text size="sm" fw={500}>
                          {c.title}
                        </Text>
                        <Text size="xs" c="dimmed">
                          {c.check}
                        </Text>
                      </Table.Th>
                      <Table.Td>{c.pass}</Table.Td>
                      <Table.Td>{c.fail}</Table.Td>
                      <Table.Td>{c.notApplicable}</Table.Td>
                      <Table.Td>
                        {c.failingOrgs.length === 0
                          ? 'none'
                          : `${c.failingOrgs.map((o) => o.name).join(', ')}${c.fail > c.failingOrgs.length ? ` and ${c.fail - c.failingOrgs.length} more` : ''}`}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </ListTable>
              )}
            </Panel>
          </>
        )}
      </Stack>
    </Container>
  )
}
