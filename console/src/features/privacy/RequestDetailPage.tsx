import { useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Anchor,
  Button,
  Container,
  Group,
  NativeSelect,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { useNow } from '../../components/Countdown.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { describeDetails } from '../../lib/describe.ts'
import { saveFile } from '../../lib/download.ts'
import {
  fetchExport,
  usePeople,
  usePrivacyActions,
  useRequest,
  useSubjectRecords,
  type Correction,
  type DataRecord,
  type PrivacyRequest,
  type RequestStatus,
} from './api.ts'
import { actorName, isOverdue, KIND_LABELS, pretty, RequestClock, StatusBadge, when } from './ui.tsx'
import './privacy.css'
import { counted } from '../../lib/plural.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

/** What the session may do here, as GET /v1/me lists it; the API still decides every call. */
export interface RequestPermissions {
  manage: boolean
  export: boolean
}

/**
 * One data-subject request: its subject, kind, clock, requester, identity verification,
 * assignee and history; recording the verification, assigning it to a member, completing
 * it as its kind asks (access → the export, downloaded as a file; rectify with the
 * corrections; erase → the subject's salt, shown once, then the certificate; restrict;
 * lift) and rejecting it with a reason.
 */
export function RequestDetailPage({ can }: { can: RequestPermissions }) {
  const { orgId = '', requestId = '' } = useParams()
  const request = useRequest(orgId, requestId)
  const people = usePeople(orgId)
  const data = request.data
  // The request's own answer names its people; the members list adds those it can be assigned to.
  const names = new Map([
    ...(people.data?.members ?? []).map((m): [string, string] => [m.userId, m.email]),
    ...Object.entries(data?.people ?? {}),
  ])
  // A notice tells of the request as an action left it (`status`, when the action moves it):
  // once the request moves on (an erasure's certificate issued), the request's state is told.
  const [notice, setNotice] = useState<{ text: string; status: RequestStatus | null } | null>(null)
  const say = (text: string, status: RequestStatus | null = null) => setNotice({ text, status })
  const shown =
    notice === null || data === undefined
      ? null
      : notice.status === null || notice.status === data.status
        ? notice.text
        : stateNotice(data)
  // The erased subject's salt: in this page's memory only, gone when the page is left.
  const [salt, setSalt] = useState<string | null>(null)
  const active = data !== undefined && (data.status === 'open' || data.status === 'in_progress')
  return (
    <Container size="xl" py="md">
      <Anchor component={Link} to={`/orgs/${orgId}/privacy-requests`} size="sm">
        All privacy requests
      </Anchor>
      <Group justify="space-between" align="flex-start" mt="xs" mb="xs">
        <Title order={1}>{data === undefined ? 'Privacy request' : `Privacy request: ${KIND_LABELS[data.kind]}`}</Title>
        {data === undefined ? null : <StatusBadge status={data.status} />}
      </Group>
      <Stack gap="md">
        <ListStatus query={request} noun="the privacy request" refusal="You cannot see this privacy request" />
        <Notice message={shown} onClose={() => setNotice(null)} />
        {salt === null ? null : <SaltPanel salt={salt} />}
        {data === undefined ? null : (
          <>
            <Facts request={data} names={names} orgId={orgId} />
            <ResultPanel request={data} orgId={orgId} canExport={can.export} />
            {active && can.manage && data.status === 'open' ? (
              <Group align="flex-start" gap="md" wrap="wrap">
                <Stack gap="md" className="privacy-main">
                  <CompletePanel
                    request={data}
                    orgId={orgId}
                    onDone={(message, subjectSalt, status) => {
                      say(message, status)
                      if (subjectSalt !== undefined) setSalt(subjectSalt)
                    }}
                  />
                </Stack>
                <Stack gap="md" className="privacy-side">
                  <VerifyPanel request={data} orgId={orgId} onDone={say} />
                  <AssignPanel key={data.assignee ?? ''} request={data} orgId={orgId} people={people} onDone={say} />
                </Stack>
              </Group>
            ) : null}
            {active && !can.manage ? (
              <Text size="sm" c="dimmed">
                Handling a request needs <PermissionName permission="privacy:manage" />, which your role does not hold.
              </Text>
            ) : null}
            <HistoryPanel request={data} names={names} />
          </>
        )}
      </Stack>
    </Container>
  )
}

function Facts({ request, names, orgId }: { request: PrivacyRequest; names: Map<string, string>; orgId: string }) {
  const now = useNow()
  const requester = request.requester ?? {}
  const verification = request.verification
  const text = (value: unknown) => (typeof value === 'string' ? value : '')
  return (
    <Table aria-label="Request" variant="vertical" withTableBorder>
      <Table.Tbody>
        <Table.Tr>
          <Table.Th scope="row">Subject</Table.Th>
          <Table.Td className="privacy-value">
            {request.subjectId ?? 'erased (the request’s own copy of the subject id is gone too)'}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Kind</Table.Th>
          <Table.Td>{KIND_LABELS[request.kind]}</Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Requester</Table.Th>
          <Table.Td>
            {request.requester === null
              ? '—'
              : [
                  text(requester.name),
                  text(requester.email),
                  text(requester.channel) && `via ${text(requester.channel)}`,
                ]
                  .filter((part) => part !== '')
                  .join(', ') || '—'}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Received</Table.Th>
          <Table.Td>{when(request.receivedAt)}</Table.Td>
        </Table.Tr>
        <Table.Tr className={isOverdue(request, now) ? 'privacy-overdue' : undefined}>
          <Table.Th scope="row">Due</Table.Th>
          <Table.Td>
            <Stack gap={2}>
              <Text size="sm">{when(request.dueAt)}</Text>
              <RequestClock request={request} overdue={isOverdue(request, now)} />
            </Stack>
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Identity verification</Table.Th>
          <Table.Td>
            {verification === null ? (
              'not recorded yet: needed before the request can be completed'
            ) : (
              <>
                <Text size="sm">
                  {text(verification.method)}, recorded {when(text(verification.verifiedAt) || null)} by{' '}
                  {actorName(text(verification.verifiedBy), names)}
                </Text>
                {text(verification.note) === '' ? null : <Text size="sm">Note: {text(verification.note)}</Text>}
              </>
            )}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Assignee</Table.Th>
          <Table.Td>
            {request.assignee === null ? 'nobody' : (names.get(request.assignee) ?? request.assignee)}
          </Table.Td>
        </Table.Tr>
        {request.completedAt === null ? null : (
          <Table.Tr>
            <Table.Th scope="row">{request.status === 'rejected' ? 'Rejected' : 'Completed'}</Table.Th>
            <Table.Td>{when(request.completedAt)}</Table.Td>
          </Table.Tr>
        )}
        {typeof request.result?.erasedBy === 'string' ? (
          <Table.Tr>
            <Table.Th scope="row">Erased by</Table.Th>
            <Table.Td>
              <Anchor component={Link} to={`/orgs/${orgId}/privacy-requests/${request.result.erasedBy}`}>
                the earlier erase request
              </Anchor>
            </Table.Td>
          </Table.Tr>
        ) : null}
        {typeof request.result?.certificate === 'string' ? (
          <Table.Tr>
            <Table.Th scope="row">Certificate</Table.Th>
            <Table.Td>
              <Anchor component={Link} to={`/orgs/${orgId}/erasure-certificates/${request.result.certificate}`}>
                Open the erasure certificate
              </Anchor>
            </Table.Td>
          </Table.Tr>
        ) : null}
      </Table.Tbody>
    </Table>
  )
}

/** The subject's salt, as the erasure answered it: shown here once, never stored. */
function SaltPanel({ salt }: { salt: string }) {
  return (
    <Panel
      title="The subject’s salt — shown once"
      description="Hand it to the data subject with the certificate: with their id, it proves the certificate names them. Custodian keeps neither the subject id nor the salt, and this page forgets it when you leave."
    >
      <TextInput label="Subject salt" readOnly value={salt} spellCheck={false} className="privacy-salt" />
    </Panel>
  )
}

/** What completing did: the export to download, the corrections, the erasure's counts, the rejection's reason. */
function ResultPanel({ request, orgId, canExport }: { request: PrivacyRequest; orgId: string; canExport: boolean }) {
  const result = request.result
  const exportId = request.exportId ?? (typeof result?.export === 'string' ? result.export : undefined)
  if (request.status === 'rejected')
    return (
      <Panel title="Rejected">
        <Text size="sm">Reason: {typeof result?.reason === 'string' ? result.reason : '—'}</Text>
      </Panel>
    )
  if (result === null) return null
  if (request.kind === 'access' && exportId !== undefined)
    return <ExportPanel orgId={orgId} exportId={exportId} canExport={canExport} />
  if (request.kind === 'erase') {
    const records = (result.records ?? {}) as Record<string, number>
    const count = (value: unknown) => (typeof value === 'number' ? value : 0)
    const total = Object.values(records).reduce((a, b) => a + Number(b), 0)
    return (
      <Panel title="Erasure">
        <Stack gap={4}>
          <Text size="sm">
            Erased {when(typeof result.erasedAt === 'string' ? result.erasedAt : null)}: {counted(total, 'record')}
            {total > 0
              ? ` (${Object.entries(records)
                  .map(([c, n]) => `${c}: ${n}`)
                  .join(', ')})`
              : ''}
            , {count(result.auditPersonalFields)} personal fields of audit events, {count(result.exports)} exports; the
            subject’s key is shredded; {count(result.webhooks)} erasure webhooks told.
          </Text>
          {request.status === 'in_progress' ? (
            <Text size="sm" role="status">
              The certificate is issued once every erasure webhook has confirmed or been given up and the key that
              sealed the subject’s key in earlier database copies is destroyed. This page checks again every few
              seconds.
            </Text>
          ) : null}
        </Stack>
      </Panel>
    )
  }
  if (request.kind === 'rectify' && Array.isArray(result.rectified))
    return (
      <Panel title="Rectified">
        <Text size="sm">
          {counted(result.rectified.length, 'record')} corrected: {result.rectified.map(String).join(', ')}
        </Text>
      </Panel>
    )
  if (typeof result.restricted === 'boolean')
    return (
      <Panel title={result.restricted ? 'Restricted' : 'Restriction lifted'}>
        <Text size="sm">
          {result.restricted
            ? 'Reads, changes and new records of this subject are refused until a request to lift the restriction is completed.'
            : 'The subject’s records can be read, changed and added again.'}
        </Text>
      </Panel>
    )
  return null
}

/** The access export: downloaded with the session (never a link with a token), saved as a file. */
function ExportPanel({ orgId, exportId, canExport }: { orgId: string; exportId: string; canExport: boolean }) {
  const { run, pending, error } = useAction()
  const [saved, setSaved] = useState<string | null>(null)
  const download = async () => {
    setSaved(null)
    const name = `subject-export-${exportId}.json`
    if (await run(async () => saveFile(await fetchExport(orgId, exportId), name, 'application/json')))
      setSaved(`Saved as ${name}. The download is recorded in the audit log with where it went.`)
  }
  return (
    <Panel
      title="Access export"
      description="Everything held about the subject: its records and the personal fields of its audit events. It can be downloaded until it expires; each download is audited."
    >
      <Stack gap="sm">
        <ActionProblem error={error} title="The export was not downloaded" />
        <Notice message={saved} onClose={() => setSaved(null)} />
        {canExport ? (
          <Group>
            <Button onClick={() => void download()} loading={pending}>
              Download the export
            </Button>
          </Group>
        ) : (
          <Text size="sm" c="dimmed">
            Downloading the export needs <PermissionName permission="privacy:export" />, which your role does not hold.
          </Text>
        )}
      </Stack>
    </Panel>
  )
}

function VerifyPanel({
  request,
  orgId,
  onDone,
}: {
  request: PrivacyRequest
  orgId: string
  onDone: (message: string) => void
}) {
  const actions = usePrivacyActions(orgId)
  const { run, pending, error, field } = useAction()
  const [method, setMethod] = useState('')
  const [note, setNote] = useState('')
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    const body = { method: method.trim(), ...(note.trim() === '' ? {} : { note: note.trim() }) }
    if (await run(() => actions.verify(request.id, body))) {
      setMethod('')
      setNote('')
      onDone('The identity verification is recorded.')
    }
  }
  return (
    <Panel
      title="Identity verification"
      description={
        request.verification === null
          ? 'How the requester’s identity was checked: needed before the request is completed.'
          : 'Recorded already; record it again to replace it.'
      }
    >
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="The verification was not recorded" />
          <TextInput
            label="Method"
            description="e.g. signed-in-account, email-link, document"
            required
            maxLength={100}
            {...field('method', method, setMethod)}
          />
          <Textarea
            label="Note"
            description="Stored sealed with the subject’s key."
            maxLength={1000}
            autosize
            minRows={2}
            {...field('note', note, setNote)}
          />
          <Group>
            <Button type="submit" variant="default" loading={pending} disabled={method.trim() === ''}>
              Record verification
            </Button>
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}

function AssignPanel({
  request,
  orgId,
  people,
  onDone,
}: {
  request: PrivacyRequest
  orgId: string
  people: ReturnType<typeof usePeople>
  onDone: (message: string) => void
}) {
  const actions = usePrivacyActions(orgId)
  const { run, pending, error } = useAction()
  const [userId, setUserId] = useState(request.assignee ?? '')
  const members = people.data?.members ?? []
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    const email = members.find((m) => m.userId === userId)?.email ?? userId
    if (await run(() => actions.assign(request.id, userId))) onDone(`Assigned to ${email}.`)
  }
  return (
    <Panel title="Assignee" description="Told 12 hours before the deadline, and daily once it is overdue.">
      <ProblemAlert error={people.error} title="You cannot list the org’s members to choose one" />
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="The request was not assigned" />
          <NativeSelect
            label="Member"
            data={[
              { value: '', label: 'Choose a member' },
              ...members.map((m) => ({ value: m.userId, label: m.email })),
            ]}
            value={userId}
            onChange={(event) => setUserId(event.currentTarget.value)}
          />
          <Group>
            <Button
              type="submit"
              variant="default"
              loading={pending}
              disabled={userId === '' || userId === request.assignee}
            >
              Assign
            </Button>
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}

/** A request's state in a notice, once it has moved on from what an action's notice told. */
function stateNotice(request: PrivacyRequest): string | null {
  if (request.kind === 'erase' && request.status === 'completed')
    return 'Erased, and the erasure certificate is issued: open it from the request’s facts below.'
  return null
}

/** Completing an erase request whose subject another erasure erased. */
const ALREADY_ERASED = {
  button: 'Complete: erased already',
  title: 'Record this request as fulfilled?',
  text: 'The subject was erased by another request; this one is completed by naming that erasure and its certificate.',
  done: 'Completed: the subject had been erased already; the earlier erasure and its certificate are linked below.',
}

const COMPLETE_TEXT: Record<PrivacyRequest['kind'], { button: string; title: string; text: string; done: string }> = {
  access: {
    button: 'Complete: build the export',
    title: 'Build the subject’s export?',
    text: 'Everything held about the subject — its records and the personal fields of its audit events — is gathered into an export sealed with the subject’s key, downloadable by those with privacy:export until it expires.',
    done: 'Completed: the export is ready to download.',
  },
  rectify: {
    button: 'Complete with these corrections',
    title: 'Apply the corrections?',
    text: 'Each corrected record’s content is replaced by what you entered, and the request is completed.',
    done: 'Completed: the corrections are applied.',
  },
  erase: {
    button: 'Complete: erase the subject',
    title: 'Erase this subject everywhere?',
    text: 'The subject’s records, the personal fields of its audit events, its exports and the personal data of its requests are deleted and its key is shredded; every erasure webhook is told. This cannot be undone. The subject’s salt is shown once, next: keep it for the data subject.',
    done: 'Erased. The certificate follows under Erasure certificates once every erasure webhook has answered or run out of retries, and the subject’s key is destroyed in older copies of the database too (about a minute after the erasure).',
  },
  restrict: {
    button: 'Complete: restrict processing',
    title: 'Restrict processing of this subject?',
    text: 'Reads, changes and new records of the subject are refused until a request to lift the restriction is completed.',
    done: 'Completed: processing of the subject is restricted.',
  },
  lift_restriction: {
    button: 'Complete: lift the restriction',
    title: 'Lift the restriction on this subject?',
    text: 'The subject’s records can be read, changed and added again.',
    done: 'Completed: the restriction is lifted.',
  },
}

/** Complete as the kind asks (a rectification with its corrections), or reject with a reason. */
function CompletePanel({
  request,
  orgId,
  onDone,
}: {
  request: PrivacyRequest
  orgId: string
  onDone: (message: string, salt?: string, status?: RequestStatus) => void
}) {
  const actions = usePrivacyActions(orgId)
  const [confirming, setConfirming] = useState(false)
  const [rejecting, setRejecting] = useState(false)
  const [reason, setReason] = useState('')
  const [corrections, setCorrections] = useState<Correction[]>([])
  // The subject was erased by another request (this one's copy of its id went with it).
  const erased = request.subjectId === null
  const texts = erased && request.kind === 'erase' ? ALREADY_ERASED : COMPLETE_TEXT[request.kind]
  const verified = request.verification !== null
  return (
    <Panel
      title="Complete or reject"
      description={
        verified
          ? 'Completing does what the request asks, at once.'
          : 'Record how the requester’s identity was verified first: the API refuses to complete a request without it.'
      }
    >
      <Stack gap="sm">
        {erased ? (
          <Alert color="yellow" role="note" title="The subject was erased already">
            {request.kind === 'erase'
              ? 'Another erase request erased this subject: completing this one records that it is fulfilled and links that erasure’s certificate. No new salt is made.'
              : 'Another erase request erased this subject: nothing of it is left to act on. Reject this request, giving that as the reason.'}
          </Alert>
        ) : null}
        {request.kind === 'rectify' && request.subjectId !== null ? (
          <Corrections orgId={orgId} subjectId={request.subjectId} onChange={setCorrections} />
        ) : null}
        <Group gap="sm">
          <Button
            color={request.kind === 'erase' && !erased ? 'red.9' : undefined}
            onClick={() => setConfirming(true)}
            disabled={(request.kind === 'rectify' && corrections.length === 0) || (erased && request.kind !== 'erase')}
          >
            {texts.button}
          </Button>
          <Button variant="default" onClick={() => setRejecting(true)}>
            Reject
          </Button>
        </Group>
      </Stack>
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title={texts.title}
        confirmLabel={texts.button.replace('Complete: ', '').replace(/^./, (c) => c.toUpperCase())}
        danger={request.kind === 'erase' && !erased}
        onConfirm={async () => {
          const done = await actions.complete(request.id, request.kind === 'rectify' ? corrections : undefined)
          onDone(texts.done, done.subjectSalt, done.status)
        }}
      >
        <Text size="sm">{texts.text}</Text>
        {request.kind === 'rectify' ? (
          <Text size="sm">
            {`${counted(corrections.length, 'record')} ${corrections.length === 1 ? 'is' : 'are'} corrected.`}
          </Text>
        ) : null}
      </ConfirmDialog>
      <ConfirmDialog
        opened={rejecting}
        onClose={() => {
          setRejecting(false)
          setReason('')
        }}
        title="Reject this request?"
        confirmLabel="Reject request"
        danger
        disabled={reason.trim().length < 3}
        onConfirm={async () => {
          await actions.reject(request.id, reason.trim())
          setReason('')
          onDone('Rejected: the reason is kept with the request.')
        }}
      >
        <Text size="sm">The request is closed without doing what it asks; the reason is kept in its history.</Text>
        <Textarea
          label="Reason"
          description="e.g. the requester’s identity could not be verified."
          required
          maxLength={1000}
          autosize
          minRows={2}
          value={reason}
          onChange={(event) => setReason(event.currentTarget.value)}
        />
      </ConfirmDialog>
    </Panel>
  )
}

/**
 * A rectification's corrections: the subject's records (records:read), each with its
 * content as JSON to edit; a record whose text changed (and is JSON) is a correction.
 */
function Corrections({
  orgId,
  subjectId,
  onChange,
}: {
  orgId: string
  subjectId: string
  onChange: (corrections: Correction[]) => void
}) {
  const records = useSubjectRecords(orgId, { subjectId })
  const [edits, setEdits] = useState<Record<string, string>>({})
  const list: DataRecord[] = records.data?.records ?? []
  const update = (record: DataRecord, text: string) => {
    const next = { ...edits, [record.id]: text }
    setEdits(next)
    const changed: Correction[] = []
    for (const r of list) {
      const edited = next[r.id]
      if (edited === undefined || edited === pretty(r.payload)) continue
      try {
        changed.push({ recordId: r.id, payload: JSON.parse(edited) as unknown })
      } catch {
        // Not JSON yet: not a correction; its field says so.
      }
    }
    onChange(changed)
  }
  const invalid = (text: string | undefined) => {
    if (text === undefined) return undefined
    try {
      JSON.parse(text)
      return undefined
    } catch {
      return 'Not JSON: this record is left as it is until it is.'
    }
  }
  return (
    <Stack gap="sm">
      <Text size="sm" fw={500}>
        The subject’s records: change the content of those to correct.
      </Text>
      <ListStatus
        query={records}
        noun="the subject’s records"
        refusal="You cannot read the subject’s records"
        empty={{ when: list.length === 0, text: 'The subject has no records to correct.' }}
      />
      {list.map((r) => (
        <Textarea
          key={r.id}
          label={`Record ${r.id} (${r.dataClass})`}
          description={`Created ${when(r.createdAt)}, updated ${when(r.updatedAt)}. Its content as JSON:`}
          autosize
          minRows={3}
          className="privacy-json"
          value={edits[r.id] ?? pretty(r.payload)}
          error={invalid(edits[r.id])}
          onChange={(event) => update(r, event.currentTarget.value)}
        />
      ))}
    </Stack>
  )
}

function HistoryPanel({ request, names }: { request: PrivacyRequest; names: Map<string, string> }) {
  const history = request.history ?? []
  return (
    <Panel title="History" description="Every step of the request, as the service recorded it.">
      <ListTable label="History" columns={['When', 'Who', 'What', 'Details']}>
        {history.map((h, i) => (
          <Table.Tr key={`${h.at}-${i}`}>
            <Table.Td>{when(h.at)}</Table.Td>
            <Table.Td>{actorName(h.actor, names)}</Table.Td>
            <Table.Td>{h.event.replaceAll('_', ' ')}</Table.Td>
            <Table.Td className="privacy-value">{describeDetails(h.details, names)}</Table.Td>
          </Table.Tr>
        ))}
      </ListTable>
    </Panel>
  )
}
