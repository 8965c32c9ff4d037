import { useId, useState } from 'react'
import {
  Button,
  Checkbox,
  Container,
  Fieldset,
  Group,
  List,
  NumberInput,
  Stack,
  Table,
  Text,
  Textarea,
  TextInput,
  Title,
} from '@mantine/core'
import { useParams } from 'react-router'
import { ConfirmDialog, ConfirmItem } from '../../components/ConfirmDialog.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { RowsEditor, useRows } from '../../components/RowsEditor.tsx'
import { useRefusal } from '../../lib/action.ts'
import {
  useOrgPeople,
  usePlan,
  usePlanActions,
  useRoleNames,
  type EscalationLevel,
  type IncidentType,
  type IncidentTypeInput,
  type Plan,
  type PlanParty,
} from './api.ts'
import { actorName, PartyFields, SeverityBadge, SeveritySelect, when, type Severity } from './ui.tsx'
import './response.css'
import { counted } from '../../lib/plural.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

const DAY_MS = 86_400_000
/** Versions listed before "Show all versions". */
const VERSIONS_SHOWN = 10

type Names = Map<string, string>

/**
 * The org's incident response plan (P6.1, P6.2): incident types with their default
 * severity and playbook (ordered steps, reordered with buttons), the parties a breach is
 * notified to and their deadlines, the escalation policy, the review history with the next
 * review's due date, and every version. Seeing it needs incidents:read; every change (and
 * recording a review) needs response_plan:manage, and makes a new version.
 */
export function ResponsePlanPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const plan = usePlan(orgId)
  const people = useOrgPeople(orgId)
  // The plan's own answer names its people (even past the first page of members, or none
  // when members cannot be listed); the members list adds those escalation can be sent to.
  const names: Names = new Map([
    ...(people.data?.members ?? []).map((m): [string, string] => [m.userId, m.email]),
    ...Object.entries(plan.data?.people ?? {}),
  ])
  const [notice, setNotice] = useState<string | null>(null)
  const data = plan.data
  return (
    <Container size="xl" py="md">
      <Title order={1} mb="xs">
        Response plan
      </Title>
      <Text c="dimmed" mb="md">
        How this org answers an incident: its types and playbooks, who is told of a breach and within how long, and whom
        an unacknowledged incident escalates to. Every change makes a new version; the plan is reviewed every six
        months.
      </Text>
      <Stack gap="md">
        <ListStatus query={plan} noun="the response plan" refusal="You cannot see this org’s response plan" />
        <Notice message={notice} onClose={() => setNotice(null)} />
        {data === undefined ? null : (
          <>
            {canManage ? null : (
              <Text size="sm" c="dimmed">
                Changing the plan or recording a review needs <PermissionName permission="response_plan:manage" />,
                which your role does not hold.
              </Text>
            )}
            <ReviewPanel plan={data} orgId={orgId} canManage={canManage} names={names} onDone={setNotice} />
            <TypesPanel plan={data} orgId={orgId} canManage={canManage} onDone={setNotice} />
            <Group align="flex-start" gap="md" wrap="wrap">
              <Stack gap="md" className="response-main">
                <PartiesPanel plan={data} orgId={orgId} canManage={canManage} onDone={setNotice} />
              </Stack>
              <Stack gap="md" className="response-main">
                <EscalationPanel
                  plan={data}
                  orgId={orgId}
                  canManage={canManage}
                  names={names}
                  people={people.data?.members ?? []}
                  onDone={setNotice}
                />
              </Stack>
            </Group>
            <VersionsPanel plan={data} names={names} />
          </>
        )}
      </Stack>
    </Container>
  )
}

/** A date (no time) in the reader's locale. */
const day = (iso: string) => new Date(iso).toLocaleDateString()

/** "in 183 days", "12 days ago", "today": the distance from now to `iso`, in whole days. */
function fromNow(iso: string): string {
  const days = Math.round((new Date(iso).getTime() - Date.now()) / DAY_MS)
  return new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' }).format(days, 'day')
}

/** The next review's due date in words; overdue as the API says (reviewOverdue). */
function ReviewDue({ plan }: { plan: Plan }) {
  if (plan.reviewDueAt === null)
    return (
      <Text size="sm">
        No review is due yet: there is no plan version. The first review is due six months after the first change.
      </Text>
    )
  if (plan.reviewOverdue)
    return (
      <Text size="sm" fw={700} c="red.9">
        Review overdue: it was due on {day(plan.reviewDueAt)} ({fromNow(plan.reviewDueAt)}).
      </Text>
    )
  return (
    <Text size="sm">
      Next review due on {day(plan.reviewDueAt)} ({fromNow(plan.reviewDueAt)}).
    </Text>
  )
}

function ReviewPanel({
  plan,
  orgId,
  canManage,
  names,
  onDone,
}: {
  plan: Plan
  orgId: string
  canManage: boolean
  names: Names
  onDone: (message: string) => void
}) {
  const actions = usePlanActions(orgId)
  const [recording, setRecording] = useState(false)
  const [notes, setNotes] = useState('')
  const reviews = plan.reviews
  return (
    <Panel title="Review" description="A review is due six months after the last one (or after the first version).">
      <Stack gap="sm">
        <ReviewDue plan={plan} />
        <Text size="sm">
          Current version: {plan.version === 0 ? 'none yet' : plan.version}
          {plan.lastReview === null
            ? ' — never reviewed.'
            : ` — last review of version ${plan.lastReview.version} on ${when(plan.lastReview.reviewedAt)} by ${actorName(plan.lastReview.reviewedBy, names)}.`}
        </Text>
        {canManage ? (
          <Group>
            <Button onClick={() => setRecording(true)}>Record a review</Button>
          </Group>
        ) : null}
        <Title order={3} size="h5">
          Review history
        </Title>
        {reviews.length === 0 ? (
          <Text size="sm" c="dimmed">
            No review recorded yet.
          </Text>
        ) : (
          <ListTable label="Review history" columns={['When', 'Version', 'Recorded by', 'Notes']}>
            {reviews.map((r) => (
              <Table.Tr key={`${r.reviewedAt}-${r.reviewedBy}`}>
                <Table.Td>{when(r.reviewedAt)}</Table.Td>
                <Table.Td>{r.version}</Table.Td>
                <Table.Td>{actorName(r.reviewedBy, names)}</Table.Td>
                <Table.Td className="response-details">{r.notes}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        )}
        {reviews.length >= 100 ? (
          <Text size="xs" c="dimmed">
            The last 100 reviews; the audit log keeps every one (response_plan.review).
          </Text>
        ) : null}
      </Stack>
      <ConfirmDialog
        opened={recording}
        onClose={() => {
          setRecording(false)
          setNotes('')
        }}
        title={`Record a review of version ${plan.version}`}
        confirmLabel="Record review"
        disabled={notes.trim() === ''}
        onConfirm={async () => {
          await actions.review(notes.trim())
          setNotes('')
          onDone(`The review of version ${plan.version} is recorded.`)
        }}
      >
        <Text size="sm">
          The review is recorded against the current version, with your name and the time: it is the evidence that the
          plan was looked at. The next one is then due in six months.
        </Text>
        <Textarea
          label="Notes"
          description="What was checked, who took part, what (if anything) is to change."
          required
          maxLength={5000}
          autosize
          minRows={3}
          value={notes}
          onChange={(event) => setNotes(event.currentTarget.value)}
        />
      </ConfirmDialog>
    </Panel>
  )
}

function TypesPanel({
  plan,
  orgId,
  canManage,
  onDone,
}: {
  plan: Plan
  orgId: string
  canManage: boolean
  onDone: (message: string) => void
}) {
  const actions = usePlanActions(orgId)
  /** The type being edited, or 'new'; null: no dialog. */
  const [editing, setEditing] = useState<IncidentType | 'new' | null>(null)
  const [removing, setRemoving] = useState<IncidentType | null>(null)
  return (
    <Panel
      title="Incident types and playbooks"
      description="An incident opened of a type takes its default severity, and its playbook becomes the incident’s steps."
    >
      <Stack gap="sm">
        {plan.types.length === 0 ? (
          <Text size="sm" c="dimmed">
            No incident types yet: incidents are opened without a playbook.
          </Text>
        ) : (
          <ListTable
            label="Incident types"
            columns={['Type', 'Default severity', 'Affects third parties', 'Playbook', canManage ? 'Actions' : null]}
          >
            {plan.types.map((t) => (
              <Table.Tr key={t.id}>
                <Table.Td>
                  <Text size="sm" fw={500}>
                    {t.name}
                  </Text>
                  {t.description === undefined || t.description === '' ? null : (
                    <Text size="xs" c="dimmed">
                      {t.description}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>
                  <SeverityBadge severity={t.defaultSeverity} />
                </Table.Td>
                <Table.Td>{t.affectsThirdParties === true ? 'yes' : 'no'}</Table.Td>
                <Table.Td>
                  {t.playbook.length === 0 ? (
                    <Text size="sm" c="dimmed">
                      no steps
                    </Text>
                  ) : (
                    <List type="ordered" size="sm" aria-label={`Playbook of ${t.name}`}>
                      {t.playbook.map((step, i) => (
                        <List.Item key={`${i}-${step}`}>{step}</List.Item>
                      ))}
                    </List>
                  )}
                </Table.Td>
                {canManage ? (
                  <Table.Td>
                    <Group gap={6} wrap="nowrap">
                      <RowAction label={`Edit type ${t.name}`} onClick={() => setEditing(t)}>
                        Edit
                      </RowAction>
                      <RowAction label={`Remove type ${t.name}`} onClick={() => setRemoving(t)}>
                        Remove
                      </RowAction>
                    </Group>
                  </Table.Td>
                ) : null}
              </Table.Tr>
            ))}
          </ListTable>
        )}
        {canManage ? (
          <Group>
            <Button variant="default" onClick={() => setEditing('new')}>
              Add an incident type
            </Button>
          </Group>
        ) : null}
      </Stack>
      {editing === null ? null : (
        <TypeDialog
          type={editing === 'new' ? null : editing}
          onClose={() => setEditing(null)}
          onSave={async (input) => {
            if (editing === 'new') await actions.createType(input)
            else await actions.updateType(editing.id, input)
            onDone(
              editing === 'new' ? `Incident type “${input.name}” is added.` : `Incident type “${input.name}” is saved.`,
            )
          }}
        />
      )}
      <ConfirmItem
        item={removing}
        onClose={() => setRemoving(null)}
        title="Remove this incident type?"
        confirmLabel="Remove type"
        text={(t) =>
          `“${t.name}” and its playbook leave the plan (a new version). Incidents already opened of this type keep their steps.`
        }
        onConfirm={async (t) => {
          await actions.deleteType(t.id)
          onDone(`Incident type “${t.name}” is removed.`)
        }}
      />
    </Panel>
  )
}

function TypeDialog({
  type,
  onClose,
  onSave,
}: {
  type: IncidentType | null
  onClose: () => void
  onSave: (input: IncidentTypeInput) => Promise<void>
}) {
  const base = useId()
  const [name, setName] = useState(type?.name ?? '')
  const [description, setDescription] = useState(type?.description ?? '')
  const [severity, setSeverity] = useState<Severity | ''>(type?.defaultSeverity ?? 'medium')
  const [thirdParties, setThirdParties] = useState(type?.affectsThirdParties === true)
  const steps = useRows<string>(type?.playbook ?? [])
  const refusal = useRefusal()

  return (
    <ConfirmDialog
      opened
      size="lg"
      onClose={onClose}
      title={type === null ? 'Add an incident type' : `Edit incident type ${type.name}`}
      confirmLabel={type === null ? 'Add type' : 'Save type'}
      disabled={name.trim() === ''}
      onConfirm={() =>
        refusal.capture(() =>
          onSave({
            name: name.trim(),
            description: description.trim(),
            defaultSeverity: severity === '' ? 'medium' : severity,
            affectsThirdParties: thirdParties,
            playbook: steps.rows.map((r) => r.value.trim()),
          }),
        )
      }
    >
      <TextInput
        label="Name"
        required
        maxLength={200}
        value={name}
        error={refusal.fieldError('name')}
        onChange={(event) => setName(event.currentTarget.value)}
      />
      <Textarea
        label="Description"
        maxLength={2000}
        autosize
        minRows={1}
        value={description}
        error={refusal.fieldError('description')}
        onChange={(event) => setDescription(event.currentTarget.value)}
      />
      <SeveritySelect label="Default severity" value={severity} onChange={setSeverity} />
      <Checkbox
        label="Affects third parties"
        checked={thirdParties}
        onChange={(event) => setThirdParties(event.currentTarget.checked)}
      />
      <Fieldset legend="Playbook steps" variant="unstyled">
        <Stack gap="xs">
          <Text size="xs" c="dimmed">
            In the order they are to be done (at most 50). “Up” and “Down” move a step.
          </Text>
          <RowsEditor
            rows={steps}
            noun="step"
            idBase={base}
            focus="text"
            max={50}
            newRow={() => ''}
            empty="No steps yet."
            ordered
            fields={({ row, index, id }) => (
              <TextInput
                id={id('text')}
                className="rows-editor-main"
                label={`Step ${index + 1}`}
                maxLength={500}
                value={row.value}
                error={refusal.fieldError(`playbook/${index}`)}
                onChange={(event) => steps.set(row.key, event.currentTarget.value)}
              />
            )}
          />
        </Stack>
      </Fieldset>
    </ConfirmDialog>
  )
}

function PartiesPanel({
  plan,
  orgId,
  canManage,
  onDone,
}: {
  plan: Plan
  orgId: string
  canManage: boolean
  onDone: (message: string) => void
}) {
  const actions = usePlanActions(orgId)
  const [editing, setEditing] = useState(false)
  return (
    <Panel
      title="Breach notification parties"
      description="Who must be told of a confirmed breach, and within how many hours of its confirmation: each gets its own clock."
    >
      <Stack gap="sm">
        {plan.parties.length === 0 ? (
          <Text size="sm">None set: customers and users are notified within 72 hours (the default).</Text>
        ) : (
          <ListTable label="Breach notification parties" columns={['Party', 'Kind', 'Deadline']}>
            {plan.parties.map((p) => (
              <Table.Tr key={`${p.kind}:${p.name}`}>
                <Table.Td>{p.name}</Table.Td>
                <Table.Td>{p.kind.replace('_', ' ')}</Table.Td>
                <Table.Td>{p.deadlineHours} h</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        )}
        {canManage ? (
          <Group>
            <Button variant="default" onClick={() => setEditing(true)}>
              Edit parties
            </Button>
          </Group>
        ) : null}
      </Stack>
      {editing ? (
        <PartiesDialog
          parties={plan.parties}
          onClose={() => setEditing(false)}
          onSave={async (parties) => {
            await actions.setParties(parties)
            onDone('The breach notification parties are saved.')
          }}
        />
      ) : null}
    </Panel>
  )
}

function PartiesDialog({
  parties,
  onClose,
  onSave,
}: {
  parties: PlanParty[]
  onClose: () => void
  onSave: (parties: PlanParty[]) => Promise<void>
}) {
  const base = useId()
  const rows = useRows<{ kind: string; name: string; hours: number | string }>(
    parties.map((p) => ({ kind: p.kind, name: p.name, hours: p.deadlineHours })),
  )
  const refusal = useRefusal()
  return (
    <ConfirmDialog
      opened
      size="lg"
      onClose={onClose}
      title="Breach notification parties"
      confirmLabel="Save parties"
      onConfirm={() =>
        refusal.capture(() =>
          onSave(
            rows.rows.map(({ value }) => ({
              kind: value.kind as PlanParty['kind'],
              name: value.name.trim(),
              deadlineHours: Number(value.hours),
            })),
          ),
        )
      }
    >
      <Text size="sm">
        Each party gets its own clock when a breach is confirmed. With none, customers and users are notified within 72
        hours.
      </Text>
      <RowsEditor
        rows={rows}
        noun="party"
        idBase={base}
        focus="name"
        max={50}
        newRow={() => ({ kind: 'regulator', name: '', hours: 72 })}
        empty="No party: the default applies."
        legend
        fields={({ row, index, id }) => (
          <PartyFields
            party={row.value}
            nameId={id('name')}
            fieldError={(field) => refusal.fieldError(`parties/${index}/${field}`)}
            onChange={(party) => rows.set(row.key, party)}
          />
        )}
      />
    </ConfirmDialog>
  )
}

function EscalationPanel({
  plan,
  orgId,
  canManage,
  names,
  people,
  onDone,
}: {
  plan: Plan
  orgId: string
  canManage: boolean
  names: Names
  people: { userId: string; email: string }[]
  onDone: (message: string) => void
}) {
  const actions = usePlanActions(orgId)
  const [editing, setEditing] = useState(false)
  return (
    <Panel
      title="Escalation"
      description="Whom an incident notifies, level by level, while nobody acknowledges it. Acknowledging stops it."
    >
      <Stack gap="sm">
        <ListTable label="Escalation levels" columns={['Level', 'After', 'Roles notified', 'People notified']}>
          {plan.escalation.map((level, i) => (
            <Table.Tr key={`${level.afterMinutes}-${i}`}>
              <Table.Td>{i + 1}</Table.Td>
              <Table.Td>{level.afterMinutes} min unacknowledged</Table.Td>
              <Table.Td>{level.notifyRoles.length === 0 ? '—' : level.notifyRoles.join(', ')}</Table.Td>
              <Table.Td>
                {level.notifyUsers.length === 0 ? '—' : level.notifyUsers.map((u) => names.get(u) ?? u).join(', ')}
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
        {canManage ? (
          <Group>
            <Button variant="default" onClick={() => setEditing(true)}>
              Edit escalation
            </Button>
          </Group>
        ) : null}
      </Stack>
      {editing ? (
        <EscalationDialog
          orgId={orgId}
          levels={plan.escalation}
          people={people}
          names={names}
          onClose={() => setEditing(false)}
          onSave={async (levels) => {
            await actions.setEscalation(levels)
            onDone('The escalation policy is saved.')
          }}
        />
      ) : null}
    </Panel>
  )
}

function EscalationDialog({
  orgId,
  levels,
  people,
  names,
  onClose,
  onSave,
}: {
  orgId: string
  levels: EscalationLevel[]
  people: { userId: string; email: string }[]
  names: Names
  onClose: () => void
  onSave: (levels: EscalationLevel[]) => Promise<void>
}) {
  const base = useId()
  const roleNames = useRoleNames(orgId)
  const rows = useRows<{ after: number | string; roles: string[]; users: string[] }>(
    levels.map((l) => ({ after: l.afterMinutes, roles: l.notifyRoles, users: l.notifyUsers })),
  )
  const refusal = useRefusal()
  // Every role and person already named stays offered, even one the lists do not show.
  const roles = [...new Set([...(roleNames.data ?? []), ...rows.rows.flatMap((r) => r.value.roles)])]
  const users = [...new Set([...people.map((p) => p.userId), ...rows.rows.flatMap((r) => r.value.users)])]
  return (
    <ConfirmDialog
      opened
      size="lg"
      onClose={onClose}
      title="Escalation policy"
      confirmLabel="Save escalation"
      onConfirm={() =>
        refusal.capture(() =>
          onSave(
            rows.rows.map(({ value }) => ({
              afterMinutes: Number(value.after),
              notifyRoles: value.roles,
              notifyUsers: value.users,
            })),
          ),
        )
      }
    >
      <Text size="sm">
        Each level notifies its roles and people once an incident has stayed unacknowledged for its minutes; the levels
        are kept in order of their minutes. At least one level, at most 10.
      </Text>
      {roleNames.isError ? (
        <Text size="sm" c="red.9">
          The org’s roles cannot be listed ({roleNames.error.message}): only the roles already named are offered.
        </Text>
      ) : null}
      <RowsEditor
        rows={rows}
        noun="level"
        idBase={base}
        focus="after"
        max={10}
        newRow={() => {
          const last = rows.rows.at(-1)?.value.after
          return { after: typeof last === 'number' ? Math.min(last * 2, 10_080) : 30, roles: [], users: [] }
        }}
        legend
        fields={({ row, index, id }) => (
          <NumberInput
            id={id('after')}
            label="After (minutes unacknowledged)"
            min={1}
            max={10_080}
            allowDecimal={false}
            value={row.value.after}
            error={refusal.fieldError(`levels/${index}/afterMinutes`)}
            onChange={(value) => rows.set(row.key, { ...row.value, after: value })}
          />
        )}
        below={({ row, index }) => (
          <>
            <Checkbox.Group
              label={`Roles notified at level ${index + 1}`}
              value={row.value.roles}
              error={refusal.fieldError(`levels/${index}/notifyRoles`)}
              onChange={(value) => rows.set(row.key, { ...row.value, roles: value })}
            >
              <div className="plan-choices">
                {roles.map((r) => (
                  <Checkbox key={r} value={r} label={r} size="xs" />
                ))}
              </div>
            </Checkbox.Group>
            <Checkbox.Group
              label={`People notified at level ${index + 1}`}
              value={row.value.users}
              error={refusal.fieldError(`levels/${index}/notifyUsers`)}
              onChange={(value) => rows.set(row.key, { ...row.value, users: value })}
            >
              <div className="plan-choices plan-people">
                {users.map((u) => (
                  <Checkbox key={u} value={u} label={names.get(u) ?? u} size="xs" />
                ))}
              </div>
            </Checkbox.Group>
          </>
        )}
      />
    </ConfirmDialog>
  )
}

function VersionsPanel({ plan, names }: { plan: Plan; names: Names }) {
  const [all, setAll] = useState(false)
  const newest = [...plan.versions].reverse()
  const shown = all ? newest : newest.slice(0, VERSIONS_SHOWN)
  return (
    <Panel title="Versions" description="Every change makes a new version, a full copy of the plan that is kept.">
      <Stack gap="sm">
        {newest.length === 0 ? (
          <Text size="sm" c="dimmed">
            No version yet: the plan has not been changed.
          </Text>
        ) : (
          <ListTable label="Plan versions" columns={['Version', 'When', 'By', 'Change']}>
            {shown.map((v) => (
              <Table.Tr key={v.version}>
                <Table.Td>{v.version}</Table.Td>
                <Table.Td>{when(v.createdAt)}</Table.Td>
                <Table.Td>{actorName(v.createdBy, names)}</Table.Td>
                <Table.Td>{v.change}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        )}
        {newest.length > VERSIONS_SHOWN ? (
          <Group>
            <Button variant="default" size="xs" onClick={() => setAll(!all)}>
              {all ? 'Show the newest versions only' : `Show all ${counted(newest.length, 'version')}`}
            </Button>
          </Group>
        ) : null}
      </Stack>
    </Panel>
  )
}
