import { useState } from 'react'
import {
  Anchor,
  Badge,
  Button,
  Checkbox,
  Container,
  Group,
  NativeSelect,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core'
import { Link, useParams } from 'react-router'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { PermissionWords } from '../../components/PermissionScope.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { when } from '../../lib/format.ts'
import {
  useMemberNames,
  useReview,
  useReviewActions,
  useReviewItems,
  type Decision,
  type Review,
  type ReviewItem,
} from './api.ts'
import { BulkDecision } from './BulkDecision.tsx'
import { DecisionDialog } from './DecisionDialog.tsx'
import {
  actorName,
  holderName,
  itemName,
  KIND,
  progress,
  reviewName,
  ReviewStatus,
  summaryText,
  twoFactor,
} from './ui.tsx'

/** What the session may do on a campaign's page; the API still decides every call. */
export interface ReviewPermissions {
  /** reviews:decide: certify, revoke, reduce (one item or several). */
  decide: boolean
  /** reviews:manage: close the campaign. */
  close: boolean
}

/**
 * One access review: its state, due date and progress; its items with the facts that
 * matter (2FA, last activity, the inactive flag, permissions used against held, the
 * narrower role suggested); certify / revoke / reduce each with a reason, one item or
 * several at once (each item's answer shown); close once every item is decided.
 */
export function AccessReviewPage({ can }: { can: ReviewPermissions }) {
  const { orgId = '', reviewId = '' } = useParams()
  const review = useReview(orgId, reviewId)
  const [notice, setNotice] = useState<string | null>(null)
  const [closing, setClosing] = useState(false)
  const actions = useReviewActions(orgId)

  return (
    <Container size="xl" py="md">
      <Anchor component={Link} to={`/orgs/${orgId}/access-reviews`} size="sm">
        ← All access reviews
      </Anchor>
      {review.isPending ? <PageLoader label="Loading the access review" /> : null}
      {review.isError ? <ProblemAlert error={review.error} title="You cannot see this access review" /> : null}
      {review.isSuccess ? (
        <Stack gap="md" mt="sm">
          <Group justify="space-between" align="flex-start">
            <Title order={1}>{reviewName(review.data)}</Title>
            <ReviewStatus review={review.data} />
          </Group>
          <Notice message={notice} onClose={() => setNotice(null)} />
          <ReviewFacts orgId={orgId} review={review.data} />
          {review.data.status === 'open' && can.close ? (
            <Group>
              <Button variant="default" onClick={() => setClosing(true)}>
                Close review
              </Button>
            </Group>
          ) : null}
          <ConfirmDialog
            opened={closing}
            onClose={() => setClosing(false)}
            title="Close this access review?"
            confirmLabel="Close review"
            onConfirm={async () => {
              const closed = await actions.close(reviewId)
              setNotice(`Closed: ${progress(closed)}. Its decisions stay as evidence.`)
            }}
          >
            {`${progress(review.data)}. A closed review is kept as evidence and cannot change; the API refuses to close one with undecided items.`}
          </ConfirmDialog>
          <Items
            orgId={orgId}
            reviewId={reviewId}
            canDecide={can.decide && review.data.status === 'open'}
            onDone={setNotice}
          />
        </Stack>
      ) : null}
    </Container>
  )
}

function ReviewFacts({ orgId, review }: { orgId: string; review: Review }) {
  const names = useMemberNames(orgId)
  const summary = review.summary
  return (
    <Table aria-label="Access review" variant="vertical" withTableBorder>
      <Table.Tbody>
        <Table.Tr>
          <Table.Th scope="row">Started</Table.Th>
          <Table.Td>
            {when(review.startedAt)} by {actorName(review.startedBy, names, review.startedByEmail)}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Due</Table.Th>
          <Table.Td>
            {when(review.dueAt)}
            {review.overdue ? ' — overdue: the org’s overdue policy applies' : ''}
          </Table.Td>
        </Table.Tr>
        <Table.Tr>
          <Table.Th scope="row">Progress</Table.Th>
          <Table.Td>{progress(review)}</Table.Td>
        </Table.Tr>
        {review.closedAt !== null ? (
          <Table.Tr>
            <Table.Th scope="row">Closed</Table.Th>
            <Table.Td>
              {when(review.closedAt)} by {actorName(review.closedBy, names, review.closedByEmail)}
            </Table.Td>
          </Table.Tr>
        ) : null}
        {summary !== null ? (
          <Table.Tr>
            <Table.Th scope="row">Summary</Table.Th>
            <Table.Td>{summaryText(summary)}</Table.Td>
          </Table.Tr>
        ) : null}
      </Table.Tbody>
    </Table>
  )
}

function Items({
  orgId,
  reviewId,
  canDecide,
  onDone,
}: {
  orgId: string
  reviewId: string
  canDecide: boolean
  onDone: (message: string) => void
}) {
  const [show, setShow] = useState<'all' | 'pending'>('all')
  const items = useReviewItems(orgId, reviewId, show === 'pending')
  const all = items.data?.pages.flatMap((p) => p.items) ?? []
  const members = useMemberNames(orgId)
  // Members by email (also those the review lists who have left), service accounts by name.
  const names = new Map([
    ...members,
    ...all
      .filter((i) => i.kind === 'service_account' || i.kind === 'member')
      .map((i): [string, string] => [i.subjectId, i.label]),
  ])
  const [selected, setSelected] = useState<Set<string>>(new Set())
  const [deciding, setDeciding] = useState<{ item: ReviewItem; decision: Decision } | null>(null)
  const toggle = (id: string, on: boolean) =>
    setSelected((before) => {
      const next = new Set(before)
      if (on) next.add(id)
      else next.delete(id)
      return next
    })
  const chosen = all.filter((i) => selected.has(i.id) && i.decision === null)

  return (
    <Stack gap="sm">
      <Title order={2} size="h3">
        Items
      </Title>
      <NativeSelect
        label="Show"
        w="fit-content"
        data={[
          { value: 'all', label: 'Every item' },
          { value: 'pending', label: 'Undecided items only' },
        ]}
        value={show}
        onChange={(e) => setShow(e.currentTarget.value === 'pending' ? 'pending' : 'all')}
      />
      {canDecide ? (
        <BulkDecision
          orgId={orgId}
          reviewId={reviewId}
          chosen={chosen}
          nameOf={(item) => itemName(item, names)}
          onFinished={() => setSelected(new Set())}
        />
      ) : null}
      <ListStatus
        query={items}
        noun="the review’s items"
        refusal="You cannot see this review’s items"
        empty={{
          when: all.length === 0,
          text: show === 'pending' ? 'Every item is decided.' : 'This review has no items.',
        }}
      />
      {all.length > 0 ? (
        <ListTable
          striped
          label="Review items"
          columns={[
            canDecide ? 'Select' : null,
            'Principal',
            'Role',
            '2FA',
            'Last activity',
            'Permissions used',
            'Decision',
          ]}
        >
          {all.map((item) => (
            <Table.Tr key={item.id}>
              {canDecide ? (
                <Table.Td>
                  {item.allowedDecisions.length > 0 ? (
                    <Checkbox
                      aria-label={`Select ${itemName(item, names)}`}
                      checked={selected.has(item.id)}
                      onChange={(e) => toggle(item.id, e.currentTarget.checked)}
                    />
                  ) : null}
                </Table.Td>
              ) : null}
              <Table.Td>
                {/* A token's name in quotes: "invitation" is a token's name, not an invitation. */}
                {item.kind === 'api_token' ? `“${item.label}”` : item.label}
                <Text size="xs" c="dimmed">
                  {KIND[item.kind]}
                  {item.kind === 'api_token' ? ` of ${holderName(item, names)}` : ''}
                </Text>
                {item.kind === 'grant' && typeof item.details.reason === 'string' ? (
                  <Text size="xs">Reason: {item.details.reason}</Text>
                ) : null}
              </Table.Td>
              <Table.Td>
                {item.decision === 'reduce' && item.reduceTo !== null ? (
                  <>
                    {item.reduceTo}
                    <Text size="xs" c="dimmed">
                      was {item.role ?? '—'}
                    </Text>
                  </>
                ) : (
                  (item.role ?? '—')
                )}
              </Table.Td>
              <Table.Td>{twoFactor(item.mfaEnabled)}</Table.Td>
              <Table.Td>
                {when(item.lastActivityAt)}
                {item.inactive ? (
                  <Badge color="dark" variant="outline" ml="xs">
                    inactive
                  </Badge>
                ) : null}
              </Table.Td>
              <Table.Td>
                <Used item={item} />
              </Table.Td>
              <Table.Td>
                {item.decision === null ? (
                  canDecide && item.allowedDecisions.length > 0 ? (
                    <Group gap={4} wrap="nowrap">
                      {DECISIONS.filter((d) => item.allowedDecisions.includes(d)).map((d) => (
                        <RowAction
                          key={d}
                          label={`${VERB[d]} ${itemName(item, names)}`}
                          {...(d === 'revoke' ? { color: 'red.9' } : {})}
                          onClick={() => setDeciding({ item, decision: d })}
                        >
                          {VERB[d]}
                        </RowAction>
                      ))}
                    </Group>
                  ) : (
                    <Text size="sm">
                      {canDecide ? 'undecided: your own access, another reviewer decides it' : 'undecided'}
                    </Text>
                  )
                ) : (
                  <Decided item={item} names={names} />
                )}
              </Table.Td>
            </Table.Tr>
          ))}
        </ListTable>
      ) : null}
      <LoadMore query={items} />
      <DecisionDialog
        orgId={orgId}
        reviewId={reviewId}
        item={deciding?.item ?? null}
        decision={deciding?.decision ?? null}
        onClose={() => setDeciding(null)}
        onDone={onDone}
        names={names}
      />
    </Stack>
  )
}

/** Permissions used (90 days) against held, and the narrower role that would do. */
function Used({ item }: { item: ReviewItem }) {
  const held = item.permissions.length
  return (
    <>
      <Text size="sm">
        {item.kind === 'member' || item.kind === 'service_account'
          ? `${item.usedPermissions.length} of ${held} used`
          : `${held} held`}
      </Text>
      {item.usedPermissions.length > 0 ? <PermissionWords permissions={item.usedPermissions} prefix="used: " /> : null}
      {item.suggestedRole !== null ? (
        <Text size="xs">
          suggests: <strong>{item.suggestedRole}</strong>
        </Text>
      ) : null}
    </>
  )
}

/** A decided item: the decision, what it did, who decided, when, and why. */
function Decided({ item, names }: { item: ReviewItem; names: Map<string, string> }) {
  return (
    <>
      <Badge color="dark" variant={item.decision === 'certify' ? 'outline' : 'filled'}>
        {item.decision}
        {item.decision === 'reduce' && item.reduceTo !== null ? ` to ${item.reduceTo}` : ''}
      </Badge>
      <Text size="xs">{item.outcome}</Text>
      <Text size="xs" c="dimmed">
        {actorName(item.decidedBy, names, item.decidedByEmail)} · {when(item.decidedAt)}
        {item.selfCertified ? ' · self-certified' : ''}
      </Text>
      {item.note !== null ? <Text size="xs">“{item.note}”</Text> : null}
    </>
  )
}

/** The decisions in the order a row offers them, and their buttons' words. */
const DECISIONS: Decision[] = ['certify', 'reduce', 'revoke']
const VERB: Record<Decision, string> = { certify: 'Certify', reduce: 'Reduce', revoke: 'Revoke' }
