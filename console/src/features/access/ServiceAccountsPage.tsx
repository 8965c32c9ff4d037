import { useEffect, useState, type SyntheticEvent } from 'react'
import { Button, Group, NativeSelect, Stack, Table, TextInput } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmItem } from '../../components/ConfirmDialog.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { useAccessActions, useRoles, useServiceAccounts } from './api.ts'
import { SecretPathsNote } from './SecretPathsNote.tsx'
import { SecretPathsInput, secretPathsOf } from './SecretPathsInput.tsx'

/**
 * Service accounts (non-human principals), a page at a time; create them, change a role
 * (their tokens follow on their next use) and delete them.
 */
export function ServiceAccountsPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const accounts = useServiceAccounts(orgId)
  const actions = useAccessActions(orgId)
  const roles = useRoles(orgId)
  const roleNames = roles.data?.roles.map((r) => r.name) ?? []
  const change = useAction()
  const [done, setDone] = useState<string | null>(null)
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null)
  const all = accounts.data?.pages.flatMap((p) => p.serviceAccounts) ?? []
  const changeRole = async (account: { id: string; name: string }, role: string) => {
    setDone(null)
    if (await change.run(() => actions.changeServiceAccountRole(account.id, role)))
      setDone(`${account.name} is now ${role}: its tokens carry that role’s permissions from their next use.`)
  }

  return (
    <ListPage title="Service accounts" aside={canManage ? <CreateServiceAccountForm orgId={orgId} /> : null}>
      <Stack gap="sm">
        <ActionProblem error={change.error} title="Role not changed" />
        <Notice message={done} onClose={() => setDone(null)} />
        <ListStatus
          query={accounts}
          noun="service accounts"
          refusal="You cannot list this org’s service accounts"
          empty={{ when: all.length === 0, text: 'No service accounts yet.' }}
        />
        {all.length > 0 ? (
          <ListTable striped label="Service accounts" columns={['Name', 'Role', 'Created', 'Actions']}>
            {all.map((a) => (
              <Table.Tr key={a.id}>
                <Table.Td>{a.name}</Table.Td>
                <Table.Td>
                  {canManage && roleNames.length > 0 ? (
                    <RoleChange account={a} roleNames={roleNames} onSave={(role) => void changeRole(a, role)} />
                  ) : (
                    a.role
                  )}
                  <SecretPathsNote paths={a.secretPaths} />
                </Table.Td>
                <Table.Td>{new Date(a.createdAt).toLocaleString()}</Table.Td>
                <Table.Td>
                  {canManage ? (
                    <RowAction
                      label={`Delete service account ${a.name}`}
                      onClick={() => setDeleting({ id: a.id, name: a.name })}
                    >
                      Delete
                    </RowAction>
                  ) : null}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={accounts} />
      </Stack>
      <ConfirmItem
        item={deleting}
        onClose={() => setDeleting(null)}
        title="Delete this service account?"
        confirmLabel="Delete service account"
        text={(a) => `${a.name} and every API token of it stop working at once.`}
        onConfirm={(a) => actions.deleteServiceAccount(a.id)}
      />
    </ListPage>
  )
}

/** A service account's role, with the roles the API offers, saved by its own button. */
function RoleChange({
  account,
  roleNames,
  onSave,
}: {
  account: { name: string; role: string }
  roleNames: string[]
  onSave: (role: string) => void
}) {
  const [role, setRole] = useState(account.role)
  useEffect(() => setRole(account.role), [account.role])
  const options = roleNames.includes(account.role) ? roleNames : [account.role, ...roleNames]
  return (
    <Group gap="xs" wrap="nowrap">
      <NativeSelect
        aria-label={`Role of ${account.name}`}
        data={options}
        value={role}
        onChange={(e) => setRole(e.currentTarget.value)}
        size="xs"
      />
      <Button
        size="xs"
        variant="default"
        aria-label={`Save role of ${account.name}`}
        disabled={role === account.role}
        onClick={() => onSave(role)}
      >
        Save role
      </Button>
    </Group>
  )
}

function CreateServiceAccountForm({ orgId }: { orgId: string }) {
  const actions = useAccessActions(orgId)
  const roles = useRoles(orgId)
  const roleNames = roles.data?.roles.map((r) => r.name) ?? []
  const [name, setName] = useState('')
  const [role, setRole] = useState('member')
  const [paths, setPaths] = useState('')
  const create = useAction()

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    if (await create.run(() => actions.createServiceAccount(name, role, secretPathsOf(paths)))) {
      setName('')
      setPaths('')
    }
  }
  return (
    <Panel title="New service account">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={create.error} title="Not created" />
          <TextInput
            label="Service account name"
            description="Lower case letters, digits, . _ -"
            required
            {...create.field('name', name, setName)}
          />
          <NativeSelect
            label="Role"
            data={roleNames.length > 0 ? roleNames : [role]}
            {...create.field('role', role, setRole)}
          />
          <SecretPathsInput field={create.field('secretPaths', paths, setPaths)} />
          <Button type="submit">Create service account</Button>
        </Stack>
      </form>
    </Panel>
  )
}
