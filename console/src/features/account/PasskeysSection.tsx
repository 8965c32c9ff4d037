import { useState, type SyntheticEvent } from 'react'
import { Button, Group, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError, api, unwrap } from '../../lib/api.ts'
import { createPasskey, passkeyErrorMessage, passkeysSupported } from '../../lib/webauthn.ts'
import { accountKeys, usePasskeys } from './api.ts'

const when = (iso: string | null) => (iso === null ? 'never' : new Date(iso).toLocaleString())

/**
 * Passkeys: register (POST /v1/me/passkeys/registration/options, navigator.credentials
 * .create(), POST …/verify with a name), list, rename (PATCH), remove (DELETE). Registering
 * and removing are step-up actions: the global prompt asks for a second factor when due.
 */
export function PasskeysSection() {
  const passkeys = usePasskeys()
  const queryClient = useQueryClient()
  const [name, setName] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const refresh = () =>
    Promise.all([
      queryClient.invalidateQueries({ queryKey: accountKeys.passkeys }),
      queryClient.invalidateQueries({ queryKey: accountKeys.twoFactor }),
    ])

  const register = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setError(null)
    try {
      const options = await unwrap(api.POST('/v1/me/passkeys/registration/options'))
      const response = await createPasskey(options)
      await unwrap(
        api.POST('/v1/me/passkeys/registration/verify', { body: { name: name.trim(), response: response as never } }),
      )
      setName('')
      await refresh()
    } catch (caught) {
      setError(caught instanceof DOMException ? new Error(passkeyErrorMessage(caught)) : caught)
    } finally {
      setPending(false)
    }
  }
  const problem = error instanceof ApiError ? error : undefined

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
        {passkeys.isPending ? <PageLoader label="Loading passkeys" /> : null}
        {passkeys.isError ? <ProblemAlert error={passkeys.error} /> : null}
        {passkeys.data !== undefined && passkeys.data.passkeys.length === 0 ? (
          <Text size="sm" c="dimmed">
            No passkey yet.
          </Text>
        ) : null}
        {passkeys.data !== undefined && passkeys.data.passkeys.length > 0 ? (
          <Table aria-label="Your passkeys">
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Name</Table.Th>
                <Table.Th scope="col">Added</Table.Th>
                <Table.Th scope="col">Last used</Table.Th>
                <Table.Th scope="col">Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {passkeys.data.passkeys.map((p) => (
                <PasskeyRow key={p.id} passkey={p} onChanged={() => void refresh()} />
              ))}
            </Table.Tbody>
          </Table>
        ) : null}
        {passkeysSupported() ? (
          <form onSubmit={(event) => void register(event)} noValidate aria-label="Add a passkey">
            <Stack gap="xs">
              {error !== null && problem?.fieldError('name') === undefined ? <ProblemAlert error={error} /> : null}
              <Group align="flex-end">
                <TextInput
                  label="Passkey name"
                  description="For you to tell them apart, e.g. “work laptop”."
                  required
                  maxLength={100}
                  value={name}
                  onChange={(e) => setName(e.currentTarget.value)}
                  error={problem?.fieldError('name')}
                />
                <Button type="submit" loading={pending} disabled={name.trim() === ''}>
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
  onChanged: () => void
}) {
  const [editing, setEditing] = useState(false)
  const [name, setName] = useState(passkey.name)
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const params = { params: { path: { passkeyId: passkey.id } } }

  const rename = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setError(null)
    try {
      await unwrap(api.PATCH('/v1/me/passkeys/{passkeyId}', { ...params, body: { name: name.trim() } }))
      setEditing(false)
      onChanged()
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(false)
    }
  }
  const remove = async () => {
    setPending(true)
    setError(null)
    try {
      await unwrap(api.DELETE('/v1/me/passkeys/{passkeyId}', params))
      onChanged()
    } catch (caught) {
      setError(caught)
      setPending(false)
    }
  }
  const problem = error instanceof ApiError ? error : undefined

  return (
    <Table.Tr>
      <Table.Td>
        {editing ? (
          <form onSubmit={(event) => void rename(event)} noValidate aria-label={`Rename ${passkey.name}`}>
            <Group gap="xs" align="flex-end">
              <TextInput
                label="New name"
                size="xs"
                required
                maxLength={100}
                value={name}
                onChange={(e) => setName(e.currentTarget.value)}
                error={problem?.fieldError('name')}
              />
              <Button type="submit" size="xs" loading={pending}>
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
        {error !== null && problem?.fieldError('name') === undefined ? <ProblemAlert error={error} /> : null}
      </Table.Td>
      <Table.Td>{when(passkey.createdAt)}</Table.Td>
      <Table.Td>{when(passkey.lastUsedAt)}</Table.Td>
      <Table.Td>
        <Group gap="xs">
          <Button
            size="xs"
            variant="default"
            aria-label={`Rename ${passkey.name}`}
            onClick={() => setEditing(true)}
            disabled={editing}
          >
            Rename
          </Button>
          <Button
            size="xs"
            variant="default"
            color="red"
            aria-label={`Remove ${passkey.name}`}
            onClick={() => void remove()}
            loading={pending && !editing}
          >
            Remove
          </Button>
        </Group>
      </Table.Td>
    </Table.Tr>
  )
}
