import { useState, type SyntheticEvent } from 'react'
import { Button, PasswordInput, Stack, Textarea } from '@mantine/core'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import type { SecretType, SecretValue } from './api.ts'

/**
 * Stores a new value as the next version (it becomes current; an exposed secret is
 * unblocked). The value lives in this form's state only, cleared once stored. A database
 * credential's value is its JSON object (host, port, database, user, password, sslmode).
 */
export function NewVersionForm({
  type,
  addVersion,
  onStored,
}: {
  type: SecretType
  addVersion: (value: SecretValue) => Promise<{ currentVersion: number }>
  onStored: (version: number) => void
}) {
  const [value, setValue] = useState('')
  const store = useAction()
  const json = type === 'database_credential'

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    let body: SecretValue = value
    if (json) {
      try {
        body = JSON.parse(value) as SecretValue
      } catch {
        store.setError(new Error('the value is not JSON: a database credential is an object (host, port, database, …)'))
        return
      }
    }
    await store.run(async () => {
      const view = await addVersion(body)
      setValue('')
      onStored(view.currentVersion)
    })
  }
  const bound = store.field('value', value, setValue)

  return (
    <Panel title="New version">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={store.error} title="Not stored" />
          {json ? (
            <Textarea
              label="New value (JSON)"
              required
              autosize
              minRows={3}
              autoComplete="off"
              spellCheck={false}
              {...bound}
            />
          ) : (
            <PasswordInput label="New value" required autoComplete="off" {...bound} />
          )}
          <Button type="submit" loading={store.pending}>
            Store new version
          </Button>
        </Stack>
      </form>
    </Panel>
  )
}
