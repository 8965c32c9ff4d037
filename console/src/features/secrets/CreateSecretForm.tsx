import { useState, type SyntheticEvent } from 'react'
import { Button, NativeSelect, PasswordInput, Stack, TextInput, Textarea } from '@mantine/core'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { useCreateSecret, type SecretType } from './api.ts'

const TYPES: { value: SecretType; label: string }[] = [
  { value: 'generic', label: 'Generic' },
  { value: 'api_key', label: 'API key' },
  { value: 'database_credential', label: 'Database credential' },
]
const SSL_MODES = ['require', 'verify-full', 'verify-ca', 'disable']

/** Stores a new secret; the value lives in this form's state only and is cleared once stored. */
export function CreateSecretForm({ orgId, onCreated }: { orgId: string; onCreated: (name: string) => void }) {
  const create = useCreateSecret(orgId)
  const [name, setName] = useState('')
  const [type, setType] = useState<SecretType>('generic')
  const [description, setDescription] = useState('')
  const [value, setValue] = useState('')
  // A database credential's fields; its password is `value`.
  const [host, setHost] = useState('')
  const [port, setPort] = useState('5432')
  const [database, setDatabase] = useState('')
  const [user, setUser] = useState('')
  const [sslmode, setSslmode] = useState('require')
  const store = useAction()
  const credential = type === 'database_credential'

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await store.run(async () => {
      const created = await create({
        name,
        type,
        description,
        value: credential
          ? {
              host: host.trim(),
              port: Number(port),
              database: database.trim(),
              user: user.trim(),
              password: value,
              sslmode: sslmode as 'require',
            }
          : value,
      })
      setValue('')
      setHost('')
      setDatabase('')
      setUser('')
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
          {credential ? (
            <>
              <TextInput label="Host" required {...store.field('value/host', host, setHost)} />
              <TextInput label="Port" required inputMode="numeric" {...store.field('value/port', port, setPort)} />
              <TextInput label="Database" required {...store.field('value/database', database, setDatabase)} />
              <TextInput label="User" required autoComplete="off" {...store.field('value/user', user, setUser)} />
              <PasswordInput
                label="Password"
                required
                autoComplete="new-password"
                {...store.field('value/password', value, setValue)}
              />
              <NativeSelect
                label="TLS (sslmode)"
                data={SSL_MODES}
                {...store.field('value/sslmode', sslmode, setSslmode)}
              />
            </>
          ) : (
            <PasswordInput label="Value" required autoComplete="off" {...store.field('value', value, setValue)} />
          )}
          <Button type="submit" loading={store.pending}>
            Store secret
          </Button>
        </Stack>
      </form>
    </Panel>
  )
}
