import { useState, type SyntheticEvent } from 'react'
import { Button, Group, Stack, Table, Text, TextInput } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useOrgPeople } from '../../lib/people.ts'
import {
  ACTIONS,
  basisLabel,
  METHODS,
  REASONS,
  useConsentActions,
  usePurposeNames,
  useTimeline,
  type Objection,
  type Timeline,
  type TimelineEvent,
} from './api.ts'
import type { ConsentPermissions } from './ConsentPages.tsx'
import { DecideForm } from './DecideForm.tsx'
import { PurposeCell } from './PurposeCell.tsx'
import { ReceiptDialog } from './ReceiptDialog.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

/**
 * Who acted: the subject, or staff or a system, and who recorded it — a member by email
 * (`emails`: user id → email, the org's members), a service account or token in words;
 * never a bare principal id where a person can be named.
 */
function actorOf(e: TimelineEvent, emails: ReadonlyMap<string, string>): string {
  const named = (id: string) => emails.get(id) ?? id
  const who =
    e.actor.type === 'subject' ? 'the subject' : `${e.actor.type}${e.actor.id === null ? '' : ` ${named(e.actor.id)}`}`
  const [kind, id = ''] = e.recordedBy.split(':', 2)
  const recorder =
    kind === 'user'
      ? (emails.get(id) ?? 'a member')
      : kind === 'service_account'
        ? 'a service account'
        : kind === 'token'
          ? 'an API token'
          : e.recordedBy
  return `${who} (recorded by ${recorder})`
}

/**
 * One data subject's consent (GDPR Art. 7(1): the controller shows consent was given):
 * looked up by the subject's id, sent in a request body and kept in this page's memory —
 * never in the address, the history or browser storage. Shows each event, the current
 * state per purpose as a check would answer it, and the objections; withdraws in one step
 * on the subject's behalf (consent:record) and decides objections (consent:manage).
 */
export function SubjectPage({ can }: { can: ConsentPermissions }) {
  const { orgId = '' } = useParams()
  const [input, setInput] = useState('')
  const [subject, setSubject] = useState<string | null>(null)
  const timeline = useTimeline(orgId, subject)
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    // The same subject again: ask again (its events may have changed since).
    if (input.trim() === subject) void timeline.refetch()
    else setSubject(input.trim())
  }
  return (
    <Stack gap="md">
      <Panel
        title="Find a data subject"
        description="By the host application’s id of the subject. The id is sent in the request’s body and never stored in clear."
      >
        <form onSubmit={submit} noValidate>
          <Group align="flex-end" gap="sm" wrap="wrap">
            <TextInput
              label="Subject id"
              required
              maxLength={200}
              autoComplete="off"
              value={input}
              onChange={(event) => setInput(event.currentTarget.value)}
            />
            <Button type="submit" disabled={input.trim() === ''} loading={timeline.isFetching}>
              Show timeline
            </Button>
          </Group>
        </form>
      </Panel>
      {subject === null ? null : (
        <>
          <ListStatus
            query={timeline}
            noun="the subject’s consent"
            refusal="You cannot see this org’s consent records"
          />
          {timeline.data !== undefined ? (
            <SubjectView orgId={orgId} subject={subject} data={timeline.data} can={can} />
          ) : null}
        </>
      )}
    </Stack>
  )
}

function SubjectView({
  orgId,
  subject,
  data,
  can,
}: {
  orgId: string
  subject: string
  data: Timeline
  can: ConsentPermissions
}) {
  const actions = useConsentActions(orgId)
  const purposeName = usePurposeNames(orgId)
  const withdraw = useAction()
  const [notice, setNotice] = useState<string | null>(null)
  const [deciding, setDeciding] = useState<Objection | null>(null)
  const [receiptOf, setReceiptOf] = useState<TimelineEvent | null>(null)
  const people = useOrgPeople(orgId)
  const emails = new Map((people.data?.members ?? []).map((m) => [m.userId, m.email]))
  if (!data.known)
    return (
      <Text role="status">
        Nothing is recorded for this subject in this org: no consent event, so every check answers not allowed.
      </Text>
    )
  return (
    <Stack gap="md">
      {data.restricted ? (
        <Text role="status">Processing of this subject is restricted (Art. 18): every check answers not allowed.</Text>
      ) : null}
      {data.erased ? (
        <Text role="status">This subject was erased: the evidence no longer opens and no earlier consent counts.</Text>
      ) : null}
      <Panel
        title="Current state per purpose"
        description="What a check before processing answers now, purpose by purpose."
      >
        <Stack gap="sm">
          <Notice title="Recorded" message={notice} onClose={() => setNotice(null)} />
          <ActionProblem error={withdraw.error} title="Not withdrawn" />
          <ListTable
            label="Current state per purpose"
            columns={[
              'Purpose',
              'Lawful basis',
              'Check answers',
              'Notice',
              'Expires',
              'Since',
              can.record ? 'Actions' : null,
            ]}
          >
            {data.states.map((s) => (
              <Table.Tr key={s.purpose}>
                <Table.Th scope="row" fw={500}>
                  <PurposeCell purpose={s.purpose} name={purposeName(s.purpose)} />
                </Table.Th>
                <Table.Td>{basisLabel(s.lawfulBasis)}</Table.Td>
                <Table.Td>
                  <Text span fw={700} size="sm">
                    {s.allowed ? 'Allowed' : 'Not allowed'}:
                  </Text>{' '}
                  {REASONS[s.reason] ?? s.reason}
                </Table.Td>
                <Table.Td>{s.noticeVersion === null ? '—' : `v${s.noticeVersion}`}</Table.Td>
                <Table.Td>{s.expiresAt === null ? '—' : when(s.expiresAt)}</Table.Td>
                <Table.Td>{when(s.updatedAt)}</Table.Td>
                {can.record ? (
                  <Table.Td>
                    {s.state === 'granted' ? (
                      <RowAction
                        label={`Withdraw consent to ${purposeName(s.purpose)}`}
                        disabled={withdraw.pending}
                        onClick={() => {
                          setNotice(null)
                          void withdraw
                            .run(() => actions.withdraw(`console-${crypto.randomUUID()}`, subject, s.purpose))
                            .then((done) => {
                              if (done)
                                setNotice(`Consent to ${purposeName(s.purpose)} is withdrawn, on behalf by staff.`)
                            })
                        }}
                      >
                        Withdraw
                      </RowAction>
                    ) : null}
                  </Table.Td>
                ) : null}
              </Table.Tr>
            ))}
          </ListTable>
          {can.record ? null : (
            <Text c="dimmed" size="sm">
              Withdrawing on a subject’s behalf needs <PermissionName permission="consent:record" />, which your role
              does not hold.
            </Text>
          )}
        </Stack>
      </Panel>
      <Panel
        title="Objections"
        description="Art. 21: decided within one month, upheld or rejected with recorded grounds."
      >
        {data.objections.length === 0 ? (
          <Text c="dimmed">No objection.</Text>
        ) : (
          <Stack gap="sm">
            <ListTable
              label="Objections"
              columns={['Purpose', 'Opened', 'Due', 'Status', 'Grounds', can.manage ? 'Actions' : null]}
            >
              {data.objections.map((o) => (
                <Table.Tr key={o.id}>
                  <Table.Th scope="row" fw={500}>
                    <PurposeCell purpose={o.purpose} name={purposeName(o.purpose)} />
                  </Table.Th>
                  <Table.Td>{when(o.openedAt)}</Table.Td>
                  <Table.Td>{when(o.dueAt)}</Table.Td>
                  <Table.Td>{o.status}</Table.Td>
                  <Table.Td>{o.grounds ?? '—'}</Table.Td>
                  {can.manage ? (
                    <Table.Td>
                      {o.status === 'pending' ? (
                        <RowAction
                          label={`Decide the objection to ${purposeName(o.purpose)}`}
                          onClick={() => setDeciding(o)}
                        >
                          Decide
                        </RowAction>
                      ) : null}
                    </Table.Td>
                  ) : null}
                </Table.Tr>
              ))}
            </ListTable>
            {can.manage ? null : (
              <Text c="dimmed" size="sm">
                Deciding an objection needs <PermissionName permission="consent:manage" />, which your role does not
                hold.
              </Text>
            )}
          </Stack>
        )}
      </Panel>
      <Panel
        title="Events"
        description={`Every consent event, newest first${data.truncated ? ' (the newest 200 only)' : ''}; each is also an event of the audit log.`}
      >
        <ListTable
          label="Consent events"
          striped
          columns={['Received', 'Collected', 'Purpose', 'Action', 'Method', 'Notice', 'Actor', 'Receipt']}
        >
          {data.events.map((e) => (
            <Table.Tr key={e.id}>
              <Table.Td>{when(e.receivedAt)}</Table.Td>
              <Table.Td>{when(e.collectedAt)}</Table.Td>
              <Table.Td>{purposeName(e.purpose)}</Table.Td>
              <Table.Td>
                {ACTIONS[e.action] ?? e.action}
                {e.gpcConflict ? ' (conflicts with a GPC signal)' : ''}
              </Table.Td>
              <Table.Td>{METHODS[e.method] ?? e.method}</Table.Td>
              <Table.Td>{e.noticeVersion === null ? '—' : `v${e.noticeVersion}`}</Table.Td>
              <Table.Td>{actorOf(e, emails)}</Table.Td>
              <Table.Td>
                <RowAction label={`Receipt of ${eventWords(e, purposeName)}`} onClick={() => setReceiptOf(e)}>
                  Receipt
                </RowAction>
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      </Panel>
      <ReceiptDialog
        eventId={receiptOf?.id ?? null}
        what={receiptOf === null ? '' : eventWords(receiptOf, purposeName)}
        onClose={() => setReceiptOf(null)}
      />
      <Dialog
        open={deciding !== null}
        title={`Decide the objection to ${deciding === null ? '' : purposeName(deciding.purpose)}`}
        onClose={() => setDeciding(null)}
      >
        {deciding !== null ? (
          <DecideForm
            onCancel={() => setDeciding(null)}
            decide={async (decision, grounds) => {
              await actions.decide(deciding.id, decision, grounds)
              setDeciding(null)
              setNotice(`The objection to ${purposeName(deciding.purpose)} is ${decision}.`)
            }}
          />
        ) : null}
      </Dialog>
    </Stack>
  )
}

/** An event in a few words, for its receipt's names: "Newsletter: consent given, 3/12/2026, 10:04:00". */
function eventWords(e: TimelineEvent, purposeName: (key: string) => string): string {
  return `${purposeName(e.purpose)}: ${(ACTIONS[e.action] ?? e.action).toLowerCase()}, ${when(e.collectedAt)}`
}
