import { useState, type SyntheticEvent } from 'react'
import { Box, Button, Container, Group, NativeSelect, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { useAccessActions, useRoles, useServiceAccounts } from './api.ts'
import { ActionProblem, attempt, ConfirmDialog } from './ui.tsx'

/** Service accounts (non-human principals), a page at a time; create and delete them. */
export function ServiceAccountsPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const accounts = useServiceAccounts(orgId)
  const actions = useAccessActions(orgId)
  const [error, setError] = useState<unknown>(null)
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null)
  const all = accounts.data?.pages.flatMap((p) => p.serviceAccounts) ?? []

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Service accounts
      </Title>
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Box className="secrets-list">
          <Stack gap="sm">
            <ActionProblem error={error} fallback="Refused" />
            {accounts.isPending ? <PageLoader label="Loading service accounts" /> : null}
            {accounts.isError ? (
              <ProblemAlert error={accounts.error} title="You cannot list this org’s service accounts" />
            ) : null}
            {accounts.isSuccess && all.length === 0 ? <Text c="dimmed">No service accounts yet.</Text> : null}
            {all.length > 0 ? (
              <Table striped aria-label="Service accounts">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Name</Table.Th>
                    <Table.Th scope="col">Role</Table.Th>
                    <Table.Th scope="col">Created</Table.Th>
                    <Table.Th scope="col">Actions</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {all.map((a) => (
                    <Table.Tr key={a.id}>
                      <Table.Td>{a.name}</Table.Td>
                      <Table.Td>{a.role}</Table.Td>
                      <Table.Td>{new Date(a.createdAt).toLocaleString()}</Table.Td>
                      <Table.Td>
                        {canManage ? (
                          <Button
                            size="xs"
                            variant="default"
                            aria-label={`Delete service account ${a.name}`}
                            onClick={() => setDeleting({ id: a.id, name: a.name })}
                          >
                            Delete
                          </Button>
                        ) : null}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            ) : null}
            {accounts.hasNextPage ? (
              <Button
                variant="default"
                onClick={() => void accounts.fetchNextPage()}
                loading={accounts.isFetchingNextPage}
              >
                Load more
              </Button>
            ) : null}
          </Stack>
        </Box>
        <Box className="secrets-create">{canManage ? <CreateServiceAccountForm orgId={orgId} /> : null}</Box>
      </Group>
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this service account?"
        message={`${deleting?.name ?? ''} and every API token of it stop working at once.`}
        confirmLabel="Delete service account"
        onClose={() => setDeleting(null)}
        onConfirm={() => {
          const target = deleting
          if (target !== null) void attempt(setError, () => actions.deleteServiceAccount(target.id))
        }}
      />
    </Container>
  )
}

function CreateServiceAccountForm({ orgId }: { orgId: string }) {
  const actions = useAccessActions(orgId)
  const roles = useRoles(orgId)
  const roleNames = roles.data?.roles.map((r) => r.name) ?? []
  const [name, setName] = useState('')
  const [role, setRole] = useState('member')
  const [error, setError] = useState<unknown>(null)
  const problem = error instanceof ApiError ? error : undefined

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    if (await attempt(setError, () => actions.createServiceAccount(name, role))) setName('')
  }
  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="sa-create-title">
      <Title order={2} size="h4" id="sa-create-title" mb="sm">
        New service account
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} fallback="Not created" />
          <TextInput
            label="Service account name"
            description="Lower case letters, digits, . _ -"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={problem?.fieldError('name')}
          />
          <NativeSelect
            label="Role"
            data={roleNames.length > 0 ? roleNames : [role]}
            value={role}
            onChange={(e) => setRole(e.currentTarget.value)}
            error={problem?.fieldError('role')}
          />
          <Button type="submit">Create service account</Button>
        </Stack>
      </form>
    </Paper>
  )
}
