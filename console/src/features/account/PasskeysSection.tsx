import { useState, type SyntheticEvent } from 'react'
import { Button, Group, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { api, unwrap } from '../../lib/api.ts'
import { when } from '../../lib/format.ts'
import { createPasskey, passkeysSupported, passkeyProblem } from '../../lib/webauthn.ts'
import { accountKeys, usePasskeys } from './api.ts'

/**
 * Passkeys: register (POST /v1/me/passkeys/registration/options, navigator.credentials
 * .create(), POST …/verify with a name), list, rename (PATCH), remove (DELETE). Registering
 * and removing are step-up actions: the global prompt asks for a second factor when due.
 */
export function PasskeysSection() {
  const passkeys = usePasskeys()
  const queryClient = useQueryClient()
  const [name, setName] = useState('')
  const add = useAction(passkeyProblem)
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: accountKeys.passkeys }),
      queryClient.invalidateQueries({ queryKey: accountKeys.twoFactor }),
    ])

  const register = async (event: SyntheticEvent) => {
    event.preventDefault()
    await add.run(async () => {
      const options = await unwrap(api.POST('/v1/me/passkeys/registration/options'))
      const response = await createPasskey(options)
      await unwrap(
        api.POST('/v1/me/passkeys/registration/verify', { body: { name: name.trim(), response: response as never } }),
      )
      setName('')
      await refresh()
    })
  }

  return (
    <Paper withBorder p="md" component="section" aria-labelledby="passkeys-title">
      <Stack>
        <Title order={2} size="h3" id="passkeys-title">
          Passkeys
        </Title>
        <Text size="sm">
          A passkey signs you in without a password (with your device’s PIN or biometrics), and is a second factor
          wherever a code is.
        </Text>
        <ListStatus query={passkeys} noun="passkeys" />
        {passkeys.data !== undefined && passkeys.data.passkeys.length === 0 ? (
          <Text size="sm" c="dimmed">
            No passkey yet.
          </Text>
        ) : null}
        {passkeys.data !== undefined && passkeys.data.passkeys.length > 0 ? (
          <ListTable label="Your passkeys" columns={['Name', 'Added', 'Last used', 'Actions']}>
            {passkeys.data.passkeys.map((p) => (
              <PasskeyRow key={p.id} passkey={p} onChanged={refresh} />
            ))}
          </ListTable>
        ) : null}
        {passkeysSupported() ? (
          <form onSubmit={(event) => void register(event)} noValidate aria-label="Add a passkey">
            <Stack gap="xs">
              <ProblemAlert error={add.error} field="name" />
              <Group align="flex-end">
                <TextInput
                  label="Passkey name"
                  description="For you to tell them apart, e.g. “work laptop”."
                  required
                  maxLength={100}
                  {...add.field('name', name, setName)}
                />
                <Button type="submit" loading={add.pending} disabled={name.trim() === ''}>
                  Add a passkey
                </Button>
              </Group>
            </Stack>
          </form>
        ) : (
          <Text size="sm">This browser does not offer passkeys (WebAuthn).</Text>
        )}
      </Stack>
    </Paper>
  )
}

function PasskeyRow({
  passkey,
  onChanged,
}: {
  passkey: { id: string; name: string; createdAt: string; lastUsedAt: string | null }
  onChanged: () => Promise<unknown>
}) {
  const [editing, setEditing] = useState(false)
  const [name, setName] = useState(passkey.name)
  const change = useAction()
  const params = { params: { path: { passkeyId: passkey.id } } }

  const rename = async (event: SyntheticEvent) => {
    event.preventDefault()
    await change.run(async () => {
      await unwrap(api.PATCH('/v1/me/passkeys/{passkeyId}', { ...params, body: { name: name.trim() } }))
      setEditing(false)
      void onChanged()
    })
  }
  // Removed, the row goes once the list is fetched again: the button spins until then.
  const remove = () =>
    change.run(async () => {
      await unwrap(api.DELETE('/v1/me/passkeys/{passkeyId}', params))
      await onChanged()
    })

  return (
    <Table.Tr>
      <Table.Td>
        {editing ? (
          <form onSubmit={(event) => void rename(event)} noValidate aria-label={`Rename ${passkey.name}`}>
            <Group gap="xs" align="flex-end">
              <TextInput label="New name" size="xs" required maxLength={100} {...change.field('name', name, setName)} />
              <Button type="submit" size="xs" loading={change.pending}>
                Save
              </Button>
              <Button size="xs" variant="default" onClick={() => setEditing(false)}>
                Cancel
              </Button>
            </Group>
          </form>
        ) : (
          passkey.name
        )}
        <ProblemAlert error={change.error} field="name" />
      </Table.Td>
      <Table.Td>{when(passkey.createdAt)}</Table.Td>
      <Table.Td>{when(passkey.lastUsedAt)}</Table.Td>
      <Table.Td>
        <Group gap="xs">
          <RowAction label={`Rename ${passkey.name}`} onClick={() => setEditing(true)} disabled={editing}>
            Rename
          </RowAction>
          <RowAction
            color="red"
            label={`Remove ${passkey.name}`}
            onClick={() => void remove()}
            loading={change.pending && !editing}
          >
            Remove
          </RowAction>
        </Group>
      </Table.Td>
    </Table.Tr>
  )
}
