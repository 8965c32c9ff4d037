import { useId, useState } from 'react'
import { Button, Checkbox, Container, Group, Paper, Stack, Table, Text, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { counted } from '../../lib/plural.ts'
import { useEvaluateNow, useRuns, useStanding, type PromiseStanding, type Run, type Standing } from './api.ts'
import { CheckCard } from './CheckCard.tsx'
import { DocumentsPanel } from './DocumentsPanel.tsx'
import { intervalWords, PromiseVerdictBadge, triggerWords } from './words.tsx'
import './compliance.css'

/** A run's counts in a sentence: "41 checks pass, 3 fail, 6 not applicable". */
const runCounts = (run: Run) =>
  `${counted(run.passed, 'check')} pass, ${run.failed} fail, ${run.notApplicable} not applicable`

/**
 * The org's compliance (issue 15; docs/compliance.md): every promise of docs/promises.md with
 * its live checks — the summary, the last run and the schedule, "Evaluate now"
 * (compliance:run), the signed report and security policy as files with their signatures,
 * the promises by area (those not met can be shown alone), each check's evidence and history,
 * and the runs. Reading needs compliance:read; without it the page shows the API's refusal.
 */
export function CompliancePage({ canRun }: { canRun: boolean }) {
  const { orgId = '' } = useParams()
  const standing = useStanding(orgId)
  const data = standing.data
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="xs">
        Compliance
      </Title>
      <Text size="sm" mb="md">
        Each of Custodian’s promises with the live checks that prove it here: the service’s own (the deployment as a
        whole) and this org’s.
      </Text>
      <Stack gap="md">
        <ListStatus query={standing} noun="the org’s compliance" refusal="You cannot see this org’s compliance" />
        {data === undefined ? null : (
          <>
            <SummaryPanel orgId={orgId} standing={data} canRun={canRun} />
            <DocumentsPanel orgId={orgId} />
            <Promises orgId={orgId} promises={data.promises} />
            <RunsPanel orgId={orgId} />
          </>
        )}
      </Stack>
    </Container>
  )
}

/** The figures, the last run (when, how started, its counts), the schedule, and "Evaluate now". */
function SummaryPanel({ orgId, standing, canRun }: { orgId: string; standing: Standing; canRun: boolean }) {
  const evaluateNow = useEvaluateNow(orgId)
  const evaluation = useAction()
  const [notice, setNotice] = useState<string | null>(null)
  const { promises, checks } = standing.summary
  const last = standing.lastRun
  return (
    <Panel title="Summary">
      <Stack gap="xs">
        <dl className="compliance-figures">
          <div>
            <dt>Promises met</dt>
            <dd>{promises.met}</dd>
          </div>
          <div>
            <dt>Promises not met</dt>
            <dd>{promises.notMet}</dd>
          </div>
          <div>
            <dt>Promises not applicable</dt>
            <dd>{promises.notApplicable}</dd>
          </div>
          <div>
            <dt>Checks</dt>
            <dd>
              {checks.pass} pass, {checks.fail} fail, {checks.notApplicable} not applicable
            </dd>
          </div>
          <div>
            <dt>Last run</dt>
            <dd>
              {last === null
                ? 'not evaluated yet'
                : `${when(last.finishedAt)}, ${triggerWords(last.trigger)}: ${runCounts(last)}`}
            </dd>
          </div>
          <div>
            <dt>Evaluated</dt>
            <dd>every {intervalWords(standing.intervalSeconds)}, and on demand</dd>
          </div>
        </dl>
        {canRun ? (
          <Group>
            <Button
              loading={evaluation.pending}
              onClick={() =>
                void evaluation.run(async () => {
                  setNotice(null)
                  const run = await evaluateNow()
                  setNotice(`Evaluated now: ${runCounts(run)}.`)
                })
              }
            >
              Evaluate now
            </Button>
          </Group>
        ) : (
          <Text size="sm" c="dimmed">
            Evaluating now needs <PermissionName permission="compliance:run" />, which your role does not hold; the
            checks also run on their schedule.
          </Text>
        )}
        <Notice message={notice} onClose={() => setNotice(null)} />
        <ProblemAlert error={evaluation.error} title="The evaluation was refused" />
      </Stack>
    </Panel>
  )
}

/** The promises by area, in the catalogue's order; "Not met only" leaves the others out. */
function Promises({ orgId, promises }: { orgId: string; promises: PromiseStanding[] }) {
  const [notMetOnly, setNotMetOnly] = useState(false)
  const headingId = useId()
  const shown = notMetOnly ? promises.filter((p) => p.verdict === 'not_met') : promises
  const areas = [...new Set(shown.map((p) => p.area))]
  return (
    <section aria-labelledby={headingId}>
      <Group justify="space-between" mb="sm">
        <Title order={2} size="h3" id={headingId}>
          Promises
        </Title>
        <Checkbox
          label="Not met only"
          checked={notMetOnly}
          onChange={(event) => setNotMetOnly(event.currentTarget.checked)}
        />
      </Group>
      {shown.length === 0 ? <Text c="dimmed">Every promise is met or does not apply here.</Text> : null}
      <Stack gap="lg">
        {areas.map((area) => (
          <Stack key={area} gap="sm">
            <Title order={3} size="h4">
              {area}
            </Title>
            {shown
              .filter((p) => p.area === area)
              .map((p) => (
                <PromiseCard key={p.id} orgId={orgId} promise={p} />
              ))}
          </Stack>
        ))}
      </Stack>
    </section>
  )
}

/** The frameworks a promise maps to, one line ("SOC 2: CC6.1 · ISO/IEC 27001: A.8.24 · GDPR: Art. 32"). */
function frameworkWords(frameworks: PromiseStanding['frameworks']): string {
  const parts: string[] = []
  if (frameworks.soc2.length > 0) parts.push(`SOC 2: ${frameworks.soc2.join(', ')}`)
  if (frameworks.iso27001.length > 0) parts.push(`ISO/IEC 27001: ${frameworks.iso27001.join(', ')}`)
  if (frameworks.gdpr.length > 0) parts.push(`GDPR: ${frameworks.gdpr.join(', ')}`)
  return parts.length === 0 ? 'no framework mapping' : parts.join(' · ')
}

/** A promise: its words, its verdict, the frameworks it answers to, what enforces it, and its checks. */
function PromiseCard({ orgId, promise }: { orgId: string; promise: PromiseStanding }) {
  const titleId = useId()
  return (
    <Paper
      withBorder
      p="md"
      radius="md"
      component="article"
      aria-labelledby={titleId}
      className={promise.verdict === 'not_met' ? 'compliance-promise compliance-not-met' : 'compliance-promise'}
    >
      <Group justify="space-between" align="flex-start" wrap="nowrap" gap="sm">
        <Title order={4} size="h5" id={titleId}>
          {promise.id} · {promise.promise}
        </Title>
        <PromiseVerdictBadge verdict={promise.verdict} />
      </Group>
      <Text size="xs" c="dimmed" mt={4}>
        {frameworkWords(promise.frameworks)}
      </Text>
      <Text size="xs" c="dimmed">
        Enforced by: {promise.enforcedBy}
      </Text>
      <Stack gap="xs" mt="sm">
        {promise.checks.length === 0 ? <Text size="sm">No check has run for it yet.</Text> : null}
        {promise.checks.map((check) => (
          <CheckCard key={check.check} check={check} historyOrgId={orgId} headingOrder={5} />
        ))}
      </Stack>
    </Paper>
  )
}

/** The evaluations, newest first, 20 a page: the record that the checks run regularly (P5.4). */
function RunsPanel({ orgId }: { orgId: string }) {
  const runs = useRuns(orgId)
  const all = runs.data?.pages.flatMap((p) => p.runs) ?? []
  return (
    <Panel title="Runs" description="Every evaluation of the org, scheduled or on demand, newest first.">
      <Stack gap="sm">
        <ListStatus
          query={runs}
          noun="the runs"
          refusal="You cannot see the runs"
          empty={{ when: all.length === 0, text: 'No evaluation yet.' }}
        />
        {all.length === 0 ? null : (
          <ListTable label="Runs" columns={['Finished', 'Trigger', 'Pass', 'Fail', 'Not applicable']}>
            {all.map((run) => (
              <Table.Tr key={run.id}>
                <Table.Th scope="row" fw={400}>
                  {when(run.finishedAt)}
                </Table.Th>
                <Table.Td>{triggerWords(run.trigger)}</Table.Td>
                <Table.Td>{run.passed}</Table.Td>
                <Table.Td>{run.failed}</Table.Td>
                <Table.Td>{run.notApplicable}</Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        )}
        <LoadMore query={runs} label="Load older runs" />
      </Stack>
    </Panel>
  )
}
