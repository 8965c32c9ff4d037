import { useState, type SyntheticEvent } from 'react'
import { Badge, Box, Button, Checkbox, Group, Stack, Table, Text, TextInput } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmItem } from '../../components/ConfirmDialog.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { useAccessActions, usePermissions, useRoles } from './api.ts'
import './access.css'

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
  const [deleting, setDeleting] = useState<string | null>(null)
  const meaning = new Map(catalog.data?.permissions.map((p) => [p.name, p.description]) ?? [])

  return (
    <ListPage
      title="Roles"
      aside={
        canManage ? (
          <RoleEditor orgId={orgId} catalog={catalog.data?.permissions ?? []} catalogError={catalog.error} />
        ) : (
          <Text size="sm" c="dimmed">
            Creating and deleting roles needs the roles:manage permission, which your role does not hold.
          </Text>
        )
      }
    >
      <Stack gap="sm">
        <ListStatus query={roles} noun="roles" refusal="You cannot list this org’s roles" />
        {roles.isSuccess ? (
          <ListTable label="Roles" columns={['Role', 'Permissions', 'Actions']}>
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
                    <RowAction label={`Delete role ${role.name}`} onClick={() => setDeleting(role.name)}>
                      Delete
                    </RowAction>
                  ) : null}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
      </Stack>
      <ConfirmItem
        item={deleting}
        onClose={() => setDeleting(null)}
        title="Delete this role?"
        confirmLabel="Delete role"
        text={(name) => `The custom role ${name} is deleted (the API refuses while anyone holds it).`}
        onConfirm={actions.deleteRole}
      />
    </ListPage>
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
  const create = useAction()
  const [created, setCreated] = useState<string | null>(null)

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setCreated(null)
    await create.run(async () => {
      const role = await actions.createRole({ name, description, permissions: chosen })
      setCreated(role.name)
      setName('')
      setDescription('')
      setChosen([])
    })
  }

  return (
    <Panel title="New custom role">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={create.error} title="Not created" />
          <Notice message={created === null ? null : `The role ${created} is created.`} />
          <TextInput label="Role name" required {...create.field('name', name, setName)} />
          <TextInput label="Role description" {...create.field('description', description, setDescription)} />
          <ProblemAlert error={catalogError} title="The permission catalog is not readable" />
          <Checkbox.Group
            label="Permissions"
            description={`${chosen.length} chosen`}
            value={chosen}
            onChange={setChosen}
            error={create.problem?.fieldError('permissions')}
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
    </Panel>
  )
}
