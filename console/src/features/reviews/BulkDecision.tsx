import { useState, type SyntheticEvent } from 'react'
import { Button, Group, List, NativeSelect, Stack, Table, Text } from '@mantine/core'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ReasonField } from '../../components/ReasonField.tsx'
import { ApiError } from '../../lib/api.ts'
import { useReviewActions, useRoleNames, type Decision, type ReviewItem } from './api.ts'
import { reducibleRoles } from './DecisionDialog.tsx'

/** One item's answer in a bulk run: what the decision did, or the API's refusal (and its code). */
interface BulkResult {
  item: ReviewItem
  done: boolean
  text: string
  code?: string
}

const VERB: Record<Decision, string> = { certify: 'Certify', revoke: 'Revoke', reduce: 'Reduce' }

/**
 * One decision and one reason for the items selected in the table: the API decides each
 * item on its own (POST …/decision per item, one after the other), so some may be refused
 * while others go through — each item's answer is listed, the refusals with the API's
 * detail (its code on the cell as `data-code`, not in the words).
 */
export function BulkDecision({
  orgId,
  reviewId,
  chosen: selected,
  nameOf,
  onFinished,
}: {
  orgId: string
  reviewId: string
  chosen: ReviewItem[]
  /** An item's name, distinct within the review (an API token with its holder). */
  nameOf: (item: ReviewItem) => string
  onFinished: () => void
}) {
  const actions = useReviewActions(orgId)
  const roles = useRoleNames(orgId)
  const [decision, setDecision] = useState<Decision>('certify')
  const [role, setRole] = useState<string | null>(null)
  const [reason, setReason] = useState('')
  const [confirming, setConfirming] = useState(false)
  const [results, setResults] = useState<BulkResult[]>([])
  // Only the items the API lets the caller decide this way (`allowedDecisions`): the others stay out.
  const chosen = selected.filter((i) => i.allowedDecisions.includes(decision))
  const left = selected.filter((i) => !i.allowedDecisions.includes(decision))
  const options = reducibleRoles(roles.data, null)
  const picked = role ?? options[0]

  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    if (chosen.length > 0) setConfirming(true)
  }
  const run = async () => {
    const answers: BulkResult[] = []
    for (const item of chosen) {
      try {
        const decided = await actions.decide(
          reviewId,
          item.id,
          { decision, ...(decision === 'reduce' && picked !== undefined ? { role: picked } : {}), reason },
          false,
        )
        answers.push({ item, done: true, text: decided.outcome ?? decision })
      } catch (caught) {
        if (caught instanceof ApiError)
          answers.push({
            item,
            done: false,
            text: caught.detail,
            ...(caught.code === 'UNKNOWN' ? {} : { code: caught.code }),
          })
        else answers.push({ item, done: false, text: caught instanceof Error ? caught.message : 'the request failed' })
      }
    }
    setResults(answers)
    setReason('')
    onFinished()
    await actions.refresh()
  }
  const refused = results.filter((r) => !r.done).length
  const noun = chosen.length === 1 ? '1 selected item' : `${chosen.length} selected items`

  return (
    <Panel
      title="Decide several items"
      description="Select items in the table, then one decision and one reason for all of them."
    >
      <form onSubmit={submit} noValidate>
        <Stack gap="sm">
          <Group align="flex-end" gap="sm">
            <NativeSelect
              label="Decision"
              data={[
                { value: 'certify', label: 'Certify' },
                { value: 'revoke', label: 'Revoke' },
                { value: 'reduce', label: 'Reduce (members, service accounts)' },
              ]}
              value={decision}
              onChange={(e) => {
                const value = e.currentTarget.value
                setDecision(value === 'revoke' || value === 'reduce' ? value : 'certify')
              }}
            />
            {decision === 'reduce' ? (
              <NativeSelect
                label="Reduce to"
                data={options}
                value={picked ?? ''}
                onChange={(e) => setRole(e.currentTarget.value)}
              />
            ) : null}
          </Group>
          <ReasonField value={reason} onChange={setReason} />
          {left.length > 0 ? (
            <Text size="sm">{`Left out, as you cannot ${decision} them: ${left.map(nameOf).join(', ')}.`}</Text>
          ) : null}
          <Group>
            <Button type="submit" disabled={chosen.length === 0}>
              {chosen.length > 0
                ? `${VERB[decision]} ${noun}`
                : selected.length === 0
                  ? 'Select items first'
                  : `None selected to ${decision}`}
            </Button>
          </Group>
          {results.length > 0 ? (
            <>
              <Text size="sm" role="status">
                {refused === 0
                  ? `All ${results.length} decided.`
                  : `${results.length - refused} of ${results.length} decided; ${refused} refused.`}
              </Text>
              <ListTable label="Bulk decision results" columns={['Item', 'Result']}>
                {results.map((r) => (
                  <Table.Tr key={r.item.id}>
                    <Table.Td>{nameOf(r.item)}</Table.Td>
                    <Table.Td data-code={r.code}>{r.done ? `Decided: ${r.text}` : `Refused: ${r.text}`}</Table.Td>
                  </Table.Tr>
                ))}
              </ListTable>
            </>
          ) : null}
        </Stack>
      </form>
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title={`${VERB[decision]} ${noun}?`}
        confirmLabel={`${VERB[decision]} ${chosen.length}`}
        danger={decision === 'revoke'}
        onConfirm={run}
      >
        <Stack gap="xs">
          <Text size="sm">
            {decision === 'revoke'
              ? 'Each one’s access is taken away at once.'
              : decision === 'reduce'
                ? `Each member’s and service account’s role becomes ${picked ?? '…'} at once; other kinds of item are refused.`
                : 'Each keeps its access.'}{' '}
            The API decides each item on its own; the answer for each is listed after.
          </Text>
          <List size="sm">
            {chosen.map((i) => (
              <List.Item key={i.id}>{nameOf(i)}</List.Item>
            ))}
          </List>
        </Stack>
      </ConfirmDialog>
    </Panel>
  )
}
