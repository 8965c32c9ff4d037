import { useState, type SyntheticEvent } from 'react'
import { Anchor, Button, Group, NativeSelect, NumberInput, Stack, Table, Text } from '@mantine/core'
import { Link, useNavigate, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useReviewActions, useReviewPolicy, useReviews, type ReviewPolicy } from './api.ts'
import { actorName, days, progress, reviewName, ReviewStatus } from './ui.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'

/** What the session may do here, as GET /v1/me lists it; the API still decides every call. */
export interface ReviewsPermissions {
  /** reviews:manage: start a campaign now. */
  start: boolean
  /** org:security: change the schedule and the overdue policy. */
  setPolicy: boolean
}

/**
 * Access reviews (P2.5): the org's campaigns, newest first — open or closed, when each is
 * due (overdue flagged), how far along — and "Start a review now"; beside them the schedule
 * and the overdue policy, changed by those with org:security.
 */
export function AccessReviewsPage({ can }: { can: ReviewsPermissions }) {
  const { orgId = '' } = useParams()
  const reviews = useReviews(orgId)
  const all = reviews.data?.pages.flatMap((p) => p.reviews) ?? []
  const actions = useReviewActions(orgId)
  const navigate = useNavigate()
  const start = useAction()

  return (
    <ListPage title="Access reviews" aside={<PolicyPanel orgId={orgId} canSetPolicy={can.setPolicy} />}>
      <Stack gap="sm">
        <Text size="sm">
          Each review lists everyone and everything with access to this org when it started — members, service accounts,
          API tokens, diagnostic access grants — to certify, revoke or reduce. A revoke takes the access away at once.
          The least-privilege report suggests what to reduce.
        </Text>
        <Group gap="sm">
          {can.start ? (
            <Button
              loading={start.pending}
              onClick={() =>
                void start.run(async () => {
                  const started = await actions.start()
                  await navigate(`/orgs/${orgId}/access-reviews/${started.id}`)
                })
              }
            >
              Start a review now
            </Button>
          ) : null}
          <Anchor component={Link} to={`/orgs/${orgId}/least-privilege`} size="sm">
            Least-privilege report
          </Anchor>
        </Group>
        <ActionProblem error={start.error} title="The review was not started" />
        <ListStatus
          query={reviews}
          noun="access reviews"
          refusal="You cannot see this org’s access reviews"
          empty={{ when: all.length === 0, text: 'No access review has run in this org yet.' }}
        />
        {all.length > 0 ? (
          <ListTable striped label="Access reviews" columns={['Review', 'State', 'Due', 'Progress', 'Closed']}>
            {all.map((r) => (
              <Table.Tr key={r.id}>
                <Table.Td>
                  <Anchor component={Link} to={`/orgs/${orgId}/access-reviews/${r.id}`}>
                    {reviewName(r)}
                  </Anchor>
                </Table.Td>
                <Table.Td>
                  <ReviewStatus review={r} />
                </Table.Td>
                <Table.Td>{when(r.dueAt)}</Table.Td>
                <Table.Td>{progress(r)}</Table.Td>
                <Table.Td>
                  {r.closedAt === null
                    ? '—'
                    : `${when(r.closedAt)} by ${actorName(r.closedBy, new Map(), r.closedByEmail)}`}
                </Table.Td>
              </Table.Tr>
            ))}
          </ListTable>
        ) : null}
        <LoadMore query={reviews} />
      </Stack>
    </ListPage>
  )
}

const OVERDUE = {
  remind: 'Remind the org’s admins every day',
  revoke: 'Revoke every undecided item',
} as const

/** The schedule and the overdue policy; a form to change them for those with org:security (step-up). */
function PolicyPanel({ orgId, canSetPolicy }: { orgId: string; canSetPolicy: boolean }) {
  const policy = useReviewPolicy(orgId)
  return (
    <Panel
      title="Schedule and overdue policy"
      description="Reviews start on their own at this cadence; reviewers have the window to decide."
    >
      {policy.isPending ? <Text size="sm">Loading the policy</Text> : null}
      <ProblemAlert error={policy.error} title="You cannot see the review schedule" />
      {policy.isSuccess ? (
        canSetPolicy ? (
          <PolicyForm orgId={orgId} policy={policy.data} />
        ) : (
          <Stack gap={4}>
            <Text size="sm">
              A review every {days(policy.data.cadenceDays)}, {days(policy.data.windowDays)} to decide.
            </Text>
            <Text size="sm">At the due date: {OVERDUE[policy.data.onOverdue].toLowerCase()}.</Text>
            <Text size="sm">Inactive: no activity for {days(policy.data.inactiveDays)}.</Text>
            <Text size="xs" c="dimmed">
              Changing these needs <PermissionName permission="org:security" />.
            </Text>
          </Stack>
        )
      ) : null}
    </Panel>
  )
}

function PolicyForm({ orgId, policy }: { orgId: string; policy: ReviewPolicy }) {
  const actions = useReviewActions(orgId)
  const [cadence, setCadence] = useState<number | string>(policy.cadenceDays)
  const [windowDays, setWindowDays] = useState<number | string>(policy.windowDays)
  const [onOverdue, setOnOverdue] = useState<string>(policy.onOverdue)
  const [inactive, setInactive] = useState<number | string>(policy.inactiveDays)
  const [notice, setNotice] = useState<string | null>(null)
  const save = useAction()
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setNotice(null)
    const saved = await save.run(() =>
      actions.setPolicy({
        cadenceDays: Number(cadence),
        windowDays: Number(windowDays),
        onOverdue: onOverdue === 'revoke' ? 'revoke' : 'remind',
        inactiveDays: Number(inactive),
      }),
    )
    if (saved) setNotice('Saved: the next review follows this schedule and policy.')
  }
  const error = (name: string) => save.problem?.fieldError(name)
  return (
    <form onSubmit={(event) => void submit(event)} noValidate>
      <Stack gap="sm">
        <ActionProblem error={save.error} title="Not saved" />
        <Notice message={notice} onClose={() => setNotice(null)} />
        <NumberInput
          label="A review every (days)"
          description="91: quarterly"
          value={cadence}
          onChange={setCadence}
          error={error('cadenceDays')}
        />
        <NumberInput label="Days to decide" value={windowDays} onChange={setWindowDays} error={error('windowDays')} />
        <NativeSelect
          label="At the due date, undecided items"
          data={[
            { value: 'remind', label: OVERDUE.remind },
            { value: 'revoke', label: OVERDUE.revoke },
          ]}
          {...save.field('onOverdue', onOverdue, setOnOverdue)}
        />
        <NumberInput
          label="Inactive after (days without activity)"
          value={inactive}
          onChange={setInactive}
          error={error('inactiveDays')}
        />
        <Group>
          <Button type="submit" loading={save.pending}>
            Save schedule
          </Button>
        </Group>
      </Stack>
    </form>
  )
}
