import { useState } from 'react'
import {
  Anchor,
  Checkbox,
  Container,
  Group,
  NativeSelect,
  NumberInput,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { Link, useNavigate, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { ReasonField } from '../../components/ReasonField.tsx'
import { describeAlert } from '../../lib/describe.ts'
import { Panel } from '../../components/Panel.tsx'
import {
  useAlertRules,
  useAlerts,
  usePlan,
  useResponseActions,
  type Alert,
  type AlertRule,
  type AlertStatus,
  type RuleSettings,
} from './api.ts'
import { RuleDescription, ruleName, SeverityBadge, SeveritySelect, StatusBadge, when, type Severity } from './ui.tsx'
import './response.css'

export interface ResponsePermissions {
  manageAlerts: boolean
  manageIncidents: boolean
}

const STATUSES: { value: string; label: string }[] = [
  { value: '', label: 'All' },
  { value: 'open', label: 'Open' },
  { value: 'acknowledged', label: 'Acknowledged' },
  { value: 'resolved', label: 'Resolved' },
]

/**
 * Alerts raised over the org's audit stream (P5.3): acknowledge (someone is looking),
 * resolve with a note, open an incident from one (alerts:manage, incidents:manage); and the
 * built-in rules with this org's thresholds, windows and dedupe windows, each editable.
 */
export function AlertsPage({ can }: { can: ResponsePermissions }) {
  const { orgId = '' } = useParams()
  const [status, setStatus] = useState('')
  const alerts = useAlerts(orgId, status === '' ? undefined : (status as AlertStatus))
  const actions = useResponseActions(orgId)
  const navigate = useNavigate()
  const [notice, setNotice] = useState<string | null>(null)
  const [problem, setProblem] = useState<{ title: string; error: unknown } | null>(null)
  const [pending, setPending] = useState<string | null>(null)
  const [resolving, setResolving] = useState<Alert | null>(null)
  const [opening, setOpening] = useState<Alert | null>(null)
  const all: Alert[] = alerts.data?.pages.flatMap((p) => p.alerts) ?? []
  const anyAction = can.manageAlerts || can.manageIncidents

  const acknowledge = async (alert: Alert) => {
    setPending(alert.id)
    setProblem(null)
    try {
      await actions.acknowledgeAlert(alert.id)
      setNotice(`Alert “${describeAlert(alert)}” is acknowledged.`)
    } catch (error) {
      setProblem({ title: 'The alert was not acknowledged', error })
    } finally {
      setPending(null)
    }
  }

  return (
    <Container size="xl" py="md">
      <Title order={1} mb="xs">
        Alerts
      </Title>
      <Text c="dimmed" mb="md">
        Raised by the built-in rules over the org’s audit log, within seconds of the events that make them. Firings of
        one rule about the same thing within its dedupe window are one alert whose occurrences grow.
      </Text>
      <Stack gap="md">
        <Notice message={notice} onClose={() => setNotice(null)} />
        {problem !== null ? <ActionProblem error={problem.error} title={problem.title} /> : null}
        <NativeSelect
          label="Status"
          data={STATUSES}
          value={status}
          onChange={(event) => setStatus(event.currentTarget.value)}
          className="response-filter"
        />
        <ListStatus
          query={alerts}
          noun="alerts"
          refusal="You cannot list this org’s alerts"
          empty={{ when: all.length === 0, text: status === '' ? 'No alerts yet.' : `No ${status} alerts.` }}
        />
        {all.length > 0 ? (
          <ListTable
            striped
            label="Alerts"
            columns={[
              'Severity',
              'Alert',
              'Status',
              'First seen',
              'Last seen',
              'Occurrences',
              'Incident',
              anyAction ? 'Actions' : null,
            ]}
          >
            {all.map((a) => (
              <Table.Tr key={a.id}>
                <Table.Td>
                  <SeverityBadge severity={a.severity} />
                </Table.Td>
                <Table.Td>
                  <Text size="sm" fw={500}>
                    {describeAlert(a)}
                  </Text>
                  <Text size="xs" c="dimmed">
                    Rule: {ruleName(a.rule).toLowerCase()}
                  </Text>
                </Table.Td>
                <Table.Td>
                  <StatusBadge status={a.status} />
                </Table.Td>
                <Table.Td>{when(a.firstSeenAt)}</Table.Td>
                <Table.Td>{when(a.lastSeenAt)}</Table.Td>
                <Table.Td>{a.occurrences}</Table.Td>
                <Table.Td>
                  {a.incidentId === null ? (
                    '—'
                  ) : (
                    <Anchor component={Link} to={`/orgs/${orgId}/incidents/${a.incidentId}`} size="sm">
                      {a.incidentTitle ?? 'The incident it opened'}
                    </Anchor>
                  )}
                </Table.Td>
                {anyAction ? (
                  <Table.Td>
                    <Group gap={6} wrap="nowrap">
                      {can.manageAlerts && a.status === 'open' ? (
                        <RowAction
                          label={`Acknowledge alert ${describeAlert(a)}`}
                          loading={pending === a.id}
                          onClick={() => void acknowledge(a)}
                        >
                          Acknowledge
                        </RowAction>
                      ) : null}
                      {can.manageAlerts && a.status !== 'resolved' ? (
                        <RowAction label={`Resolve alert ${describeAlert(a)}`} onClick={() => setResolving(a)}>
                          Resolve
                        </RowAction>
                      ) : null}
                      {can.manageIncidents && a.incidentId === null ? (
                        <RowAction label={`Open incident from alert ${describeAlert(a)}`} onClick={() => setOpening(a)}>
                          Open incident
                        </RowAction>
                      ) : null}
                    </Group>
                  </Table.Td>
                ) : null}
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={alerts} />
        <RulesPanel orgId={orgId} canManage={can.manageAlerts} onDone={setNotice} />
      </Stack>
      <ResolveDialog
        alert={resolving}
        onClose={() => setResolving(null)}
        onResolve={async (alert, note) => {
          await actions.resolveAlert(alert.id, note)
          setNotice(`Alert “${describeAlert(alert)}” is resolved.`)
        }}
      />
      <OpenIncidentDialog
        orgId={orgId}
        alert={opening}
        onClose={() => setOpening(null)}
        onOpen={async (alert, body) => {
          const incident = await actions.incidentFromAlert(alert.id, body)
          await navigate(`/orgs/${orgId}/incidents/${incident.id}`)
        }}
      />
    </Container>
  )
}

function ResolveDialog({
  alert,
  onClose,
  onResolve,
}: {
  alert: Alert | null
  onClose: () => void
  onResolve: (alert: Alert, note: string) => Promise<void>
}) {
  const [note, setNote] = useState('')
  const close = () => {
    setNote('')
    onClose()
  }
  return (
    <ConfirmDialog
      opened={alert !== null}
      onClose={close}
      title="Resolve the alert?"
      confirmLabel="Resolve"
      onConfirm={async () => {
        if (alert !== null) await onResolve(alert, note.trim())
        setNote('')
      }}
    >
      <Text size="sm">{alert === null ? null : describeAlert(alert)}</Text>
      <ReasonField
        label="Note (optional)"
        description="What was found, or why it needs nothing more."
        value={note}
        onChange={setNote}
      />
    </ConfirmDialog>
  )
}

function OpenIncidentDialog({
  orgId,
  alert,
  onClose,
  onOpen,
}: {
  orgId: string
  alert: Alert | null
  onClose: () => void
  onOpen: (alert: Alert, body: { title: string; typeId?: string; severity?: Severity }) => Promise<void>
}) {
  const plan = usePlan(orgId)
  const [title, setTitle] = useState<string | null>(null)
  const [typeId, setTypeId] = useState('')
  // null: the alert's own severity, until someone picks another.
  const [chosen, setSeverity] = useState<Severity | '' | null>(null)
  const severity = chosen ?? alert?.severity ?? ''
  const shown = title ?? (alert === null ? undefined : describeAlert(alert).slice(0, 200)) ?? ''
  const reset = () => {
    setTitle(null)
    setTypeId('')
    setSeverity(null)
  }
  const close = () => {
    reset()
    onClose()
  }
  const types = plan.data?.types ?? []
  const type = types.find((t) => t.id === typeId)
  return (
    <ConfirmDialog
      opened={alert !== null}
      onClose={close}
      title="Open an incident from this alert"
      confirmLabel="Open incident"
      disabled={shown.trim() === ''}
      onConfirm={async () => {
        if (alert === null) return
        await onOpen(alert, {
          title: shown.trim(),
          ...(typeId === '' ? {} : { typeId }),
          ...(severity === '' ? {} : { severity }),
        })
        reset()
      }}
    >
      <Text size="sm">The incident is linked to the alert, and the alert to the incident.</Text>
      <TextInput
        label="Incident title"
        required
        maxLength={200}
        value={shown}
        onChange={(event) => setTitle(event.currentTarget.value)}
      />
      <NativeSelect
        label="Incident type"
        description="A type’s playbook becomes the incident’s steps."
        data={[{ value: '', label: 'No type' }, ...types.map((t) => ({ value: t.id, label: t.name }))]}
        value={typeId}
        onChange={(event) => setTypeId(event.currentTarget.value)}
      />
      <SeveritySelect
        label="Incident severity"
        description={`The alert’s severity is ${alert?.severity ?? '—'}; it can be changed later on the incident’s page.`}
        fallback={type === undefined ? 'medium, without a type' : `${type.defaultSeverity}, the type’s`}
        value={severity}
        onChange={setSeverity}
      />
    </ConfirmDialog>
  )
}

/** The rules, with this org's settings; "Edit" changes one (alerts:manage). */
function RulesPanel({
  orgId,
  canManage,
  onDone,
}: {
  orgId: string
  canManage: boolean
  onDone: (message: string) => void
}) {
  const rules = useAlertRules(orgId)
  const actions = useResponseActions(orgId)
  const [editing, setEditing] = useState<AlertRule | null>(null)
  const list = rules.data?.rules ?? []
  return (
    <Panel
      title="Alert rules"
      description="Each rule fires when its threshold is reached within its window; firings within the dedupe window are one alert."
    >
      <ListStatus query={rules} noun="alert rules" refusal="You cannot see this org’s alert rules" />
      {list.length > 0 ? (
        <ListTable
          label="Alert rules"
          columns={[
            'Rule',
            'Severity',
            'On',
            'Threshold',
            'Window',
            'Dedupe window',
            'Settings',
            canManage ? 'Actions' : null,
          ]}
        >
          {list.map((r) => (
            <Table.Tr key={r.rule}>
              <Table.Td>
                <Text size="sm" fw={500}>
                  {ruleName(r.rule)}
                </Text>
                <Text size="xs" c="dimmed">
                  <RuleDescription text={r.description} />
                </Text>
              </Table.Td>
              <Table.Td>
                <SeverityBadge severity={r.severity} />
              </Table.Td>
              <Table.Td>{r.enabled ? 'on' : 'off'}</Table.Td>
              <Table.Td>{r.threshold}</Table.Td>
              <Table.Td>{seconds(r.windowSeconds)}</Table.Td>
              <Table.Td>{seconds(r.dedupeSeconds)}</Table.Td>
              <Table.Td>{r.source === 'org' ? 'this org’s' : 'default'}</Table.Td>
              {canManage ? (
                <Table.Td>
                  <RowAction label={`Edit rule ${ruleName(r.rule)}`} onClick={() => setEditing(r)}>
                    Edit
                  </RowAction>
                </Table.Td>
              ) : null}
            </Table.Tr>
          ))}
        </ListTable>
      ) : null}
      {editing === null ? null : (
        <RuleDialog
          rule={editing}
          onClose={() => setEditing(null)}
          onSave={async (settings) => {
            await actions.setRule(editing.rule, settings)
            onDone(`Rule “${ruleName(editing.rule)}” is saved.`)
          }}
        />
      )}
    </Panel>
  )
}

/** 900 → "900 s (15 min)". */
function seconds(s: number): string {
  if (s >= 86_400 && s % 3600 === 0) return `${s} s (${s / 3600} h)`
  if (s >= 60 && s % 60 === 0) return `${s} s (${s / 60} min)`
  return `${s} s`
}

/** The bounds the API's schema sets on a rule's numbers (PUT /v1/orgs/{orgId}/alert-rules/{rule}). */
const BOUNDS = {
  threshold: { min: 1, max: 100_000 },
  windowSeconds: { min: 1, max: 31_536_000 },
  dedupeSeconds: { min: 0, max: 31_536_000 },
} as const
type Bounded = keyof typeof BOUNDS

/** Why a typed number cannot be saved, or undefined when it can: never clamped to fit. */
function outOfBounds(key: Bounded, value: number): string | undefined {
  const { min, max } = BOUNDS[key]
  if (!Number.isInteger(value)) return 'Enter a whole number.'
  if (value < min || value > max)
    return `Must be from ${min.toLocaleString('en-US')} to ${max.toLocaleString('en-US')}.`
  return undefined
}

function RuleDialog({
  rule,
  onClose,
  onSave,
}: {
  rule: AlertRule
  onClose: () => void
  onSave: (settings: RuleSettings) => Promise<void>
}) {
  const [settings, setSettings] = useState<RuleSettings>({
    enabled: rule.enabled,
    threshold: rule.threshold,
    windowSeconds: rule.windowSeconds,
    dedupeSeconds: rule.dedupeSeconds,
  })
  const number = (key: Bounded, value: string | number) =>
    setSettings({ ...settings, [key]: typeof value === 'number' ? value : Number.parseInt(value, 10) })
  const errors = {
    threshold: outOfBounds('threshold', settings.threshold),
    windowSeconds: outOfBounds('windowSeconds', settings.windowSeconds),
    dedupeSeconds: outOfBounds('dedupeSeconds', settings.dedupeSeconds),
  }
  const valid = Object.values(errors).every((e) => e === undefined)
  const input = (key: Bounded, label: string, what: string) => (
    <NumberInput
      label={label}
      description={`${what} From ${BOUNDS[key].min.toLocaleString('en-US')} to ${BOUNDS[key].max.toLocaleString('en-US')}.`}
      min={BOUNDS[key].min}
      max={BOUNDS[key].max}
      // The value typed stays as typed: out of bounds it is refused with a message, not changed.
      clampBehavior="none"
      allowDecimal={false}
      value={Number.isNaN(settings[key]) ? '' : settings[key]}
      error={errors[key]}
      onChange={(value) => number(key, value)}
    />
  )
  return (
    <ConfirmDialog
      opened
      onClose={onClose}
      title={`Rule “${ruleName(rule.rule)}”`}
      confirmLabel="Save rule"
      disabled={!valid}
      onConfirm={() => onSave(settings)}
    >
      <Text size="sm">
        <RuleDescription text={rule.description} />
      </Text>
      <Checkbox
        label="On"
        checked={settings.enabled}
        onChange={(event) => setSettings({ ...settings, enabled: event.currentTarget.checked })}
      />
      {input('threshold', 'Threshold', 'How many events within the window fire the rule.')}
      {input('windowSeconds', 'Window (seconds)', 'How far back events are counted.')}
      {input('dedupeSeconds', 'Dedupe window (seconds)', 'Firings within it are one alert.')}
    </ConfirmDialog>
  )
}
