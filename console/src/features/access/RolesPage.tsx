import { useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Badge,
  Box,
  Button,
  Checkbox,
  Container,
  Group,
  Paper,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { useParams } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { useAccessActions, usePermissions, useRoles } from './api.ts'
import './access.css'
import { ActionProblem, attempt, ConfirmDialog } from './ui.tsx'

/**
 * Built-in and custom roles, each with its permissions; a custom role editor drawing from
 * the permission catalog (each permission with its meaning). The API creates and deletes
 * custom roles; it has no call to change one, so a change is a new role.
 */
export function RolesPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const roles = useRoles(orgId)
  const catalog = usePermissions()
  const actions = useAccessActions(orgId)
  const [error, setError] = useState<unknown>(null)
  const [deleting, setDeleting] = useState<string | null>(null)
  const meaning = new Map(catalog.data?.permissions.map((p) => [p.name, p.description]) ?? [])

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Roles
      </Title>
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Box className="secrets-list">
          <Stack gap="sm">
            <ActionProblem error={error} fallback="Refused" />
            {roles.isPending ? <PageLoader label="Loading roles" /> : null}
            {roles.isError ? <ProblemAlert error={roles.error} title="You cannot list this org’s roles" /> : null}
            {roles.isSuccess ? (
              <Table aria-label="Roles">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Role</Table.Th>
                    <Table.Th scope="col">Permissions</Table.Th>
                    <Table.Th scope="col">Actions</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {roles.data.roles.map((role) => (
                    <Table.Tr key={role.name}>
                      <Table.Td>
                        <Group gap="xs">
                          <Text fw={600}>{role.name}</Text>
                          <Badge variant="outline" color="dark">
                            {role.builtIn ? 'built-in' : 'custom'}
                          </Badge>
                        </Group>
                        <Text size="xs" c="dimmed">
                          {role.description}
                        </Text>
                      </Table.Td>
                      <Table.Td>
                        <details>
                          <summary>{role.permissions.length} permissions</summary>
                          <ul className="permission-list">
                            {role.permissions.map((p) => (
                              <li key={p}>
                                <Text span size="sm" ff="monospace">
                                  {p}
                                </Text>
                                {meaning.has(p) ? (
                                  <Text span size="xs" c="dimmed">
                                    {' '}
                                    — {meaning.get(p)}
                                  </Text>
                                ) : null}
                              </li>
                            ))}
                          </ul>
                        </details>
                      </Table.Td>
                      <Table.Td>
                        {canManage && !role.builtIn ? (
                          <Button
                            size="xs"
                            variant="default"
                            aria-label={`Delete role ${role.name}`}
                            onClick={() => setDeleting(role.name)}
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
          </Stack>
        </Box>
        <Box className="secrets-create">
          {canManage ? (
            <RoleEditor orgId={orgId} catalog={catalog.data?.permissions ?? []} catalogError={catalog.error} />
          ) : (
            <Text size="sm" c="dimmed">
              Creating and deleting roles needs the roles:manage permission, which your role does not hold.
            </Text>
          )}
        </Box>
      </Group>
      <ConfirmDialog
        open={deleting !== null}
        title="Delete this role?"
        message={`The custom role ${deleting ?? ''} is deleted (the API refuses while anyone holds it).`}
        confirmLabel="Delete role"
        onClose={() => setDeleting(null)}
        onConfirm={() => {
          const name = deleting
          if (name !== null) void attempt(setError, () => actions.deleteRole(name))
        }}
      />
    </Container>
  )
}

/** The custom role editor: a name, a description, and permissions chosen from the catalog. */
function RoleEditor({
  orgId,
  catalog,
  catalogError,
}: {
  orgId: string
  catalog: { name: string; description: string }[]
  catalogError: unknown
}) {
  const actions = useAccessActions(orgId)
  const [name, setName] = useState('')
  const [description, setDescription] = useState('')
  const [chosen, setChosen] = useState<string[]>([])
  const [error, setError] = useState<unknown>(null)
  const [created, setCreated] = useState<string | null>(null)
  const problem = error instanceof ApiError ? error : undefined

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setCreated(null)
    await attempt(setError, async () => {
      const role = await actions.createRole({ name, description, permissions: chosen })
      setCreated(role.name)
      setName('')
      setDescription('')
      setChosen([])
    })
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="role-editor-title">
      <Title order={2} size="h4" id="role-editor-title" mb="sm">
        New custom role
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} fallback="Not created" />
          {created !== null ? (
            <Alert color="blue" role="status">
              The role {created} is created.
            </Alert>
          ) : null}
          <TextInput
            label="Role name"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={problem?.fieldError('name')}
          />
          <TextInput
            label="Role description"
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
            error={problem?.fieldError('description')}
          />
          <ProblemAlert error={catalogError} title="The permission catalog is not readable" />
          <Checkbox.Group
            label="Permissions"
            description={`${chosen.length} chosen`}
            value={chosen}
            onChange={setChosen}
            error={problem?.fieldError('permissions')}
          >
            <Box className="permission-catalog">
              <Stack gap={6} mt="xs">
                {catalog.map((p) => (
                  <Checkbox key={p.name} value={p.name} label={p.name} description={p.description} />
                ))}
              </Stack>
            </Box>
          </Checkbox.Group>
          <Button type="submit">Create role</Button>
        </Stack>
      </form>
    </Paper>
  )
}
