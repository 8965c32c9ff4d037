import { useState } from 'react'
import { Button, Group, Paper, Stack, Table, Text, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { api, unwrap } from '../../lib/api.ts'
import { deviceName, when } from '../../lib/format.ts'
import { accountKeys, useMySessions } from './api.ts'

/**
 * Your browser sessions in this org (GET /v1/me/sessions), each but this one can be signed
 * out (DELETE /v1/me/sessions/{sessionId}). The API has no "all others" call: "Sign out all
 * other sessions" ends them one by one, and says which refused.
 */
export function SessionsSection({ orgId }: { orgId: string }) {
  const sessions = useMySessions(orgId)
  const queryClient = useQueryClient()
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState<string | null>(null)

  const end = async (ids: string[], key: string) => {
    setPending(key)
    setError(null)
    try {
      for (const sessionId of ids)
        await unwrap(api.DELETE('/v1/me/sessions/{sessionId}', { params: { path: { sessionId } } }))
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(null)
      await queryClient.invalidateQueries({ queryKey: accountKeys.sessions(orgId) })
    }
  }

  const list = sessions.data?.sessions ?? []
  const others = list.filter((s) => !s.current).map((s) => s.id)
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="sessions-title">
      <Stack>
        <Group justify="space-between">
          <Title order={2} size="h3" id="sessions-title">
            Sessions
          </Title>
          <Button
            variant="default"
            size="xs"
            disabled={others.length === 0}
            loading={pending === 'all'}
            onClick={() => void end(others, 'all')}
          >
            Sign out all other sessions
          </Button>
        </Group>
        <Text size="sm">Where you are signed in to this org, most recently used first.</Text>
        <ProblemAlert error={error} />
        <ListStatus query={sessions} noun="sessions" />
        {list.length > 0 ? (
          <ListTable
            label="Your sessions"
            columns={['Browser', 'IP address', 'Signed in', 'Last used', 'Expires', 'Actions']}
          >
            {list.map((s) => (
              <Table.Tr key={s.id}>
                <Table.Td>
                  <Text size="sm" lineClamp={2} title={s.userAgent ?? undefined}>
                    {deviceName(s.userAgent)}
                  </Text>
                </Table.Td>
                <Table.Td>{s.ip ?? 'unknown'}</Table.Td>
                <Table.Td>{when(s.createdAt)}</Table.Td>
                <Table.Td>{when(s.lastSeenAt)}</Table.Td>
                <Table.Td>{when(s.expiresAt)}</Table.Td>
                <Table.Td>
                  {s.current ? (
                    <Text size="sm" fw={600}>
                      This session
                    </Text>
                  ) : (
                    <RowAction
                      label={`Sign out the session of ${deviceName(s.userAgent)} from ${s.ip ?? 'an unknown address'} signed in ${when(s.createdAt)}`}
                      loading={pending === s.id}
                      onClick={() => void end([s.id], s.id)}
                    >
                      Sign out
                    </RowAction>
                  )}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        {sessions.data?.nextCursor != null ? (
          <Text size="sm" c="dimmed">
            Showing your 100 most recently used sessions.
          </Text>
        ) : null}
      </Stack>
    </Paper>
  )
}
