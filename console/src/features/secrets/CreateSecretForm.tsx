import { useState, type SyntheticEvent } from 'react'
import { Button, NativeSelect, Paper, PasswordInput, Stack, TextInput, Textarea, Title } from '@mantine/core'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { useCreateSecret, type SecretType } from './api.ts'

const TYPES: { value: SecretType; label: string }[] = [
  { value: 'generic', label: 'Generic' },
  { value: 'api_key', label: 'API key' },
]

/** Stores a new secret; the value lives in this form's state only and is cleared once stored. */
export function CreateSecretForm({ orgId, onCreated }: { orgId: string; onCreated: (name: string) => void }) {
  const create = useCreateSecret(orgId)
  const [name, setName] = useState('')
  const [type, setType] = useState<SecretType>('generic')
  const [description, setDescription] = useState('')
  const [value, setValue] = useState('')
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setError(null)
    try {
      const created = await create({ name, type, description, value })
      setValue('')
      setName('')
      setDescription('')
      onCreated(created.name)
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(false)
    }
  }
  const problem = error instanceof ApiError ? error : undefined

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="create-secret-title">
      <Title order={2} size="h4" id="create-secret-title" mb="sm">
        New secret
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ProblemAlert error={error} title="Not stored" />
          <TextInput
            label="Name"
            description="Unique in the org: letters, digits, . _ / -"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={problem?.fieldError('name')}
          />
          <NativeSelect
            label="Type"
            data={TYPES}
            value={type}
            onChange={(e) => setType(e.currentTarget.value as SecretType)}
            error={problem?.fieldError('type')}
          />
          <Textarea
            label="Description"
            autosize
            minRows={1}
            value={description}
            onChange={(e) => setDescription(e.currentTarget.value)}
            error={problem?.fieldError('description')}
          />
          <PasswordInput
            label="Value"
            required
            autoComplete="off"
            value={value}
            onChange={(e) => setValue(e.currentTarget.value)}
            error={problem?.fieldError('value')}
          />
          <Button type="submit" loading={pending}>
            Store secret
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}
