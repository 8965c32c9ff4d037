import { useEffect, useState } from 'react'
import { Anchor, Badge, Container, Group, NativeSelect, Stack, Table, Text, Title } from '@mantine/core'
import { Link } from 'react-router'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { when } from '../../lib/format.ts'
import { timeLeft, useReports, type Filter, type ReportSummary } from './api.ts'

/** The clock a deadline is shown against, ticking each minute. */
export function useNow(everyMs = 60_000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), everyMs)
    return () => window.clearInterval(timer)
  }, [everyMs])
  return now
}

/** Business days left as the server counts them (its calendar: weekends, holidays, time zone). */
function businessDaysLeft(days: number): string {
  if (days === 0) return 'due today'
  return days === 1 ? '1 business day left' : `${days} business days left`
}

/** The acknowledgement deadline: when, and the business days left (or "acknowledged"). */
export function Deadline({ report, now }: { report: ReportSummary; now: number }) {
  if (report.acknowledgedAt !== null) return <Text size="sm">Acknowledged {when(report.acknowledgedAt)}</Text>
  return (
    <Stack gap={2}>
      <Text size="sm">Due {when(report.acknowledgementDueAt)}</Text>
      <Group gap={4}>
        {report.overdue ? (
          <Badge color="red.9" variant="filled">
            Overdue
          </Badge>
        ) : null}
        <Text size="sm" fw={600} c={report.overdue ? 'red.9' : undefined}>
          {report.businessDaysLeft === null
            ? timeLeft(report.acknowledgementDueAt, now)
            : businessDaysLeft(report.businessDaysLeft)}
        </Text>
      </Group>
    </Stack>
  )
}

/**
 * The security team's inbox (P9.1): vulnerability reports, newest first, 50 a page, each
 * with its acknowledgement deadline (counted in business days at receipt) and the time
 * left; open ones by default. Opening a report shows its details and the conversation.
 */
export function ReportsPage() {
  const [filter, setFilter] = useState<Filter>('open')
  const reports = useReports(filter)
  const now = useNow()
  const all = reports.data?.pages.flatMap((p) => p.reports) ?? []
  return (
    <Container size="xl" py="md">
      <Anchor component={Link} to="/operator" size="sm">
        ← Operator overview
      </Anchor>
      <Title order={1} mb="xs" mt="sm">
        Vulnerability reports
      </Title>
      <Text c="dimmed" size="sm" mb="md">
        Reports sent through the public form or the API. Each must be acknowledged within the deadline set at receipt,
        counted in business days.
      </Text>
      <Stack gap="sm">
        <NativeSelect
          label="Show"
          value={filter}
          onChange={(e) => setFilter(e.currentTarget.value as Filter)}
          data={[
            { value: 'open', label: 'Open reports' },
            { value: 'all', label: 'All reports' },
          ]}
          w={220}
        />
        <ListStatus
          query={reports}
          noun="vulnerability reports"
          refusal="You cannot see vulnerability reports"
          empty={{ when: all.length === 0, text: filter === 'open' ? 'No open reports.' : 'No reports yet.' }}
        />
        {all.length > 0 ? (
          <ListTable
            label="Vulnerability reports"
            striped
            columns={['Reference', 'Title', 'Status', 'Severity', 'Received', 'Acknowledgement']}
          >
            {all.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/operator/vulnerability-reports/${r.id}`}>
                    {r.reference}
                  </Anchor>
                </Table.Td>
                <Table.Td>{r.title}</Table.Td>
                <Table.Td>{r.status}</Table.Td>
                <Table.Td>
                  {r.severity ?? (r.reportedSeverity === null ? '—' : `${r.reportedSeverity} (reported)`)}
                </Table.Td>
                <Table.Td>{when(r.receivedAt)}</Table.Td>
                <Table.Td>
                  <Deadline report={r} now={now} />
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={reports} />
      </Stack>
    </Container>
  )
}
