import { useState, type SyntheticEvent } from 'react'
import { Alert, Badge, Button, NativeSelect, NumberInput, Stack, Table, Text, TextInput } from '@mantine/core'
import { useParams } from 'react-router'
import { ConfirmItem } from '../../components/ConfirmDialog.tsx'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useAccessActions, useServiceAccounts, useTokens } from './api.ts'
import { PermissionScope } from '../../components/PermissionScope.tsx'
import { TokenShownOnce } from '../../components/TokenShownOnce.tsx'
import { SecretPathsInput, secretPathsOf } from './SecretPathsInput.tsx'

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
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null)
  const [issued, setIssued] = useState<{ name: string; token: string } | null>(null)
  const all = tokens.data?.pages.flatMap((p) => p.tokens) ?? []

  return (
    <ListPage title="API tokens" aside={canCreate ? <CreateTokenForm orgId={orgId} onIssued={setIssued} /> : null}>
      <Stack gap="sm">
        <ListStatus
          query={tokens}
          noun="API tokens"
          refusal="You cannot list this org’s API tokens"
          empty={{ when: all.length === 0, text: 'No API tokens yet.' }}
        />
        {all.length > 0 ? (
          <ListTable
            striped
            label="API tokens"
            columns={['Name', 'Holder', 'Expires', 'Last used', 'State', 'Actions']}
          >
            {all.map((t) => (
              <Table.Tr key={t.id}>
                <Table.Td>
                  <Text fw={500}>{t.name}</Text>
                  {t.scopes === null ? (
                    <Text size="xs" c="dimmed">
                      all of the holder’s permissions
                    </Text>
                  ) : (
                    <PermissionScope permissions={t.scopes} size="xs" />
                  )}
                  {t.secretPaths === null ? null : (
                    <Text size="xs" c="dimmed">
                      secrets: {t.secretPaths.join(', ')}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <Text size="sm">{t.holderName ?? 'a former member'}</Text>
                  <Text size="xs" c="dimmed">
                    {t.serviceAccountId !== null ? 'service account' : 'member'}
                  </Text>
                </Table.Td>
                <Table.Td>{new Date(t.expiresAt).toLocaleDateString()}</Table.Td>
                <Table.Td>{when(t.lastUsedAt)}</Table.Td>
                <Table.Td>
                  <Badge variant="outline" color="dark">
                    {t.revokedAt === null ? 'active' : 'revoked'}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  {canRevoke && t.revokedAt === null ? (
                    <RowAction label={`Revoke token ${t.name}`} onClick={() => setRevoking({ id: t.id, name: t.name })}>
                      Revoke
                    </RowAction>
                  ) : null}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={tokens} />
      </Stack>
      <Dialog open={issued !== null} title="Your new API token" onClose={() => setIssued(null)}>
        {issued !== null ? (
          <Stack gap="sm">
            <Alert variant="default" title="Shown once">
              Copy it now: it is not stored anywhere and cannot be shown again.
            </Alert>
            <TokenShownOnce label={`API token ${issued.name}`} token={issued.token}>
              <Button onClick={() => setIssued(null)}>Done</Button>
            </TokenShownOnce>
          </Stack>
        ) : null}
      </Dialog>
      <ConfirmItem
        item={revoking}
        onClose={() => setRevoking(null)}
        title="Revoke this token?"
        confirmLabel="Revoke token"
        text={(t) => `${t.name} stops working on its next use.`}
        onConfirm={(t) => actions.revokeToken(t.id)}
      />
    </ListPage>
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
  const [paths, setPaths] = useState('')
  const issue = useAction()
  const holders = [
    { value: '', label: 'Myself' },
    ...(accounts.data?.pages.flatMap((p) => p.serviceAccounts) ?? []).map((a) => ({
      value: a.id,
      label: `Service account ${a.name}`,
    })),
  ]

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await issue.run(async () => {
      const made = await actions.createToken({
        name,
        expiresInDays: Number(days),
        ...(holder === '' ? {} : { serviceAccountId: holder }),
        ...secretPathsOf(paths),
      })
      setName('')
      setPaths('')
      onIssued({ name: made.name, token: made.token })
    })
  }

  return (
    <Panel title="New API token">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={issue.error} title="Not issued" />
          <TextInput label="Token name" required {...issue.field('name', name, setName)} />
          <NumberInput
            label="Expires in (days)"
            min={1}
            max={3650}
            value={days}
            onChange={setDays}
            error={issue.problem?.fieldError('expiresInDays')}
          />
          <NativeSelect label="For" data={holders} {...issue.field('serviceAccountId', holder, setHolder)} />
          <SecretPathsInput field={issue.field('secretPaths', paths, setPaths)} />
          <Button type="submit">Issue token</Button>
        </Stack>
      </form>
    </Panel>
  )
}
