import { useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Badge,
  Box,
  Button,
  Container,
  CopyButton,
  Group,
  NativeSelect,
  NumberInput,
  Paper,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { useParams } from 'react-router'
import { Dialog } from '../../components/Dialog.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { useAccessActions, useServiceAccounts, useTokens } from './api.ts'
import { ActionProblem, attempt, ConfirmDialog } from './ui.tsx'

/**
 * The org's API tokens (metadata only: the API keeps no token value), issue one, revoke
 * one. A new token's value is shown once, in a dialog: it lives in this page's state only
 * (never a URL, storage or the query cache) and is dropped when the dialog closes or the
 * page unmounts.
 */
export function TokensPage({ canCreate, canRevoke }: { canCreate: boolean; canRevoke: boolean }) {
  const { orgId = '' } = useParams()
  const tokens = useTokens(orgId)
  const actions = useAccessActions(orgId)
  const [error, setError] = useState<unknown>(null)
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null)
  const [issued, setIssued] = useState<{ name: string; token: string } | null>(null)
  const all = tokens.data?.pages.flatMap((p) => p.tokens) ?? []

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        API tokens
      </Title>
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Box className="secrets-list">
          <Stack gap="sm">
            <ActionProblem error={error} fallback="Refused" />
            {tokens.isPending ? <PageLoader label="Loading API tokens" /> : null}
            {tokens.isError ? (
              <ProblemAlert error={tokens.error} title="You cannot list this org’s API tokens" />
            ) : null}
            {tokens.isSuccess && all.length === 0 ? <Text c="dimmed">No API tokens yet.</Text> : null}
            {all.length > 0 ? (
              <Table striped aria-label="API tokens">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Name</Table.Th>
                    <Table.Th scope="col">Holder</Table.Th>
                    <Table.Th scope="col">Expires</Table.Th>
                    <Table.Th scope="col">Last used</Table.Th>
                    <Table.Th scope="col">State</Table.Th>
                    <Table.Th scope="col">Actions</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {all.map((t) => (
                    <Table.Tr key={t.id}>
                      <Table.Td>
                        <Text fw={500}>{t.name}</Text>
                        <Text size="xs" c="dimmed">
                          {t.scopes === null ? 'all of the holder’s permissions' : t.scopes.join(', ')}
                        </Text>
                      </Table.Td>
                      <Table.Td>{t.serviceAccountId !== null ? 'service account' : 'member'}</Table.Td>
                      <Table.Td>{new Date(t.expiresAt).toLocaleDateString()}</Table.Td>
                      <Table.Td>{t.lastUsedAt === null ? 'never' : new Date(t.lastUsedAt).toLocaleString()}</Table.Td>
                      <Table.Td>
                        {t.revokedAt === null ? (
                          <Badge variant="outline" color="dark">
                            active
                          </Badge>
                        ) : (
                          <Badge variant="outline" color="dark">
                            revoked
                          </Badge>
                        )}
                      </Table.Td>
                      <Table.Td>
                        {canRevoke && t.revokedAt === null ? (
                          <Button
                            size="xs"
                            variant="default"
                            aria-label={`Revoke token ${t.name}`}
                            onClick={() => setRevoking({ id: t.id, name: t.name })}
                          >
                            Revoke
                          </Button>
                        ) : null}
                      </Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            ) : null}
            {tokens.hasNextPage ? (
              <Button variant="default" onClick={() => void tokens.fetchNextPage()} loading={tokens.isFetchingNextPage}>
                Load more
              </Button>
            ) : null}
          </Stack>
        </Box>
        <Box className="secrets-create">
          {canCreate ? <CreateTokenForm orgId={orgId} onIssued={setIssued} /> : null}
        </Box>
      </Group>
      <Dialog open={issued !== null} title="Your new API token" onClose={() => setIssued(null)}>
        {issued !== null ? (
          <Stack gap="sm">
            <Alert variant="default" title="Shown once">
              Copy it now: it is not stored anywhere and cannot be shown again.
            </Alert>
            <TextInput label={`API token ${issued.name}`} readOnly value={issued.token} autoComplete="off" />
            <Group justify="flex-end">
              <CopyButton value={issued.token}>
                {({ copied, copy }) => (
                  <Button variant="default" onClick={copy}>
                    {copied ? 'Copied' : 'Copy token'}
                  </Button>
                )}
              </CopyButton>
              <Button onClick={() => setIssued(null)}>Done</Button>
            </Group>
          </Stack>
        ) : null}
      </Dialog>
      <ConfirmDialog
        open={revoking !== null}
        title="Revoke this token?"
        message={`${revoking?.name ?? ''} stops working on its next use.`}
        confirmLabel="Revoke token"
        onClose={() => setRevoking(null)}
        onConfirm={() => {
          const target = revoking
          if (target !== null) void attempt(setError, () => actions.revokeToken(target.id))
        }}
      />
    </Container>
  )
}

/**
 * Issues a token for oneself or for a service account. The value goes straight to the
 * page's dialog (onIssued), never into a cache.
 */
function CreateTokenForm({
  orgId,
  onIssued,
}: {
  orgId: string
  onIssued: (issued: { name: string; token: string }) => void
}) {
  const actions = useAccessActions(orgId)
  const accounts = useServiceAccounts(orgId)
  const [name, setName] = useState('')
  const [days, setDays] = useState<number | string>(90)
  const [holder, setHolder] = useState('')
  const [error, setError] = useState<unknown>(null)
  const problem = error instanceof ApiError ? error : undefined
  const holders = [
    { value: '', label: 'Myself' },
    ...(accounts.data?.pages.flatMap((p) => p.serviceAccounts) ?? []).map((a) => ({
      value: a.id,
      label: `Service account ${a.name}`,
    })),
  ]

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await attempt(setError, async () => {
      const made = await actions.createToken({
        name,
        expiresInDays: Number(days),
        ...(holder === '' ? {} : { serviceAccountId: holder }),
      })
      setName('')
      onIssued({ name: made.name, token: made.token })
    })
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="token-create-title">
      <Title order={2} size="h4" id="token-create-title" mb="sm">
        New API token
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} fallback="Not issued" />
          <TextInput
            label="Token name"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={problem?.fieldError('name')}
          />
          <NumberInput
            label="Expires in (days)"
            min={1}
            max={3650}
            value={days}
            onChange={setDays}
            error={problem?.fieldError('expiresInDays')}
          />
          <NativeSelect
            label="For"
            data={holders}
            value={holder}
            onChange={(e) => setHolder(e.currentTarget.value)}
            error={problem?.fieldError('serviceAccountId')}
          />
          <Button type="submit">Issue token</Button>
        </Stack>
      </form>
    </Paper>
  )
}
