import { useState, type SyntheticEvent } from 'react'
import { Button, Paper, PasswordInput, Stack, Textarea, Title } from '@mantine/core'
import { ApiError } from '../../lib/api.ts'
import { ActionProblem } from '../../components/ActionProblem.tsx'
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
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const json = type === 'database_credential'

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setError(null)
    let body: SecretValue = value
    if (json) {
      try {
        body = JSON.parse(value) as SecretValue
      } catch {
        setError(new Error('the value is not JSON: a database credential is an object (host, port, database, …)'))
        return
      }
    }
    setPending(true)
    try {
      const view = await addVersion(body)
      setValue('')
      onStored(view.currentVersion)
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(false)
    }
  }
  const problem = error instanceof ApiError ? error : undefined
  const fieldError = problem?.fieldError('value')

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="new-version-title">
      <Title order={2} size="h4" id="new-version-title" mb="sm">
        New version
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="Not stored" />
          {json ? (
            <Textarea
              label="New value (JSON)"
              required
              autosize
              minRows={3}
              autoComplete="off"
              spellCheck={false}
              value={value}
              onChange={(e) => setValue(e.currentTarget.value)}
              error={fieldError}
            />
          ) : (
            <PasswordInput
              label="New value"
              required
              autoComplete="off"
              value={value}
              onChange={(e) => setValue(e.currentTarget.value)}
              error={fieldError}
            />
          )}
          <Button type="submit" loading={pending}>
            Store new version
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}
