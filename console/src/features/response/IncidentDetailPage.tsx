import { useState, type SyntheticEvent } from 'react'
import {
  Anchor,
  Button,
  Container,
  Fieldset,
  Group,
  List,
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
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { describeAlert, describeDetails, describeValue } from '../../lib/describe.ts'
import {
  useAlertsById,
  useIncident,
  useOrgPeople,
  useResponseActions,
  type BreachNotification,
  type Incident,
  type IncidentPatch,
  type Party,
} from './api.ts'
import { escalation } from './IncidentsPage.tsx'
import { Countdown } from '../../components/Countdown.tsx'
import {
  actorName,
  ClockBadge,
  PartyFields,
  SEVERITIES,
  SeverityBadge,
  StatusBadge,
  when,
  type PartyDraft,
} from './ui.tsx'
import './response.css'

const STATUSES = ['open', 'acknowledged', 'contained', 'resolved', 'closed'] as const
const ROLES = [
  ['commander', 'Commander'],
  ['communications', 'Communications lead'],
  ['scribe', 'Scribe'],
] as const

/**
 * One incident: its state and escalation, roles, playbook steps, breach confirmation with
 * one notification clock per party (counting down in the page from the API's deadlines)
 * and "mark notified", its links and its timeline with notes. Actions need
 * incidents:manage; the API refuses anything else and the page shows that refusal.
 */
export function IncidentDetailPage({ canManage }: { canManage: boolean }) {
  const { orgId = '', incidentId = '' } = useParams()
  const incident = useIncident(orgId, incidentId)
  const people = useOrgPeople(orgId)
  const data = incident.data
  // The incident's own answer names its people; the members list adds those roles can go to.
  const names = new Map([
    ...(people.data?.members ?? []).map((m): [string, string] => [m.userId, m.email]),
    ...Object.entries(data?.people ?? {}),
  ])
  const [notice, setNotice] = useState<string | null>(null)
  const [problem, setProblem] = useState<{ title: string; error: unknown } | null>(null)
  const actions = useResponseActions(orgId)

  /** Runs one action of the page: its outcome as a notice, or its refusal. */
  const act = async (message: string, failure: string, call: () => Promise<unknown>) => {
    setProblem(null)
    try {
      await call()
      setNotice(message)
    } catch (error) {
      setProblem({ title: failure, error })
    }
  }

  return (
    <Container size="xl" py="md">
      <Anchor component={Link} to={`/orgs/${orgId}/incidents`} size="sm">
        All incidents
      </Anchor>
      <Title order={1} mb="xs" mt="xs">
        {data?.title ?? 'Incident'}
      </Title>
      <Stack gap="md">
        <ListStatus query={incident} noun="the incident" refusal="You cannot see this incident" />
        <Notice message={notice} onClose={() => setNotice(null)} />
        {problem !== null ? <ActionProblem error={problem.error} title={problem.title} /> : null}
        {data === undefined ? null : (
          <>
            <StatePanel
              key={`${data.status} ${data.severity}`}
              incident={data}
              canManage={canManage}
              names={names}
              act={act}
              actions={actions}
            />
            <Group align="flex-start" gap="md" wrap="wrap">
              <Stack gap="md" className="response-main">
                <BreachPanel incident={data} canManage={canManage} orgId={orgId} onDone={setNotice} />
                <StepsPanel incident={data} canManage={canManage} names={names} act={act} actions={actions} />
                <TimelinePanel incident={data} canManage={canManage} names={names} orgId={orgId} />
              </Stack>
              <Stack gap="md" className="response-side">
                <RolesPanel
                  key={JSON.stringify(data.roles)}
                  incident={data}
                  canManage={canManage}
                  people={people.data?.members ?? []}
                  onSave={(patch) =>
                    act('The roles are saved.', 'The roles were not saved', () =>
                      actions.updateIncident(data.id, patch),
                    )
                  }
                />
                <LinksPanel incident={data} orgId={orgId} />
              </Stack>
            </Group>
          </>
        )}
      </Stack>
    </Container>
  )
}

type Act = (message: string, failure: string, call: () => Promise<unknown>) => Promise<void>
type Actions = ReturnType<typeof useResponseActions>

function StatePanel({
  incident,
  canManage,
  names,
  act,
  actions,
}: {
  incident: Incident
  canManage: boolean
  names: Map<string, string>
  act: Act
  actions: Actions
}) {
  return (
    <Panel title="State">
      <Group gap="lg" align="flex-start" wrap="wrap">
        <Stack gap={4}>
          <Group gap="xs">
            <Text size="sm">Severity:</Text>
            <SeverityBadge severity={incident.severity} />
            <Text size="sm">Status:</Text>
            <StatusBadge status={incident.status} />
          </Group>
          <Text size="sm">
            Opened {when(incident.openedAt)} by {actorName(incident.openedBy, names)}
            {incident.type === null ? '' : ` — type ${incident.type}`}
          </Text>
          <Text size="sm">Acknowledged: {when(incident.acknowledgedAt)}</Text>
          <Text size="sm">Escalation: {escalation(incident)}</Text>
          {incident.resolvedAt === null ? null : <Text size="sm">Resolved: {when(incident.resolvedAt)}</Text>}
          {incident.closedAt === null ? null : <Text size="sm">Closed: {when(incident.closedAt)}</Text>}
        </Stack>
        {canManage ? (
          <Stack gap="xs">
            {incident.acknowledgedAt === null ? (
              <Button
                onClick={() =>
                  void act(
                    'The incident is acknowledged: its escalation stops.',
                    'The incident was not acknowledged',
                    () => actions.acknowledgeIncident(incident.id),
                  )
                }
              >
                Acknowledge incident
              </Button>
            ) : null}
            <ChoiceSetter
              label="Status"
              choices={STATUSES}
              current={incident.status}
              onSet={(status) =>
                act(`The incident is ${status}.`, 'The status was not changed', () =>
                  actions.updateIncident(incident.id, { status }),
                )
              }
            />
            <ChoiceSetter
              label="Severity"
              choices={SEVERITIES}
              current={incident.severity}
              onSet={(severity) =>
                act(`The incident’s severity is ${severity}.`, 'The severity was not changed', () =>
                  actions.updateIncident(incident.id, { severity }),
                )
              }
            />
          </Stack>
        ) : null}
      </Group>
    </Panel>
  )
}

/** One of `choices` in a select, and "Set <label>" once it differs from `current`. */
function ChoiceSetter<T extends string>({
  label,
  choices,
  current,
  onSet,
}: {
  label: string
  choices: readonly T[]
  current: T
  onSet: (choice: T) => Promise<void>
}) {
  const [choice, setChoice] = useState<T>(current)
  return (
    <Group gap="xs" align="flex-end">
      <NativeSelect
        label={label}
        data={choices.map((c) => ({ value: c, label: c }))}
        value={choice}
        onChange={(event) => setChoice(event.currentTarget.value as T)}
      />
      <Button variant="default" disabled={choice === current} onClick={() => void onSet(choice)}>
        Set {label.toLowerCase()}
      </Button>
    </Group>
  )
}

function RolesPanel({
  incident,
  canManage,
  people,
  onSave,
}: {
  incident: Incident
  canManage: boolean
  people: { userId: string; email: string }[]
  onSave: (patch: IncidentPatch) => Promise<void>
}) {
  const [roles, setRoles] = useState<Record<string, string>>({
    commander: incident.roles.commander ?? '',
    communications: incident.roles.communications ?? '',
    scribe: incident.roles.scribe ?? '',
  })
  const options = [{ value: '', label: 'Nobody' }, ...people.map((p) => ({ value: p.userId, label: p.email }))]
  const changed = ROLES.some(([key]) => (incident.roles[key] ?? '') !== roles[key])
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    const patch: IncidentPatch = {}
    for (const [key] of ROLES) if ((incident.roles[key] ?? '') !== roles[key]) patch[key] = roles[key] || null
    void onSave(patch)
  }
  return (
    <Panel title="Roles" description="The communications lead is told at once when a breach is confirmed.">
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          {ROLES.map(([key, label]) => (
            <NativeSelect
              key={key}
              label={label}
              data={options}
              disabled={!canManage}
              value={roles[key]}
              onChange={(event) => setRoles({ ...roles, [key]: event.currentTarget.value })}
            />
          ))}
          {canManage ? (
            <Button type="submit" variant="default" disabled={!changed}>
              Save roles
            </Button>
          ) : null}
        </Stack>
      </form>
    </Panel>
  )
}

function StepsPanel({
  incident,
  canManage,
  names,
  act,
  actions,
}: {
  incident: Incident
  canManage: boolean
  names: Map<string, string>
  act: Act
  actions: Actions
}) {
  const steps = incident.steps ?? []
  return (
    <Panel title="Playbook steps">
      {steps.length === 0 ? (
        <Text size="sm" c="dimmed">
          No playbook: the incident was opened without a type (or its type has no steps).
        </Text>
      ) : (
        <ListTable label="Playbook steps" columns={['#', 'Step', 'Done', canManage ? 'Actions' : null]}>
          {steps.map((s) => (
            <Table.Tr key={s.idx}>
              <Table.Td>{s.idx + 1}</Table.Td>
              <Table.Td>{s.title}</Table.Td>
              <Table.Td>
                {s.doneAt === null ? 'not yet' : `${when(s.doneAt)} by ${actorName(s.doneBy, names)}`}
              </Table.Td>
              {canManage ? (
                <Table.Td>
                  {s.doneAt === null ? (
                    <RowAction
                      label={`Mark done step ${s.idx + 1}`}
                      onClick={() =>
                        void act(`Step ${s.idx + 1} is done.`, 'The step was not marked done', () =>
                          actions.completeStep(incident.id, s.idx),
                        )
                      }
                    >
                      Mark done
                    </RowAction>
                  ) : null}
                </Table.Td>
              ) : null}
            </Table.Tr>
          ))}
        </ListTable>
      )}
    </Panel>
  )
}

/** Breach confirmation, then one clock per party: time left, counted in the page every second. */
function BreachPanel({
  incident,
  canManage,
  orgId,
  onDone,
}: {
  incident: Incident
  canManage: boolean
  orgId: string
  onDone: (message: string) => void
}) {
  const actions = useResponseActions(orgId)
  const [confirming, setConfirming] = useState(false)
  const [notifying, setNotifying] = useState<BreachNotification | null>(null)
  const clocks = incident.notifications ?? []
  return (
    <Panel
      title="Breach"
      description={
        incident.breach === null
          ? 'Not confirmed as a breach. Confirming starts one notification clock per party of the response plan (and any added here).'
          : undefined
      }
    >
      {incident.breach === null ? (
        canManage ? (
          <Button color="red.9" onClick={() => setConfirming(true)}>
            Confirm breach
          </Button>
        ) : null
      ) : (
        <Stack gap="sm">
          <Text size="sm">
            Confirmed {when(incident.breach.confirmedAt)}: {incident.breach.summary}
          </Text>
          <ListTable
            label="Breach notification clocks"
            columns={['Party', 'Deadline', 'Due', 'Time left', 'Status', canManage ? 'Actions' : null]}
          >
            {clocks.map((n) => (
              <Table.Tr key={n.id}>
                <Table.Td>
                  {n.party.name}
                  {/* The kind only where the name does not already say it ("customers / customers"). */}
                  {n.party.name.toLowerCase() === n.party.kind.replace('_', ' ') ? null : (
                    <Text size="xs" c="dimmed">
                      {n.party.kind.replace('_', ' ')}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>{n.deadlineHours} h</Table.Td>
                <Table.Td>{when(n.dueAt)}</Table.Td>
                <Table.Td>
                  {n.status === 'pending' ? (
                    <Countdown dueAt={n.dueAt} label={`Time left to notify ${n.party.name}`} />
                  ) : n.status === 'sent' ? (
                    `notified ${when(n.sentAt)}${n.late ? ' (late)' : ''}`
                  ) : (
                    'deadline missed'
                  )}
                </Table.Td>
                <Table.Td>
                  <ClockBadge status={n.status} />
                  {n.channel === null ? null : (
                    <Text size="xs" c="dimmed">
                      via {n.channel}
                    </Text>
                  )}
                </Table.Td>
                {canManage ? (
                  <Table.Td>
                    {n.status !== 'sent' ? (
                      <RowAction label={`Mark notified ${n.party.name}`} onClick={() => setNotifying(n)}>
                        Mark notified
                      </RowAction>
                    ) : null}
                  </Table.Td>
                ) : null}
              </Table.Tr>
            ))}
          </ListTable>
        </Stack>
      )}
      {confirming ? (
        <ConfirmBreachDialog
          onClose={() => setConfirming(false)}
          onConfirm={async (summary, parties) => {
            await actions.confirmBreach(incident.id, summary, parties)
            onDone('The breach is confirmed: the notification clocks are running.')
          }}
        />
      ) : null}
      {notifying === null ? null : (
        <MarkNotifiedDialog
          notification={notifying}
          onClose={() => setNotifying(null)}
          onSave={async (body) => {
            await actions.markNotified(incident.id, notifying.id, body)
            onDone(`${notifying.party.name} is marked notified.`)
          }}
        />
      )}
    </Panel>
  )
}

function ConfirmBreachDialog({
  onClose,
  onConfirm,
}: {
  onClose: () => void
  onConfirm: (summary: string, parties: Party[]) => Promise<void>
}) {
  const [summary, setSummary] = useState('')
  const [party, setParty] = useState<PartyDraft>({
    kind: 'regulator',
    name: '',
    hours: 72,
  })
  const extra: Party[] =
    party.name.trim() === ''
      ? []
      : [{ kind: party.kind as Party['kind'], name: party.name.trim(), deadlineHours: Number(party.hours) }]
  return (
    <ConfirmDialog
      opened
      onClose={onClose}
      title="Confirm this incident as a breach?"
      confirmLabel="Confirm breach"
      danger
      disabled={summary.trim() === ''}
      onConfirm={() => onConfirm(summary.trim(), extra)}
    >
      <Text size="sm">
        A clock starts now for every party the response plan names (customers and users within 72 hours unless the plan
        says otherwise). The communications lead, owners and admins are told at once. This cannot be undone.
      </Text>
      <Textarea
        label="Summary"
        required
        description="What happened and what data is affected."
        maxLength={5000}
        autosize
        minRows={3}
        value={summary}
        onChange={(event) => setSummary(event.currentTarget.value)}
      />
      <Fieldset legend="Another party to notify (optional)" variant="unstyled">
        <Group gap="xs" align="flex-end" wrap="wrap">
          <PartyFields party={party} onChange={setParty} />
        </Group>
      </Fieldset>
    </ConfirmDialog>
  )
}

function MarkNotifiedDialog({
  notification,
  onClose,
  onSave,
}: {
  notification: BreachNotification
  onClose: () => void
  onSave: (body: { channel: string; content: string }) => Promise<void>
}) {
  const [channel, setChannel] = useState('')
  const [content, setContent] = useState('')
  return (
    <ConfirmDialog
      opened
      onClose={onClose}
      title={`Mark ${notification.party.name} notified`}
      confirmLabel="Mark notified"
      disabled={channel.trim() === '' || content.trim() === ''}
      onConfirm={() => onSave({ channel: channel.trim(), content: content.trim() })}
    >
      <Text size="sm">Record how the party was told and what was sent: it stays in the incident’s record.</Text>
      <TextInput
        label="Channel"
        description="e.g. email to all customers, the regulator’s portal"
        required
        maxLength={200}
        value={channel}
        onChange={(event) => setChannel(event.currentTarget.value)}
      />
      <Textarea
        label="What was sent"
        required
        maxLength={20_000}
        autosize
        minRows={3}
        value={content}
        onChange={(event) => setContent(event.currentTarget.value)}
      />
    </ConfirmDialog>
  )
}

const ROLE_WORDS: Record<string, string> = {
  commander: 'Commander',
  communications: 'Communications lead',
  scribe: 'Scribe',
}

/**
 * An update's `{ before, after }` as what changed, in a sentence: "Commander set to
 * ana@example.com; status: investigating → contained". Fields sent unchanged are left out.
 */
function describeUpdate(details: Record<string, unknown>, names: Map<string, string>): string {
  const before = (details.before ?? {}) as Record<string, unknown>
  const after = (details.after ?? {}) as Record<string, unknown>
  const changes = Object.entries(after)
    .filter(([key, value]) => value !== undefined && value !== before[key])
    .map(([key, value]) => {
      const role = ROLE_WORDS[key]
      if (role !== undefined)
        return value === null ? `${role} removed` : `${role} set to ${describeValue(value, names)}`
      const from = before[key] === undefined ? '' : `${describeValue(before[key], names)} → `
      return `${key}: ${from}${describeValue(value, names)}`
    })
  if (changes.length === 0) return 'Nothing changed'
  const sentence = changes.join('; ')
  return sentence.charAt(0).toUpperCase() + sentence.slice(1)
}

/** A timeline entry in a sentence: notes and breach summaries in full, other changes briefly. */
function describe(entry: NonNullable<Incident['timeline']>[number], names: Map<string, string>): string {
  const d = entry.details
  const text = (key: string) => (typeof d[key] === 'string' ? d[key] : '')
  switch (entry.kind) {
    case 'note':
      return text('text')
    case 'step':
      return `step ${Number(d.idx) + 1} done: ${text('title')}`
    case 'breach_confirmed':
      return `breach confirmed: ${text('summary')}`
    case 'breach_notified': {
      const party = d.party !== null && typeof d.party === 'object' ? (d.party as { name?: unknown }).name : undefined
      const who = typeof party === 'string' && party !== '' ? party : 'party'
      return `${who} notified${text('channel') === '' ? '' : ` via ${text('channel')}`}${d.late === true ? ' (late)' : ''}`
    }
    case 'link':
      return `${text('kind').replace('_', ' ')} linked`
    case 'update':
      return describeUpdate(d, names)
    case 'acknowledge':
      return d.by === 'breach_confirmed'
        ? 'Acknowledged by confirming the breach'
        : Number(d.escalationLevel) > 0
          ? `Acknowledged after escalation to level ${Number(d.escalationLevel)}`
          : 'Acknowledged before any escalation'
    default:
      return describeDetails(d, names)
  }
}

function TimelinePanel({
  incident,
  canManage,
  names,
  orgId,
}: {
  incident: Incident
  canManage: boolean
  names: Map<string, string>
  orgId: string
}) {
  const actions = useResponseActions(orgId)
  const { run, pending, error, field } = useAction()
  const [text, setText] = useState('')
  const timeline = incident.timeline ?? []
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    if (await run(() => actions.addNote(incident.id, text.trim()))) setText('')
  }
  return (
    <Panel title="Timeline">
      <Stack gap="sm">
        <ListTable label="Timeline" columns={['When', 'Who', 'What', 'Details']}>
          {timeline.map((t, i) => (
            <Table.Tr key={`${t.at}-${i}`}>
              <Table.Td>{when(t.at)}</Table.Td>
              <Table.Td>{actorName(t.actor, names)}</Table.Td>
              <Table.Td>{t.kind.replaceAll('_', ' ')}</Table.Td>
              <Table.Td className="response-details">{describe(t, names)}</Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
        {canManage ? (
          <form onSubmit={(event) => void submit(event)} noValidate>
            <Stack gap="xs">
              <ActionProblem error={error} title="The note was not added" />
              <Textarea label="Note" maxLength={5000} autosize minRows={2} {...field('text', text, setText)} />
              <Group>
                <Button type="submit" variant="default" loading={pending} disabled={text.trim() === ''}>
                  Add note
                </Button>
              </Group>
            </Stack>
          </form>
        ) : null}
      </Stack>
    </Panel>
  )
}

function LinksPanel({ incident, orgId }: { incident: Incident; orgId: string }) {
  const links = incident.links ?? []
  // Each linked alert by its title in words; the id stays out of sight.
  const alerts = useAlertsById(
    orgId,
    links.filter((l) => l.kind === 'alert').map((l) => l.ref),
  )
  return (
    <Panel title="Links">
      {links.length === 0 ? (
        <Text size="sm" c="dimmed">
          No alert or audit event is linked.
        </Text>
      ) : (
        <List size="sm" aria-label="Linked alerts and audit events">
          {links.map((l) => (
            <List.Item key={`${l.kind}:${l.ref}`}>
              {l.kind === 'alert' ? (
                <Anchor component={Link} to={`/orgs/${orgId}/alerts`}>
                  {(() => {
                    const alert = alerts.get(l.ref)
                    return alert === undefined
                      ? 'An alert'
                      : `Alert: ${describeAlert(alert)} (${when(alert.firstSeenAt)})`
                  })()}
                </Anchor>
              ) : (
                <Anchor component={Link} to={`/orgs/${orgId}/audit`}>
                  An audit event
                </Anchor>
              )}
            </List.Item>
          ))}
        </List>
      )}
    </Panel>
  )
}
