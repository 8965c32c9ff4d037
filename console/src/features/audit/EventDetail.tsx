import { useEffect, useRef } from 'react'
import { Button, Code, CloseButton, Group, Paper, Stack, Table, Text, Title } from '@mantine/core'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { describeDetails, describeEventAction } from '../../lib/describe.ts'
import { useOrgPeople } from '../../lib/people.ts'
import { fetchReceipt, saveFile, type AuditEvent } from './api.ts'
import { actorWords } from './actor.ts'

/**
 * Every field of one event, its place in the chain, and its receipt as a file. The action
 * and details read in words (members by email), the recorded action key and JSON kept for
 * the expert who looks them up.
 */
export function EventDetail({ orgId, event, onClose }: { orgId: string; event: AuditEvent; onClose: () => void }) {
  const heading = useRef<HTMLHeadingElement>(null)
  const receipt = useAction()
  const people = useOrgPeople(orgId)
  const names = new Map((people.data?.members ?? []).map((m): [string, string] => [m.userId, m.email]))
  const { setError } = receipt
  useEffect(() => {
    heading.current?.focus()
    setError(null)
  }, [event.id, setError])

  const rows: [string, string][] = [
    ['Id', event.id],
    ['Time', event.time],
    ['Action', `${describeEventAction(event.action, event.outcome)} (${event.action})`],
    ['Outcome', event.outcome],
    ['Origin', event.origin === 'application' ? 'the host application (recorded through the API)' : 'Custodian'],
    ['Actor', `${actorWords(event)} (${event.actor.type}${event.actor.id === null ? '' : ` ${event.actor.id}`})`],
    [
      'Target',
      event.target === null ? '—' : `${event.target.type}${event.target.id === null ? '' : ` ${event.target.id}`}`,
    ],
    ['IP address', event.ip ?? '—'],
    ['User agent', event.userAgent ?? '—'],
    ['Request id', event.requestId ?? '—'],
    ['Chain position (seq)', event.seq === null ? 'not chained yet' : String(event.seq)],
    ['Hash', event.hash ?? '—'],
    ['Previous hash', event.prevHash ?? '—'],
  ]
  const download = () =>
    receipt.run(async () => {
      saveFile(await fetchReceipt(orgId, event.id), `audit-receipt-${event.id}.json`, 'application/json')
    })

  return (
    <Paper withBorder p="md" component="section" aria-labelledby="audit-event-detail">
      <Group justify="space-between" mb="sm">
        <Title order={2} size="h3" id="audit-event-detail" ref={heading} tabIndex={-1}>
          Event {event.seq ?? ''} · {describeEventAction(event.action, event.outcome)}
        </Title>
        <CloseButton aria-label="Close event details" onClick={onClose} />
      </Group>
      <Stack gap="sm">
        <Table aria-label="Event fields" layout="fixed">
          <Table.Tbody>
            {rows.map(([name, value]) => (
              <Table.Tr key={name}>
                <Table.Th scope="row" w={180}>
                  {name}
                </Table.Th>
                <Table.Td className="audit-value">{value}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
        <Text fw={500}>Details</Text>
        <Text size="sm" className="audit-value">
          {Object.keys(event.details).length === 0 ? 'none' : describeDetails(event.details, names)}
        </Text>
        <details>
          <summary>The details as recorded (JSON)</summary>
          <Code block>{JSON.stringify(event.details, null, 2)}</Code>
        </details>
        <Group>
          <Button
            variant="default"
            onClick={() => void download()}
            loading={receipt.pending}
            disabled={event.seq === null}
          >
            Download receipt
          </Button>
        </Group>
        <ProblemAlert error={receipt.error} title="No receipt" />
      </Stack>
    </Paper>
  )
}
