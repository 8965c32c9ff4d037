import { useId, useState } from 'react'
import { Button, Group, Paper, Stack, Table, Text, Title } from '@mantine/core'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { when } from '../../lib/format.ts'
import { useCheckHistory, type CheckResult } from './api.ts'
import { CheckVerdictBadge, evidenceTerm, evidenceValue, scopeWords, verdictWords } from './words.tsx'

/**
 * One check's latest result (docs/compliance.md, "Live checks"): what it checks, its scope,
 * its verdict in words, the sentence that says why, its evidence as a definition list, when
 * it ran and since when the verdict holds; with `historyOrgId`, a "History" disclosure that
 * loads the check's changes of verdict in that org (GET …/compliance/history?check=) only
 * once opened.
 */
export function CheckCard({
  check,
  historyOrgId,
  headingOrder = 4,
}: {
  check: CheckResult
  historyOrgId?: string
  headingOrder?: 3 | 4 | 5
}) {
  const titleId = useId()
  const historyId = useId()
  const [open, setOpen] = useState(false)
  const evidence = Object.entries(check.evidence)
  return (
    <Paper withBorder p="sm" radius="sm" component="section" aria-labelledby={titleId} className="compliance-check">
      <Group justify="space-between" align="flex-start" wrap="nowrap" gap="sm">
        <div>
          <Title order={headingOrder} size="h6" id={titleId}>
            {check.title}
          </Title>
          <Text size="xs" c="dimmed">
            {check.check} · {scopeWords(check.scope)}
          </Text>
        </div>
        <CheckVerdictBadge verdict={check.verdict} />
      </Group>
      <Text size="sm" mt={6}>
        {check.summary}
      </Text>
      {evidence.length === 0 ? null : (
        <dl className="compliance-evidence">
          {evidence.map(([key, value]) => (
            <div key={key}>
              <dt title={key}>{evidenceTerm(key)}</dt>
              <dd>{evidenceValue(value)}</dd>
            </div>
          ))}
        </dl>
      )}
      <Group justify="space-between" mt={6} gap="sm">
        <Text size="xs" c="dimmed">
          Ran at {when(check.ranAt)} · {verdictWords(check.verdict)} since {when(check.since)}
        </Text>
        {historyOrgId === undefined ? null : (
          <Button
            variant="subtle"
            size="compact-xs"
            aria-expanded={open}
            aria-controls={historyId}
            aria-label={`History of ${check.check}`}
            onClick={() => setOpen((o) => !o)}
          >
            History
          </Button>
        )}
      </Group>
      {historyOrgId !== undefined && open ? (
        <div id={historyId}>
          <CheckHistory orgId={historyOrgId} check={check.check} />
        </div>
      ) : null}
    </Paper>
  )
}

/** A check's changes of verdict or summary, newest first (the first result too), 20 a page. */
function CheckHistory({ orgId, check }: { orgId: string; check: string }) {
  const history = useCheckHistory(orgId, check)
  const entries = history.data?.pages.flatMap((p) => p.history) ?? []
  return (
    <Stack gap="xs" mt="xs">
      <ListStatus
        query={history}
        noun="the check’s history"
        refusal="You cannot see this check’s history"
        empty={{ when: entries.length === 0, text: 'No result recorded yet.' }}
      />
      {entries.length === 0 ? null : (
        <ListTable label={`History of ${check}`} columns={['When', 'Verdict', 'Summary']} fz="sm">
          {entries.map((entry) => (
            <Table.Tr key={entry.id}>
              <Table.Th scope="row" fw={400}>
                {when(entry.ranAt)}
              </Table.Th>
              <Table.Td>
                <CheckVerdictBadge verdict={entry.verdict} />
                <Text size="xs" c="dimmed">
                  {entry.previousVerdict === null ? 'first result' : `was ${verdictWords(entry.previousVerdict)}`}
                </Text>
              </Table.Td>
              <Table.Td>{entry.summary}</Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      )}
      <LoadMore query={history} label="Load older changes" />
    </Stack>
  )
}
