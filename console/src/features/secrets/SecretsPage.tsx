import { useMemo, useState } from 'react'
import { Alert, Badge, Box, Button, Container, Group, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useSecrets } from './api.ts'
import { CreateSecretForm } from './CreateSecretForm.tsx'

/**
 * The org's secrets (metadata only) with a create form. The API lists by name a page at a
 * time and has no name filter yet: the search box filters the pages loaded so far, and
 * says so.
 */
export function SecretsPage({ canWrite }: { canWrite: boolean }) {
  const { orgId = '' } = useParams()
  const secrets = useSecrets(orgId)
  const [search, setSearch] = useState('')
  const [created, setCreated] = useState<string | null>(null)
  const all = useMemo(() => secrets.data?.pages.flatMap((p) => p.secrets) ?? [], [secrets.data])
  const shown = search === '' ? all : all.filter((s) => s.name.toLowerCase().includes(search.toLowerCase()))

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
                    ? `Filters the ${all.length} secrets loaded so far; load more to search further.`
                    : `Filters the ${all.length} secrets of this org.`
                }
                value={search}
                onChange={(e) => setSearch(e.currentTarget.value)}
              />
              {created !== null ? (
                <Alert
                  color="green"
                  title="Secret stored"
                  role="status"
                  withCloseButton
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
                          <Text fw={500}>{s.name}</Text>
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
                          <Group gap={4}>
                            {s.paused ? <Badge color="yellow.9">paused</Badge> : null}
                            {s.exposed ? <Badge color="red.9">exposed</Badge> : null}
                            {!s.paused && !s.exposed ? <Badge color="green.9">active</Badge> : null}
                          </Group>
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
