import { useMemo, useState, type SyntheticEvent } from 'react'
import { Alert, Button, NumberInput, Paper, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { TokenShownOnce } from '../../components/TokenShownOnce.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useConsentActions, useRecipients } from './api.ts'
import { UnacknowledgedPanel } from './UnacknowledgedPanel.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

/** The host a recipient's endpoint is on ("mailer.example:8443"): the path is not what a reader weighs. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host
  } catch {
    return url
  }
}

/** A stop-processing deadline in words: "72 hours (3 days)". */
export function hoursInWords(hours: number): string {
  const h = `${hours} ${hours === 1 ? 'hour' : 'hours'}`
  if (hours < 24 || hours % 24 !== 0) return h
  const days = hours / 24
  return `${h} (${days} ${days === 1 ? 'day' : 'days'})`
}

/**
 * The org's consent recipients (GDPR Art. 19; docs/consent.md#propagation-to-recipients):
 * the processors a purpose names, each told at its endpoint when a subject withdraws,
 * objects or is erased, and given a deadline to stop processing and acknowledge. Registered
 * here (consent:manage and a recent second factor: a new destination for the org's data);
 * the signing secret is shown once, in a dialog, and lives in this page's state only (never
 * a URL, storage or the query cache). Removing one a purpose still names is refused: the
 * API's refusal is shown in the dialog. Rotating a recipient's signing secret (step-up) asks
 * first, saying the old secret keeps signing for 24 hours, and shows the new one once, in
 * the same dialog as at registration. Below, the messages not yet acknowledged.
 */
export function RecipientsPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const recipients = useRecipients(orgId)
  const actions = useConsentActions(orgId)
  const list = useMemo(() => recipients.data?.pages.flatMap((p) => p.recipients) ?? [], [recipients.data])
  const [registered, setRegistered] = useState<{ name: string; secret: string; until?: string } | null>(null)
  const [rotating, setRotating] = useState<{ id: string; name: string } | null>(null)
  const [removing, setRemoving] = useState<{ id: string; name: string } | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  return (
    <Stack gap="md">
      <Stack gap="sm">
        <Title order={2} size="h4">
          Recipients
        </Title>
        <Text size="sm">
          Each is told, at its endpoint, of a withdrawal, an objection or an erasure touching a purpose that names it,
          and must stop processing and acknowledge within its deadline (Art. 19).
        </Text>
        <Notice title="Done" message={notice} onClose={() => setNotice(null)} />
        <ListStatus
          query={recipients}
          noun="recipients"
          refusal="You cannot see this org’s consent recipients"
          empty={{ when: list.length === 0, text: 'No recipient registered yet.' }}
        />
        {list.length > 0 ? (
          <ListTable
            label="Recipients"
            columns={[
              'Recipient',
              'Delivered to',
              'Must acknowledge within',
              'Acknowledgements',
              'Registered',
              canManage ? 'Actions' : null,
            ]}
          >
            {list.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Th scope="row" fw={500}>
                  {r.name}
                </Table.Th>
                <Table.Td className="consent-hash">{hostOf(r.url)}</Table.Td>
                <Table.Td>{hoursInWords(r.deadlineHours)}</Table.Td>
                <Table.Td>{r.publicKey === null ? 'by token' : 'by token, signed with its key'}</Table.Td>
                <Table.Td>{when(r.createdAt)}</Table.Td>
                {canManage ? (
                  <Table.Td>
                    {/* One above the other: side by side they overflow the list beside the form. */}
                    <Stack gap="xs" align="flex-start">
                      <RowAction
                        label={`Rotate signing secret of ${r.name}`}
                        onClick={() => setRotating({ id: r.id, name: r.name })}
                      >
                        Rotate signing secret
                      </RowAction>
                      <RowAction
                        color="red.9"
                        variant="outline"
                        label={`Remove the recipient ${r.name}`}
                        onClick={() => setRemoving({ id: r.id, name: r.name })}
                      >
                        Remove
                      </RowAction>
                    </Stack>
                  </Table.Td>
                ) : null}
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={recipients} />
      </Stack>
      {/* Below the list, not beside it: the list's actions need its width. */}
      {canManage ? (
        <RegisterRecipientForm
          orgId={orgId}
          onRegistered={(made) => {
            setNotice(null)
            setRegistered(made)
          }}
        />
      ) : recipients.isError ? undefined : (
        <Text c="dimmed" size="sm">
          Registering or removing a recipient needs <PermissionName permission="consent:manage" />, which your role does
          not hold.
        </Text>
      )}
      <UnacknowledgedPanel orgId={orgId} />

      <Dialog open={registered !== null} title="The recipient’s signing secret" onClose={() => setRegistered(null)}>
        {registered !== null ? (
          <Stack gap="sm">
            <Alert variant="default" title="Shown once">
              Each message to {registered.name} is signed with it (Standard Webhooks headers). Copy it now into the
              recipient’s receiver: this page does not show it again. It is kept in the org’s vault; it goes when the
              recipient is removed.
              {registered.until === undefined
                ? null
                : ` Until ${when(registered.until)}, messages are signed with the previous secret as well.`}
            </Alert>
            <TokenShownOnce
              label={`Signing secret of ${registered.name}`}
              token={registered.secret}
              copyLabel="Copy secret"
            >
              <Button onClick={() => setRegistered(null)}>Done</Button>
            </TokenShownOnce>
          </Stack>
        ) : null}
      </Dialog>
      <ConfirmDialog
        opened={rotating !== null}
        onClose={() => setRotating(null)}
        title={`Rotate the signing secret of ${rotating?.name ?? ''}?`}
        confirmLabel="Rotate signing secret"
        onConfirm={async () => {
          if (rotating === null) return
          const made = await actions.rotateRecipientSecret(rotating.id)
          setNotice(null)
          setRegistered({ name: made.name, secret: made.secret, until: made.previousSecretUntil })
        }}
      >
        A new signing secret replaces the current one and is shown once. For 24 hours every message is signed with both,
        so the recipient can switch to the new secret without refusing anything; after that only the new one signs.
      </ConfirmDialog>
      <ConfirmDialog
        opened={removing !== null}
        onClose={() => setRemoving(null)}
        title={`Remove the recipient ${removing?.name ?? ''}?`}
        confirmLabel="Remove recipient"
        danger
        onConfirm={async () => {
          if (removing === null) return
          await actions.removeRecipient(removing.id)
          setNotice(`The recipient ${removing.name} is removed; its signing secret is erased.`)
        }}
      >
        Nothing more is sent to it. A recipient a purpose still names cannot be removed: take it off those purposes
        first.
      </ConfirmDialog>
    </Stack>
  )
}

/**
 * Registers a recipient (consent:manage, a step-up action: the global prompt asks for the
 * second factor, so the form is on the page, not in a native modal dialog that would make
 * the prompt inert). The secret goes straight to the page's dialog, never into a cache.
 */
function RegisterRecipientForm({
  orgId,
  onRegistered,
}: {
  orgId: string
  onRegistered: (made: { name: string; secret: string }) => void
}) {
  const actions = useConsentActions(orgId)
  const action = useAction()
  const [name, setName] = useState('')
  const [url, setUrl] = useState('')
  const [hours, setHours] = useState<number | string>(72)
  const fieldError = (field: string) => action.problem?.fieldError(field)

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await action.run(async () => {
      const made = await actions.createRecipient({ name: name.trim(), url: url.trim(), deadlineHours: Number(hours) })
      setName('')
      setUrl('')
      setHours(72)
      onRegistered({ name: made.name, secret: made.secret })
    })
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="recipient-add-title">
      <Title order={2} size="h4" id="recipient-add-title" mb="sm">
        Register a recipient
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={action.error} title="Not registered" />
          <TextInput
            label="Recipient name"
            description="As purposes name it (e.g. Mailer Ltd); it cannot change later"
            required
            value={name}
            onChange={(e) => setName(e.currentTarget.value)}
            error={fieldError('name')}
          />
          <TextInput
            label="Endpoint URL"
            description="https:// only, no credentials in it; a private or local address is refused unless the server allows it"
            required
            type="url"
            value={url}
            onChange={(e) => setUrl(e.currentTarget.value)}
            error={fieldError('url')}
          />
          <NumberInput
            label="Must acknowledge within (hours)"
            description="From 1 to 8760 hours: past it, an unacknowledged message raises an alert"
            required
            min={1}
            max={8760}
            value={hours}
            onChange={setHours}
            error={fieldError('deadlineHours')}
          />
          <Button type="submit" loading={action.pending}>
            Register recipient
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}
