import { useMemo, useState } from 'react'
import { Anchor, Button, Container, Group, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { Link } from 'react-router'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { useOperatorOrgs } from './api.ts'
import { describeStatus } from '../../lib/describe.ts'
import { counted } from '../../lib/plural.ts'

const when = (iso: string | null) => (iso === null ? 'never' : new Date(iso).toLocaleString())
type Kind = 'any' | 'provider' | 'customer'

/**
 * The operators' overview (P2.7): every org Custodian serves, oldest first, 50 a page, with
 * its health figures — members, service accounts, its audit chain's head, last checkpoint,
 * events waiting to be chained and last event. Nothing inside any org. The API has no
 * filter parameters: the name search and the kind filter apply to the pages loaded, and say
 * so. Anyone but the provider's operators sees the API's refusal.
 */
export function OperatorPage() {
  const orgs = useOperatorOrgs()
  const [search, setSearch] = useState('')
  const [kind, setKind] = useState<Kind>('any')
  const all = useMemo(() => orgs.data?.pages.flatMap((p) => p.orgs) ?? [], [orgs.data])
  const needle = search.toLowerCase()
  const shown = all.filter(
    (o) => (needle === '' || o.name.toLowerCase().includes(needle)) && (kind === 'any' || o.kind === kind),
  )

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="xs">
        Operator overview
      </Title>
      <Text c="dimmed" size="sm" mb="md">
        Every org’s name and health figures, as operators may see them: nothing inside any org. Inside an org only with
        its approval:{' '}
        <Anchor component={Link} to="/operator/grants" underline="always">
          diagnostic access
        </Anchor>
        .
      </Text>
      <Group component="nav" aria-label="Operator pages" mb="md">
        <Anchor component={Link} to="/operator/grants">
          Diagnostic access
        </Anchor>
        <Anchor component={Link} to="/operator/vulnerability-reports">
          Vulnerability reports
        </Anchor>
        <Anchor component={Link} to="/operator/offboardings">
          Offboardings
        </Anchor>
        <Anchor component={Link} to="/operator/compliance">
          Compliance
        </Anchor>
      </Group>
      <Stack gap="sm">
        <ListStatus
          query={orgs}
          noun="orgs"
          refusal="You cannot see the orgs Custodian serves"
          empty={{ when: all.length === 0, text: 'No orgs.' }}
        />
        {all.length > 0 ? (
          <>
            <Group align="flex-end" gap="sm" role="group" aria-label="Filters">
              <TextInput
                label="Search by name"
                description={
                  orgs.hasNextPage
                    ? `Search and filter apply to the ${counted(all.length, 'org')} loaded so far; load more to search further.`
                    : `Search and filter apply to all ${counted(all.length, 'org')}.`
                }
                value={search}
                onChange={(e) => setSearch(e.currentTarget.value)}
              />
              <NativeSelect
                label="Kind"
                value={kind}
                onChange={(e) => setKind(e.currentTarget.value as Kind)}
                data={[
                  { value: 'any', label: 'Any kind' },
                  { value: 'provider', label: 'Provider' },
                  { value: 'customer', label: 'Customer' },
                ]}
              />
              <Button variant="default" onClick={() => void orgs.refetch()} loading={orgs.isRefetching}>
                Refresh
              </Button>
            </Group>
            {shown.length === 0 ? (
              <Text c="dimmed">No org matches.</Text>
            ) : (
              <Table striped highlightOnHover aria-label="Orgs">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Name</Table.Th>
                    <Table.Th scope="col">Kind</Table.Th>
                    <Table.Th scope="col">Region</Table.Th>
                    <Table.Th scope="col">Created</Table.Th>
                    <Table.Th scope="col">Members</Table.Th>
                    <Table.Th scope="col">Service accounts</Table.Th>
                    <Table.Th scope="col">Events chained</Table.Th>
                    <Table.Th scope="col">Waiting to chain</Table.Th>
                    <Table.Th scope="col">Last checkpoint</Table.Th>
                    <Table.Th scope="col">Last event</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {shown.map((o) => (
                    <Table.Tr key={o.id}>
                      <Table.Th scope="row" fw={500}>
                        {o.name}
                      </Table.Th>
                      <Table.Td>{describeStatus(o.kind)}</Table.Td>
                      <Table.Td>{o.region ?? 'None configured'}</Table.Td>
                      <Table.Td>{when(o.createdAt)}</Table.Td>
                      <Table.Td>{o.members}</Table.Td>
                      <Table.Td>{o.serviceAccounts}</Table.Td>
                      <Table.Td>{o.audit.headSeq}</Table.Td>
                      <Table.Td>{o.audit.unchained}</Table.Td>
                      <Table.Td>{when(o.audit.lastCheckpointAt)}</Table.Td>
                      <Table.Td>{when(o.audit.lastEventAt)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            )}
          </>
        ) : null}
        <LoadMore query={orgs} />
      </Stack>
    </Container>
  )
}
