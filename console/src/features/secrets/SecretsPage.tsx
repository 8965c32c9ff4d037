import { useMemo, useState } from 'react'
import {
  Alert,
  Anchor,
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
} from '@mantine/core'
import { Link, useParams } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useSecrets } from './api.ts'
import { CreateSecretForm } from './CreateSecretForm.tsx'
import { StateBadges } from './StateBadges.tsx'

type Choice = 'any' | 'yes' | 'no'
const matches = (choice: Choice, flag: boolean) => choice === 'any' || (choice === 'yes') === flag

/**
 * The org's secrets (metadata only) with a create form. The API lists by name a page at a
 * time and has no filter parameters: the search box and the type, paused and exposed
 * filters apply to the pages loaded so far, and say so.
 */
export function SecretsPage({ canWrite }: { canWrite: boolean }) {
  const { orgId = '' } = useParams()
  const secrets = useSecrets(orgId)
  const [search, setSearch] = useState('')
  const [created, setCreated] = useState<string | null>(null)
  const all = useMemo(() => secrets.data?.pages.flatMap((p) => p.secrets) ?? [], [secrets.data])
  const [type, setType] = useState('any')
  const [paused, setPaused] = useState<Choice>('any')
  const [exposed, setExposed] = useState<Choice>('any')
  const needle = search.toLowerCase()
  const shown = all.filter(
    (s) =>
      (needle === '' || s.name.toLowerCase().includes(needle)) &&
      (type === 'any' || s.type === type) &&
      matches(paused, s.paused) &&
      matches(exposed, s.exposed),
  )

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Secrets
      </Title>
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Box className="secrets-list">
          {secrets.isPending ? <PageLoader label="Loading secrets" /> : null}
          {secrets.isError ? <ProblemAlert error={secrets.error} title="You cannot list this org’s secrets" /> : null}
          {secrets.isSuccess ? (
            <Stack gap="sm">
              <TextInput
                label="Search by name"
                description={
                  secrets.hasNextPage
                    ? `Search and filters apply to the ${all.length} secrets loaded so far; load more to search further.`
                    : `Search and filters apply to the ${all.length} secrets of this org.`
                }
                value={search}
                onChange={(e) => setSearch(e.currentTarget.value)}
              />
              <Group gap="sm" role="group" aria-label="Filters">
                <NativeSelect
                  label="Type"
                  value={type}
                  onChange={(e) => setType(e.currentTarget.value)}
                  data={[
                    { value: 'any', label: 'Any type' },
                    { value: 'api_key', label: 'API key' },
                    { value: 'generic', label: 'Generic' },
                    { value: 'database_credential', label: 'Database credential' },
                  ]}
                />
                <NativeSelect
                  label="Paused"
                  value={paused}
                  onChange={(e) => setPaused(e.currentTarget.value as Choice)}
                  data={[
                    { value: 'any', label: 'Paused or not' },
                    { value: 'yes', label: 'Paused' },
                    { value: 'no', label: 'Not paused' },
                  ]}
                />
                <NativeSelect
                  label="Exposed"
                  value={exposed}
                  onChange={(e) => setExposed(e.currentTarget.value as Choice)}
                  data={[
                    { value: 'any', label: 'Exposed or not' },
                    { value: 'yes', label: 'Exposed' },
                    { value: 'no', label: 'Not exposed' },
                  ]}
                />
              </Group>
              {created !== null ? (
                <Alert
                  color="green"
                  title="Secret stored"
                  role="status"
                  withCloseButton
                  closeButtonLabel="Dismiss"
                  onClose={() => setCreated(null)}
                >
                  {created} is stored (version 1).
                </Alert>
              ) : null}
              {shown.length === 0 ? (
                <Text c="dimmed">{all.length === 0 ? 'No secrets yet.' : 'No secret matches.'}</Text>
              ) : (
                <Table striped highlightOnHover aria-label="Secrets">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th scope="col">Name</Table.Th>
                      <Table.Th scope="col">Type</Table.Th>
                      <Table.Th scope="col">Version</Table.Th>
                      <Table.Th scope="col">Updated</Table.Th>
                      <Table.Th scope="col">State</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {shown.map((s) => (
                      <Table.Tr key={s.id}>
                        <Table.Td>
                          <Anchor component={Link} to={`/orgs/${orgId}/secrets/${s.id}`} fw={500}>
                            {s.name}
                          </Anchor>
                          {s.description === '' ? null : (
                            <Text size="xs" c="dimmed">
                              {s.description}
                            </Text>
                          )}
                        </Table.Td>
                        <Table.Td>{s.type}</Table.Td>
                        <Table.Td>{s.currentVersion}</Table.Td>
                        <Table.Td>{new Date(s.updatedAt).toLocaleString()}</Table.Td>
                        <Table.Td>
                          <StateBadges paused={s.paused} exposed={s.exposed} />
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              )}
              {secrets.hasNextPage ? (
                <Button
                  variant="light"
                  onClick={() => void secrets.fetchNextPage()}
                  loading={secrets.isFetchingNextPage}
                >
                  Load more
                </Button>
              ) : null}
            </Stack>
          ) : null}
        </Box>
        {canWrite ? (
          <Box className="secrets-create">
            <CreateSecretForm orgId={orgId} onCreated={setCreated} />
          </Box>
        ) : null}
      </Group>
    </Container>
  )
}
