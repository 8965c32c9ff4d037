import { useMemo, useState, type SyntheticEvent } from 'react'
import { Button, Container, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListBeside } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { ApiError } from '../../lib/api.ts'
import { useTransitActions, useTransitKeys, type TransitKey } from './api.ts'
import { UseKeyPanel } from './UseKeyPanel.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

type Can = (permission: string) => boolean

const when = (iso: string | null) => (iso === null ? 'never' : new Date(iso).toLocaleString())

/**
 * Encryption as a service: the org's named keys (a page at a time), create one, rotate one
 * (after a confirmation), and encrypt, decrypt and rewrap with one. Each action is offered
 * only to a session holding its permission (transit:manage, transit:encrypt,
 * transit:decrypt); the list itself needs keys:read, and its refusal is shown as the API
 * answers it.
 */
export function TransitKeysPage({ can }: { can: Can }) {
  const { orgId = '' } = useParams()
  const keys = useTransitKeys(orgId)
  const actions = useTransitActions(orgId)
  const all = useMemo(() => keys.data?.pages.flatMap((p) => p.keys) ?? [], [keys.data])
  const [rotating, setRotating] = useState<TransitKey | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const canManage = can('transit:manage')
  const canUse = can('transit:encrypt') || can('transit:decrypt')

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="xs">
        Transit keys
      </Title>
      <Text c="dimmed" mb="md">
        Named keys your applications encrypt with, without ever holding them: a ciphertext names the key version that
        made it (<code>cst:v2:…</code>). Rotating a key makes a new version for new encryptions; older ciphertexts still
        decrypt, and rewrap moves them to the newest version.
      </Text>
      <ListBeside
        aside={
          canManage ? (
            <CreateTransitKeyForm
              create={actions.create}
              onCreated={(name) => setNotice(`Key ${name} is created (version 1).`)}
            />
          ) : (
            <Text size="sm" c="dimmed">
              Creating and rotating keys needs <PermissionName permission="transit:manage" />, which your role does not
              hold.
            </Text>
          )
        }
      >
        <Stack gap="sm">
          <Notice title="Done" message={notice} onClose={() => setNotice(null)} />
          <ListStatus
            query={keys}
            noun="transit keys"
            refusal="You cannot list this org’s transit keys"
            empty={{ when: keys.isSuccess && all.length === 0, text: 'No transit keys yet.' }}
          />
          {all.length > 0 ? (
            <ListTable
              striped
              label="Transit keys"
              columns={['Name', 'Current version', 'Created', 'Last rotated', canManage ? 'Actions' : null]}
            >
              {all.map((k) => (
                <Table.Tr key={k.name}>
                  <Table.Td fw={500}>{k.name}</Table.Td>
                  <Table.Td>{k.currentVersion}</Table.Td>
                  <Table.Td>{when(k.createdAt)}</Table.Td>
                  <Table.Td>{when(k.rotatedAt)}</Table.Td>
                  {canManage ? (
                    <Table.Td>
                      <RowAction label={`Rotate key ${k.name}`} onClick={() => setRotating(k)}>
                        Rotate
                      </RowAction>
                    </Table.Td>
                  ) : null}
                </Table.Tr>
              ))}
            </ListTable>
          ) : null}
          <LoadMore query={keys} />
        </Stack>
      </ListBeside>
      {canUse ? (
        <UseKeyPanel
          names={keys.isError ? null : all.map((k) => k.name)}
          canEncrypt={can('transit:encrypt')}
          canDecrypt={can('transit:decrypt')}
          actions={actions}
        />
      ) : (
        <Text size="sm" c="dimmed" mt="lg">
          Encrypting and rewrapping need <PermissionName permission="transit:encrypt" />, decrypting transit:decrypt:
          your role holds neither.
        </Text>
      )}
      <ConfirmDialog
        opened={rotating !== null}
        onClose={() => setRotating(null)}
        title={`Rotate ${rotating?.name ?? ''}?`}
        confirmLabel="Rotate key"
        onConfirm={async () => {
          if (rotating === null) return
          const rotated = await actions.rotate(rotating.name)
          setNotice(`Key ${rotated.name} is rotated: version ${rotated.currentVersion} is current.`)
        }}
      >
        {`New encryptions use version ${(rotating?.currentVersion ?? 0) + 1} at once. Ciphertexts of older versions still decrypt; rewrap moves them to the new version.`}
      </ConfirmDialog>
    </Container>
  )
}

/** Creates a named key (version 1). */
function CreateTransitKeyForm({
  create,
  onCreated,
}: {
  create: (name: string) => Promise<TransitKey>
  onCreated: (name: string) => void
}) {
  const [name, setName] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const problem = error instanceof ApiError ? error : undefined

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setError(null)
    try {
      const made = await create(name.trim())
      setName('')
      onCreated(made.name)
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(false)
    }
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="transit-create-title">
      <Title order={2} size="h4" id="transit-create-title" mb="sm">
        New transit key
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="Not created" />
          <TextInput
            label="Key name"
            description="Unique in the org: lower-case letters, digits, . _ - (up to 64)"
            required
            autoComplete="off"
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={problem?.fieldError('name')}
          />
          <Button type="submit" loading={pending}>
            Create key
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}
