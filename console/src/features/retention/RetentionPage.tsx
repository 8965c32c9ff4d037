import { useMemo, useState, type SyntheticEvent } from 'react'
import {
  Anchor,
  Button,
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
import { Link, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Dialog } from '../../components/Dialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import {
  age,
  period,
  usePolicies,
  useRetentionActions,
  useRuns,
  type ClassProof,
  type RetentionPolicy,
  type RetentionRun,
} from './api.ts'
import './retention.css'
import { PermissionName } from '../../components/PermissionScope.tsx'

/** The class being given a period: one listed (its name fixed) or a new one (`dataClass` empty). */
type Editing = { dataClass: string; retainSeconds: number | null; isNew: boolean }

/**
 * Retention (P7.3): how long each data class is kept — the org's own periods over the
 * defaults — changed here with `retention:manage`, and the proof each purge records
 * (per class purged, remaining, the age of the oldest remaining record), the last purge's
 * first, with its `retention.purge` audit event.
 */
export function RetentionPage({ canManage }: { canManage: boolean }) {
  const { orgId = '' } = useParams()
  const policies = usePolicies(orgId)
  const actions = useRetentionActions(orgId)
  const [editing, setEditing] = useState<Editing | null>(null)
  const [notice, setNotice] = useState<string | null>(null)
  const reset = useAction()
  const list = policies.data?.policies ?? []

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="xs">
        Retention
      </Title>
      <Text size="sm" mb="md">
        Each customer data record is deleted once it is older than its data class’s period. A purge job removes what is
        due and records proof of every purge: how many records it removed, how many remain and how old the oldest one
        is.
      </Text>
      <Stack gap="lg">
        <Panel title="Periods by data class">
          <Stack gap="sm">
            <Notice title="Saved" message={notice} onClose={() => setNotice(null)} />
            <ActionProblem error={reset.error} title="Not reset" />
            <ListStatus query={policies} noun="retention periods" refusal="You cannot see this org’s retention" />
            {list.length > 0 ? (
              <ListTable
                label="Retention periods"
                columns={['Data class', 'Kept for', 'Set by', canManage ? 'Actions' : null]}
              >
                {list.map((p) => (
                  <PolicyRow
                    key={p.dataClass}
                    policy={p}
                    canManage={canManage}
                    pending={reset.pending}
                    onEdit={() => setEditing({ ...p, isNew: false })}
                    onReset={async () => {
                      setNotice(null)
                      let back: RetentionPolicy | undefined
                      const done = await reset.run(async () => {
                        back = await actions.reset(p.dataClass)
                      })
                      if (done && back !== undefined)
                        setNotice(`${p.dataClass} is back to the default: ${period(back.retainSeconds)}.`)
                    }}
                  />
                ))}
              </ListTable>
            ) : null}
            {canManage ? (
              <Group>
                <Button
                  variant="default"
                  onClick={() => setEditing({ dataClass: '', retainSeconds: 86_400, isNew: true })}
                >
                  Set a period for another data class
                </Button>
              </Group>
            ) : (
              <Text c="dimmed" size="sm">
                Changing a period needs <PermissionName permission="retention:manage" />.
              </Text>
            )}
          </Stack>
        </Panel>
        <Runs orgId={orgId} />
      </Stack>
      <Dialog
        open={editing !== null}
        title={editing?.isNew === true ? 'A period for a data class' : `The period of ${editing?.dataClass ?? ''}`}
        onClose={() => setEditing(null)}
      >
        {editing !== null ? (
          <PeriodForm
            editing={editing}
            onCancel={() => setEditing(null)}
            save={async (dataClass, retainSeconds) => {
              const set = await actions.set(dataClass, retainSeconds)
              setEditing(null)
              setNotice(
                `${set.dataClass} is now ${set.retainSeconds === null ? '' : 'kept for '}${period(set.retainSeconds)}.`,
              )
            }}
          />
        ) : null}
      </Dialog>
    </Container>
  )
}

function PolicyRow({
  policy,
  canManage,
  pending,
  onEdit,
  onReset,
}: {
  policy: RetentionPolicy
  canManage: boolean
  pending: boolean
  onEdit: () => void
  onReset: () => Promise<void>
}) {
  return (
    <Table.Tr>
      <Table.Th scope="row" fw={500}>
        {policy.dataClass}
      </Table.Th>
      <Table.Td>{period(policy.retainSeconds)}</Table.Td>
      <Table.Td>{policy.source === 'org' ? 'this org' : 'the default'}</Table.Td>
      {canManage ? (
        <Table.Td>
          <Group gap="xs">
            <RowAction label={`Change the period of ${policy.dataClass}`} onClick={onEdit}>
              Change
            </RowAction>
            {policy.source === 'org' ? (
              <RowAction
                label={`Reset ${policy.dataClass} to the default`}
                onClick={() => void onReset()}
                disabled={pending}
              >
                Reset
              </RowAction>
            ) : null}
          </Group>
        </Table.Td>
      ) : null}
    </Table.Tr>
  )
}

const UNIT_SECONDS = [
  { value: '86400', label: 'days' },
  { value: '3600', label: 'hours' },
  { value: '60', label: 'minutes' },
  { value: '1', label: 'seconds' },
]

/** The largest unit a period is a whole number of (seconds at worst). */
function unitOf(seconds: number): number {
  return [86_400, 3600, 60].find((size) => seconds % size === 0) ?? 1
}

/**
 * A class's period: a number and a unit, or "until erased". The bounds are the API's (a
 * minute to ten years, whole seconds): what it refuses shows on the number.
 */
function PeriodForm({
  editing,
  onCancel,
  save,
}: {
  editing: Editing
  onCancel: () => void
  save: (dataClass: string, retainSeconds: number | null) => Promise<void>
}) {
  const start = editing.retainSeconds ?? 86_400
  const [dataClass, setDataClass] = useState(editing.dataClass)
  const [forever, setForever] = useState(editing.retainSeconds === null)
  const [amount, setAmount] = useState<number | string>(start / unitOf(start))
  const [unit, setUnit] = useState(String(unitOf(start)))
  const action = useAction()
  // A data class the API refuses is named in the address (/params/dataClass).
  const classError = action.problem?.errors.find((e) => e.path.startsWith('/params/dataClass'))?.message
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    const seconds = forever ? null : Number(amount) * Number(unit)
    await action.run(() => save(dataClass.trim(), seconds))
  }
  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={action.error} title="Not saved" />
        {editing.isNew ? (
          <TextInput
            label="Data class"
            description="As the records name it: lower-case letters, digits and _ (e.g. contact, usage)"
            required
            value={dataClass}
            onChange={(e) => setDataClass(e.currentTarget.value)}
            error={classError}
            data-autofocus
          />
        ) : null}
        <Checkbox
          label="Keep until erased (no period)"
          checked={forever}
          onChange={(e) => setForever(e.currentTarget.checked)}
        />
        {forever ? null : (
          <Group align="flex-start" gap="sm">
            <NumberInput
              label="Keep for"
              description="From a minute to ten years"
              value={amount}
              onChange={setAmount}
              allowDecimal
              error={action.problem?.fieldError('retainSeconds')}
            />
            <NativeSelect
              label="Unit"
              data={UNIT_SECONDS}
              value={unit}
              onChange={(e) => setUnit(e.currentTarget.value)}
            />
          </Group>
        )}
        <Group justify="flex-end" gap="sm">
          <Button variant="default" onClick={onCancel}>
            Cancel
          </Button>
          <Button type="submit" loading={action.pending} disabled={dataClass.trim() === ''}>
            Save period
          </Button>
        </Group>
      </Stack>
    </form>
  )
}

/** The runs that purged something are the proof; the others (at least one an hour) show the job ran. */
function Runs({ orgId }: { orgId: string }) {
  const runs = useRuns(orgId)
  const all = useMemo(() => runs.data?.pages.flatMap((p) => p.runs) ?? [], [runs.data])
  const last = all.find((r) => r.purged > 0)
  return (
    <>
      <Panel
        title="Last purge"
        description="The proof the last purge that removed records recorded: per data class, what it removed and what remains."
      >
        {runs.isSuccess && last === undefined ? (
          <Text c="dimmed">
            {runs.hasNextPage ? 'No purge among the runs loaded.' : 'No purge has removed records yet.'}
          </Text>
        ) : null}
        {last !== undefined ? <PurgeProof orgId={orgId} run={last} /> : null}
        {runs.isPending || runs.isError ? (
          <ListStatus query={runs} noun="the last purge" refusal="You cannot see this org’s purges" />
        ) : null}
      </Panel>
      <Stack gap="sm" component="section" aria-labelledby="retention-runs-title">
        <Group justify="space-between">
          <Title order={2} size="h4" id="retention-runs-title">
            Purge runs
          </Title>
          <Button variant="default" onClick={() => void runs.refetch()} loading={runs.isRefetching}>
            Refresh
          </Button>
        </Group>
        <ListStatus
          query={runs}
          noun="purge runs"
          refusal="You cannot list this org’s purge runs"
          empty={{ when: all.length === 0, text: 'No purge run yet: the job records one once the org holds records.' }}
        />
        {all.length > 0 ? (
          <ListTable striped label="Purge runs" columns={['Ran', 'Records purged', 'Per data class']}>
            {all.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Td>{when(r.ranAt)}</Table.Td>
                <Table.Td>{r.purged}</Table.Td>
                <Table.Td>
                  {r.classes.length === 0
                    ? '—'
                    : r.classes.map((c) => `${c.dataClass}: ${c.purged} purged, ${c.remaining} remain`).join('; ')}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={runs} />
      </Stack>
    </>
  )
}

/** One purge's proof, with the audit event the purge recorded (`retention.purge`, its target the run). */
function PurgeProof({ orgId, run }: { orgId: string; run: RetentionRun }) {
  const audit = new URLSearchParams({ action: 'retention.purge', target: run.id })
  return (
    <Stack gap="xs">
      <Table aria-label="Last purge" variant="vertical" withTableBorder>
        <Table.Tbody>
          <Table.Tr>
            <Table.Th scope="row">Ran</Table.Th>
            <Table.Td>{when(run.ranAt)}</Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Records purged</Table.Th>
            <Table.Td>{run.purged}</Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Run id</Table.Th>
            <Table.Td className="retention-id">{run.id}</Table.Td>
          </Table.Tr>
          <Table.Tr>
            <Table.Th scope="row">Audit event</Table.Th>
            <Table.Td>
              <Anchor component={Link} to={`/orgs/${orgId}/audit?${audit.toString()}`}>
                retention.purge of this run in the audit log
              </Anchor>
            </Table.Td>
          </Table.Tr>
        </Table.Tbody>
      </Table>
      <ProofTable classes={run.classes} />
    </Stack>
  )
}

function ProofTable({ classes }: { classes: ClassProof[] }) {
  return (
    <ListTable
      label="Last purge by data class"
      columns={['Data class', 'Period then', 'Purged', 'Remaining', 'Oldest remaining']}
    >
      {classes.map((c) => (
        <Table.Tr key={c.dataClass}>
          <Table.Th scope="row" fw={500}>
            {c.dataClass}
          </Table.Th>
          <Table.Td>{period(c.retainSeconds)}</Table.Td>
          <Table.Td>{c.purged}</Table.Td>
          <Table.Td>{c.remaining}</Table.Td>
          <Table.Td>{age(c.oldestRemainingAgeSeconds)}</Table.Td>
        </Table.Tr>
      ))}
    </ListTable>
  )
}
