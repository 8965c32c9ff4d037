import { useState, type ReactNode } from 'react'
import {
  Anchor,
  Badge,
  Button,
  Checkbox,
  Container,
  Group,
  NativeSelect,
  Paper,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
} from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useReport, useReportActions, type Report, type ReportUpdate } from './api.ts'
import { Deadline, useNow } from './ReportsPage.tsx'
import './disclosure.css'

const STATUSES = ['triaged', 'fixing', 'resolved', 'rejected', 'duplicate'] as const
const SEVERITIES = ['low', 'medium', 'high', 'critical'] as const

/**
 * One vulnerability report (P9.1): its details, attachments (downloaded as files, never
 * shown; each download is audited), the reporter's contact and the conversation. The team
 * acknowledges it (its first message to the reporter), writes to the reporter, changes
 * status or severity, or adds an internal note the reporter never sees.
 */
export function ReportDetailPage() {
  const { reportId = '' } = useParams()
  const report = useReport(reportId)
  const now = useNow()
  const [notice, setNotice] = useState<string | null>(null)
  return (
    <Container size="lg" py="md">
      <Anchor component={Link} to="/operator/vulnerability-reports" size="sm">
        ← All vulnerability reports
      </Anchor>
      {report.isPending ? <PageLoader label="Loading the report" /> : null}
      {report.isError ? <ProblemAlert error={report.error} title="You cannot see this report" /> : null}
      {report.isSuccess ? (
        <Stack gap="lg" mt="sm">
          <Group justify="space-between" align="flex-start">
            <div>
              <Title order={1}>{report.data.title}</Title>
              <Text c="dimmed">
                {report.data.reference} · received {when(report.data.receivedAt)}
              </Text>
            </div>
            <Badge size="lg" variant="filled" color="blue.9" aria-label={`Status: ${report.data.status}`}>
              {report.data.status}
            </Badge>
          </Group>
          <Notice message={notice} onClose={() => setNotice(null)} />
          <Table aria-label="Report" variant="vertical" withTableBorder>
            <Table.Tbody>
              <Fact label="Acknowledgement">
                <Deadline report={report.data} now={now} />
              </Fact>
              <Fact label="Severity">
                {report.data.severity ?? 'not set'}
                {report.data.reportedSeverity === null ? '' : ` (reporter's estimate: ${report.data.reportedSeverity})`}
              </Fact>
              <Fact label="Where">{report.data.location}</Fact>
              <Fact label="Impact">
                <Text className="disclosure-text">{report.data.impact}</Text>
              </Fact>
              <Fact label="Steps to reproduce">
                <Text className="disclosure-text">{report.data.steps}</Text>
              </Fact>
              <Fact label="Reporter">{reporterOf(report.data)}</Fact>
              <Fact label="Attachments">
                {report.data.attachments.length === 0 ? (
                  'none'
                ) : (
                  <Stack gap={2}>
                    {report.data.attachments.map((a) => (
                      <Anchor
                        key={a.idx}
                        href={`/v1/operator/vulnerability-reports/${report.data.id}/attachments/${a.idx}`}
                        download={a.filename}
                      >
                        Download {a.filename} ({a.size} bytes, {a.contentType})
                      </Anchor>
                    ))}
                  </Stack>
                )}
              </Fact>
            </Table.Tbody>
          </Table>
          <Conversation report={report.data} />
          {report.data.acknowledgedAt === null ? <AcknowledgeForm reportId={reportId} onDone={setNotice} /> : null}
          <UpdateForm report={report.data} onDone={setNotice} />
        </Stack>
      ) : null}
    </Container>
  )
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <Table.Tr>
      <Table.Th scope="row" w={200}>
        {label}
      </Table.Th>
      <Table.Td>{children}</Table.Td>
    </Table.Tr>
  )
}

function reporterOf(report: Report): string {
  if (report.reporterErased) return 'erased at their request'
  if (report.reporter === null) return 'anonymous (no contact given)'
  const { name, email, credit } = report.reporter
  return [name, email, credit ? 'wants credit' : null].filter((p) => p !== null).join(' · ')
}

function Conversation({ report }: { report: Report }) {
  return (
    <Panel
      title="Conversation"
      description="What the reporter sees on their status page, and the team's internal notes."
    >
      {report.messages.length === 0 ? (
        <Text c="dimmed">No messages yet.</Text>
      ) : (
        <Stack gap="sm" component="ol" className="disclosure-messages">
          {report.messages.map((m) => (
            <Paper key={m.id} component="li" withBorder p="sm" radius="sm">
              <Group gap="xs">
                <Text fw={600} size="sm">
                  {m.from === 'team' ? `Team${m.byEmail === null ? '' : ` (${m.byEmail})`}` : 'Reporter'}
                </Text>
                {m.internal ? (
                  <Badge color="dark" variant="outline">
                    internal note
                  </Badge>
                ) : null}
                {m.status === null ? null : (
                  <Badge variant="filled" color="blue.9">
                    status: {m.status}
                  </Badge>
                )}
                <Text size="sm" c="dimmed">
                  {when(m.at)}
                </Text>
              </Group>
              {m.message === null ? null : <Text className="disclosure-text">{m.message}</Text>}
            </Paper>
          ))}
        </Stack>
      )}
    </Panel>
  )
}

function AcknowledgeForm({ reportId, onDone }: { reportId: string; onDone: (notice: string) => void }) {
  const { acknowledge } = useReportActions(reportId)
  const action = useAction()
  const [message, setMessage] = useState('')
  return (
    <Panel title="Acknowledge" description="The first message to the reporter: it stops the acknowledgement clock.">
      <form
        onSubmit={(e) => {
          e.preventDefault()
          void action
            .run(() => acknowledge.mutateAsync(message))
            .then((ok) => {
              if (!ok) return
              setMessage('')
              onDone('The report is acknowledged; the reporter sees your message.')
            })
        }}
      >
        <Stack gap="sm">
          <Textarea
            label="Message to the reporter"
            required
            autosize
            minRows={3}
            {...action.field('message', message, setMessage)}
          />
          <ActionProblem error={action.error} title="The report could not be acknowledged" />
          <Group>
            <Button type="submit" loading={action.pending}>
              Acknowledge
            </Button>
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}

function UpdateForm({ report, onDone }: { report: Report; onDone: (notice: string) => void }) {
  const { update } = useReportActions(report.id)
  const action = useAction()
  const [status, setStatus] = useState('')
  const [severity, setSeverity] = useState('')
  const [message, setMessage] = useState('')
  const [internal, setInternal] = useState(false)
  const submit = () => {
    const body: ReportUpdate = {
      ...(status === '' ? {} : { status: status as NonNullable<ReportUpdate['status']> }),
      ...(severity === '' ? {} : { severity: severity as NonNullable<ReportUpdate['severity']> }),
      ...(message.trim() === '' ? {} : { message }),
      ...(internal ? { internal: true } : {}),
    }
    void action
      .run(() => update.mutateAsync(body))
      .then((ok) => {
        if (!ok) return
        setStatus('')
        setSeverity('')
        setMessage('')
        setInternal(false)
        onDone(internal ? 'The note is added (the reporter does not see it).' : 'The update is sent to the reporter.')
      })
  }
  return (
    <Panel
      title="Reply or change status"
      description="A message and a status change reach the reporter; an internal note stays with the team."
    >
      <form
        onSubmit={(e) => {
          e.preventDefault()
          submit()
        }}
      >
        <Stack gap="sm">
          <Group grow align="flex-start">
            <NativeSelect
              label="New status"
              value={status}
              onChange={(e) => setStatus(e.currentTarget.value)}
              data={[
                { value: '', label: `No change (${report.status})` },
                ...STATUSES.map((s) => ({ value: s, label: s })),
              ]}
            />
            <NativeSelect
              label="Severity"
              value={severity}
              onChange={(e) => setSeverity(e.currentTarget.value)}
              data={[
                { value: '', label: `No change (${report.severity ?? 'not set'})` },
                ...SEVERITIES.map((s) => ({ value: s, label: s })),
              ]}
            />
          </Group>
          <Textarea label="Message" autosize minRows={3} {...action.field('message', message, setMessage)} />
          <Checkbox
            label="Internal note (not sent to the reporter)"
            checked={internal}
            onChange={(e) => setInternal(e.currentTarget.checked)}
          />
          <ActionProblem error={action.error} title="The update was refused" />
          <Group>
            <Button type="submit" loading={action.pending}>
              {internal ? 'Add the note' : 'Send the update'}
            </Button>
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}
