import { useState, type SyntheticEvent } from 'react'
import {
  Anchor,
  Button,
  Group,
  NativeSelect,
  NumberInput,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
} from '@mantine/core'
import { Link, useNavigate, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { useNow } from '../../components/Countdown.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { describeStatus } from '../../lib/describe.ts'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import {
  usePeople,
  usePrivacyActions,
  usePrivacyPolicy,
  useRequests,
  type NewRequest,
  type PrivacyRequest,
  type RequestKind,
  type RequestStatus,
} from './api.ts'
import { isOverdue, KIND_LABELS, RequestClock, STATUSES, StatusBadge, when } from './ui.tsx'
import './privacy.css'
import { counted } from '../../lib/plural.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

/**
 * Data-subject requests (P7.1): newest first, of one status or all, each with its deadline
 * and a live countdown to it (overdue ones marked "Overdue" in words and set apart), the
 * subject, the assignee. Beside the list: recording a new request (privacy:manage), and the
 * org's privacy policy — the response deadline and the export lifetime.
 */
export function RequestsPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const [status, setStatus] = useState<RequestStatus | ''>('')
  const requests = useRequests(orgId, status === '' ? undefined : status)
  const all: PrivacyRequest[] = requests.data?.pages.flatMap((p) => p.requests) ?? []
  const people = usePeople(orgId)
  const names = new Map((people.data?.members ?? []).map((m) => [m.userId, m.email]))
  const now = useNow()
  return (
    <ListPage
      title="Privacy requests"
      aside={
        <Stack gap="md">
          {canManage ? (
            <NewRequestForm orgId={orgId} />
          ) : (
            <Text size="sm" c="dimmed">
              Recording a request needs <PermissionName permission="privacy:manage" />, which your role does not hold.
            </Text>
          )}
          <PolicyPanel orgId={orgId} canManage={canManage} />
        </Stack>
      }
    >
      <Stack gap="sm">
        <Text size="sm">
          Each request is due a fixed time after it was received (72 hours unless the policy says otherwise). Its
          identity check is recorded before it is completed; an erasure ends with a signed certificate.
        </Text>
        <NativeSelect
          label="Status"
          className="privacy-filter"
          data={[{ value: '', label: 'All' }, ...STATUSES.map((s) => ({ value: s, label: describeStatus(s) }))]}
          value={status}
          onChange={(event) => setStatus(event.currentTarget.value as RequestStatus | '')}
        />
        <ListStatus
          query={requests}
          noun="privacy requests"
          refusal="You cannot list this org’s privacy requests"
          empty={{
            when: all.length === 0,
            text: status === '' ? 'No privacy requests yet.' : `No ${status.replace('_', ' ')} privacy requests.`,
          }}
        />
        {all.length > 0 ? (
          <ListTable
            label="Privacy requests"
            columns={['Request', 'Subject', 'Status', 'Due', 'Time left', 'Assignee']}
          >
            {all.map((r) => {
              const overdue = isOverdue(r, now)
              return (
                <Table.Tr key={r.id} className={overdue ? 'privacy-overdue' : undefined}>
                  <Table.Td>
                    <Anchor
                      component={Link}
                      to={`/orgs/${orgId}/privacy-requests/${r.id}`}
                      aria-label={`${KIND_LABELS[r.kind]} request received ${when(r.receivedAt)}`}
                    >
                      {KIND_LABELS[r.kind]}
                    </Anchor>
                    <Text size="xs">received {when(r.receivedAt)}</Text>
                  </Table.Td>
                  <Table.Td className="privacy-value">{r.subjectId ?? 'erased'}</Table.Td>
                  <Table.Td>
                    <StatusBadge status={r.status} />
                  </Table.Td>
                  <Table.Td>{when(r.dueAt)}</Table.Td>
                  <Table.Td>
                    <RequestClock request={r} overdue={overdue} />
                  </Table.Td>
                  <Table.Td>{r.assignee === null ? 'nobody' : (names.get(r.assignee) ?? r.assignee)}</Table.Td>
                </Table.Tr>
              )
            })}
          </ListTable>
        ) : null}
        <LoadMore query={requests} />
      </Stack>
    </ListPage>
  )
}

const KINDS = Object.entries(KIND_LABELS).map(([value, label]) => ({ value, label }))

/** Records a data-subject request; its page opens once it is recorded. */
function NewRequestForm({ orgId }: { orgId: string }) {
  const actions = usePrivacyActions(orgId)
  const navigate = useNavigate()
  const { run, pending, error, field } = useAction()
  const [kind, setKind] = useState<RequestKind>('access')
  const [subjectId, setSubjectId] = useState('')
  const [name, setName] = useState('')
  const [email, setEmail] = useState('')
  const [channel, setChannel] = useState('')
  const [method, setMethod] = useState('')
  const [note, setNote] = useState('')
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    const requester = {
      ...(name.trim() === '' ? {} : { name: name.trim() }),
      ...(email.trim() === '' ? {} : { email: email.trim() }),
      ...(channel.trim() === '' ? {} : { channel: channel.trim() }),
    }
    const body: NewRequest = {
      kind,
      subjectId,
      ...(Object.keys(requester).length === 0 ? {} : { requester }),
      ...(method.trim() === ''
        ? {}
        : { verification: { method: method.trim(), ...(note.trim() === '' ? {} : { note: note.trim() }) } }),
    }
    let id = ''
    const ok = await run(async () => {
      id = (await actions.create(body)).id
    })
    if (ok) await navigate(`/orgs/${orgId}/privacy-requests/${id}`)
  }
  return (
    <Panel
      title="Record a request"
      description="Received now: its clock starts at once. The subject’s id and the requester’s details are stored sealed."
    >
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="The request was not recorded" />
          <NativeSelect
            label="Kind"
            data={KINDS}
            value={kind}
            onChange={(event) => setKind(event.currentTarget.value as RequestKind)}
          />
          <TextInput
            label="Subject id"
            description="The application’s id of the data subject, exactly as its records are stored."
            required
            maxLength={200}
            {...field('subjectId', subjectId, setSubjectId)}
          />
          <TextInput label="Requester’s name" maxLength={200} {...field('requester/name', name, setName)} />
          <TextInput
            label="Requester’s email"
            type="email"
            maxLength={320}
            {...field('requester/email', email, setEmail)}
          />
          <TextInput
            label="Channel"
            description="How the request came in, e.g. support form."
            maxLength={100}
            {...field('requester/channel', channel, setChannel)}
          />
          <TextInput
            label="Identity verified by (optional)"
            description="e.g. signed-in-account, email-link, document; it can be recorded later."
            maxLength={100}
            {...field('verification/method', method, setMethod)}
          />
          <Textarea
            label="Verification note (optional)"
            maxLength={1000}
            autosize
            minRows={2}
            value={note}
            onChange={(e) => setNote(e.currentTarget.value)}
          />
          <Button type="submit" loading={pending} disabled={subjectId.trim() === ''}>
            Record request
          </Button>
        </Stack>
      </form>
    </Panel>
  )
}

/** The org's privacy policy (privacy:read); a form to change it for those with privacy:manage. */
function PolicyPanel({ orgId, canManage }: { orgId: string; canManage: boolean }) {
  const policy = usePrivacyPolicy(orgId)
  return (
    <Panel
      title="Privacy policy"
      description="How long the org takes to answer a request, and how long an export lasts."
    >
      {policy.isPending ? <Text size="sm">Loading the policy</Text> : null}
      <ProblemAlert error={policy.error} title="You cannot see the privacy policy" />
      {policy.isSuccess ? (
        canManage ? (
          <PolicyForm orgId={orgId} responseHours={policy.data.responseHours} exportHours={policy.data.exportHours} />
        ) : (
          <Text size="sm">
            Requests are due {counted(policy.data.responseHours, 'hour')} after receipt; an access export can be
            downloaded for {counted(policy.data.exportHours, 'hour')}.
          </Text>
        )
      ) : null}
    </Panel>
  )
}

function PolicyForm({
  orgId,
  responseHours,
  exportHours,
}: {
  orgId: string
  responseHours: number
  exportHours: number
}) {
  const actions = usePrivacyActions(orgId)
  const [response, setResponse] = useState<number | string>(responseHours)
  const [exports, setExports] = useState<number | string>(exportHours)
  const [notice, setNotice] = useState<string | null>(null)
  const save = useAction()
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setNotice(null)
    if (await save.run(() => actions.setPolicy({ responseHours: Number(response), exportHours: Number(exports) })))
      setNotice('Saved: new requests are due by this policy.')
  }
  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={save.error} title="Not saved" />
        <Notice message={notice} onClose={() => setNotice(null)} />
        <NumberInput
          label="Response deadline (hours)"
          description="A request is due this long after it is received."
          min={1}
          max={2160}
          allowDecimal={false}
          value={response}
          onChange={setResponse}
          error={save.problem?.fieldError('responseHours')}
        />
        <NumberInput
          label="Export lifetime (hours)"
          description="An access export can be downloaded this long; then its content is erased."
          min={1}
          max={720}
          allowDecimal={false}
          value={exports}
          onChange={setExports}
          error={save.problem?.fieldError('exportHours')}
        />
        <Group>
          <Button type="submit" variant="default" loading={save.pending}>
            Save policy
          </Button>
        </Group>
      </Stack>
    </form>
  )
}
