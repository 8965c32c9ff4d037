import { useState, type SyntheticEvent } from 'react'
import { Anchor, Button, NativeSelect, Stack, Table, Text, TextInput } from '@mantine/core'
import { Link, useNavigate, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { useIncidents, usePlan, useResponseActions, type Incident } from './api.ts'
import { SeverityBadge, SeveritySelect, StatusBadge, when, type Severity } from './ui.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

/**
 * The org's incidents, newest first, each with its severity, status, escalation level and
 * whether it was confirmed as a breach; and a form to open one (incidents:manage),
 * optionally of a type of the response plan, whose playbook becomes its steps.
 */
export function IncidentsPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const incidents = useIncidents(orgId)
  const all: Incident[] = incidents.data?.pages.flatMap((p) => p.incidents) ?? []
  return (
    <ListPage
      title="Incidents"
      aside={
        canManage ? (
          <OpenIncidentForm orgId={orgId} />
        ) : (
          <Text size="sm" c="dimmed">
            Opening an incident needs <PermissionName permission="incidents:manage" />, which your role does not hold.
          </Text>
        )
      }
    >
      <Stack gap="sm">
        <ListStatus
          query={incidents}
          noun="incidents"
          refusal="You cannot list this org’s incidents"
          empty={{ when: all.length === 0, text: 'No incidents yet.' }}
        />
        {all.length > 0 ? (
          <ListTable
            striped
            label="Incidents"
            columns={['Incident', 'Severity', 'Status', 'Opened', 'Escalation', 'Breach']}
          >
            {all.map((i) => (
              <Table.Tr key={i.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${orgId}/incidents/${i.id}`} fw={500}>
                    {i.title}
                  </Anchor>
                </Table.Td>
                <Table.Td>
                  <SeverityBadge severity={i.severity} />
                </Table.Td>
                <Table.Td>
                  <StatusBadge status={i.status} />
                </Table.Td>
                <Table.Td>{when(i.openedAt)}</Table.Td>
                <Table.Td>{escalation(i)}</Table.Td>
                <Table.Td>{i.breach === null ? 'no' : `confirmed ${when(i.breach.confirmedAt)}`}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={incidents} />
      </Stack>
    </ListPage>
  )
}

/** Where the escalation policy stands: stopped once acknowledged, else the level reached. */
export function escalation(incident: Pick<Incident, 'acknowledgedAt' | 'escalationLevel'>): string {
  const level = incident.escalationLevel === 0 ? 'not escalated yet' : `escalated to level ${incident.escalationLevel}`
  return incident.acknowledgedAt === null
    ? `running, ${level}`
    : `stopped when acknowledged, ${level.replace(' yet', '')}`
}

function OpenIncidentForm({ orgId }: { orgId: string }) {
  const plan = usePlan(orgId)
  const actions = useResponseActions(orgId)
  const navigate = useNavigate()
  const { run, pending, error, field } = useAction()
  const [title, setTitle] = useState('')
  const [severity, setSeverity] = useState<Severity | ''>('')
  const [typeId, setTypeId] = useState('')
  const types = plan.data?.types ?? []
  const type = types.find((t) => t.id === typeId)
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    let id = ''
    const ok = await run(async () => {
      const incident = await actions.openIncident({
        title: title.trim(),
        ...(severity === '' ? {} : { severity }),
        ...(typeId === '' ? {} : { typeId }),
      })
      id = incident.id
    })
    if (ok) await navigate(`/orgs/${orgId}/incidents/${id}`)
  }
  return (
    <Panel
      title="Open an incident"
      description="Its owners and admins are told at once; escalation runs until it is acknowledged."
    >
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="The incident was not opened" />
          <TextInput label="Title" required maxLength={200} {...field('title', title, setTitle)} />
          <NativeSelect
            label="Type"
            description="A type’s playbook becomes the incident’s steps."
            data={[{ value: '', label: 'No type' }, ...types.map((t) => ({ value: t.id, label: t.name }))]}
            value={typeId}
            onChange={(event) => setTypeId(event.currentTarget.value)}
          />
          <SeveritySelect
            label="Severity"
            description="Left as the type’s default (medium without a type)."
            fallback={type === undefined ? 'medium' : `${type.defaultSeverity}, the type’s`}
            value={severity}
            onChange={setSeverity}
          />
          <Button type="submit" loading={pending} disabled={title.trim() === ''}>
            Open incident
          </Button>
        </Stack>
      </form>
    </Panel>
  )
}
