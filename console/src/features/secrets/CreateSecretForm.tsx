import { useState, type SyntheticEvent } from 'react'
import { Button, NativeSelect, PasswordInput, Stack, TextInput, Textarea } from '@mantine/core'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
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
  const store = useAction()

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await store.run(async () => {
      const created = await create({ name, type, description, value })
      setValue('')
      setName('')
      setDescription('')
      onCreated(created.name)
    })
  }

  return (
    <Panel title="New secret">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ProblemAlert error={store.error} title="Not stored" />
          <TextInput
            label="Name"
            description="Unique in the org: letters, digits, . _ / -"
            required
            {...store.field('name', name, setName)}
          />
          <NativeSelect label="Type" data={TYPES} {...store.field('type', type, (t) => setType(t as SecretType))} />
          <Textarea
            label="Description"
            autosize
            minRows={1}
            {...store.field('description', description, setDescription)}
          />
          <PasswordInput label="Value" required autoComplete="off" {...store.field('value', value, setValue)} />
          <Button type="submit" loading={store.pending}>
            Store secret
          </Button>
        </Stack>
      </form>
    </Panel>
  )
}
