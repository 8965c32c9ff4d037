import { useEffect, useRef, useState, type SyntheticEvent } from 'react'
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
import { PermissionName } from '../../components/PermissionScope.tsx'

/**
 * Built-in and custom roles, each with its permissions; a custom role editor drawing from
 * the permission catalog (each permission with its meaning) that creates a role or changes
 * one in place (its holders have the new set on their next request).
 */
export function RolesPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const roles = useRoles(orgId)
  const catalog = usePermissions()
  const actions = useAccessActions(orgId)
  const [deleting, setDeleting] = useState<string | null>(null)
  const [editing, setEditing] = useState<RoleView | null>(null)
  const [changed, setChanged] = useState<string | null>(null)
  const meaning = new Map(catalog.data?.permissions.map((p) => [p.name, p.description]) ?? [])

  return (
    <ListPage
      title="Roles"
      aside={
        canManage ? (
          <RoleEditor
            // A new editor for each role edited: its fields start from that role.
            key={editing?.name ?? ''}
            orgId={orgId}
            editing={editing}
            onDone={(saved) => {
              setEditing(null)
              setChanged(saved === undefined ? null : `The role ${saved} is changed.`)
            }}
            catalog={catalog.data?.permissions ?? []}
            catalogError={catalog.error}
          />
        ) : (
          <Text size="sm" c="dimmed">
            Creating, changing and deleting roles needs <PermissionName permission="roles:manage" />, which your role
            does not hold.
          </Text>
        )
      }
    >
      <Stack gap="sm">
        <Notice message={changed} />
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
                    <Group gap="xs" wrap="nowrap">
                      <RowAction
                        label={`Edit role ${role.name}`}
                        onClick={() => {
                          setChanged(null)
                          setEditing(role)
                        }}
                      >
                        Edit
                      </RowAction>
                      <RowAction label={`Delete role ${role.name}`} onClick={() => setDeleting(role.name)}>
                        Delete
                      </RowAction>
                    </Group>
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

interface RoleView {
  name: string
  description: string
  permissions: string[]
}

/**
 * The custom role editor: a name, a description, and permissions chosen from the catalog.
 * With `editing`, it changes that role in place (its name stays) and `onDone` ends editing.
 */
function RoleEditor({
  orgId,
  editing,
  onDone,
  catalog,
  catalogError,
}: {
  orgId: string
  editing: RoleView | null
  /** Editing ends: with the role's name once it is saved, without when cancelled. */
  onDone: (saved?: string) => void
  catalog: { name: string; description: string }[]
  catalogError: unknown
}) {
  const actions = useAccessActions(orgId)
  const [name, setName] = useState(editing?.name ?? '')
  const [description, setDescription] = useState(editing?.description ?? '')
  const [chosen, setChosen] = useState<string[]>(editing?.permissions ?? [])
  const create = useAction()
  const [created, setCreated] = useState<string | null>(null)
  // Editing starts at the role's description: the keyboard follows the "Edit" button here.
  const descriptionInput = useRef<HTMLInputElement>(null)
  useEffect(() => {
    if (editing !== null) descriptionInput.current?.focus()
  }, [editing])

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setCreated(null)
    await create.run(async () => {
      if (editing !== null) {
        await actions.updateRole(editing.name, { description, permissions: chosen })
        onDone(editing.name)
        return
      }
      const role = await actions.createRole({ name, description, permissions: chosen })
      setCreated(role.name)
      setName('')
      setDescription('')
      setChosen([])
    })
  }

  return (
    <Panel title={editing === null ? 'New custom role' : `Edit role ${editing.name}`}>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={create.error} title={editing === null ? 'Not created' : 'Not changed'} />
          <Notice message={created === null ? null : `The role ${created} is created.`} />
          {editing === null ? (
            <TextInput label="Role name" required {...create.field('name', name, setName)} />
          ) : (
            <Text size="sm">
              Its holders have the new permissions on their next request; the change is audited (role.update).
            </Text>
          )}
          <TextInput
            ref={descriptionInput}
            label="Role description"
            {...create.field('description', description, setDescription)}
          />
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
          <Group gap="sm">
            <Button type="submit">{editing === null ? 'Create role' : 'Save role'}</Button>
            {editing !== null ? (
              <Button variant="default" onClick={() => onDone()}>
                Cancel editing
              </Button>
            ) : null}
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}
