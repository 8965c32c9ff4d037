import { useState, type SyntheticEvent } from 'react'
import { Alert, Button, Container, Group, List, NumberInput, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Countdown } from '../../components/Countdown.tsx'
import { Notice } from '../../components/Notice.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { Panel } from '../../components/Panel.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useOrgName } from '../auth/api.ts'
import { useOffboarding, useOffboardingActions, type Offboarding } from './api.ts'
import './offboarding.css'
import { PermissionName } from '../../components/PermissionScope.tsx'
import { useGrantAllows } from '../../lib/acting.ts'

/**
 * The org's own deletion (P7.4): what happens, said plainly; start it only after typing the
 * org's exact name, with a grace period; while it runs, the time left counted down live
 * and "Cancel offboarding". Start and cancel are offered to every member: only owners hold
 * `org:delete`, and anyone else sees the API's refusal naming it.
 */
export function OffboardingPage() {
  const { orgId = '' } = useParams()
  const current = useOffboarding(orgId)
  const orgName = useOrgName(orgId)
  // Under a diagnostic access grant (which never holds org:delete) nothing is offered: a
  // refused start or cancel would be an attempt beyond the grant in the org's log.
  const mayAct = useGrantAllows(orgId, 'org:delete')
  const [notice, setNotice] = useState<string | null>(null)
  const name = orgName.data ?? ''

  return (
    <Container size="md" py="md">
      <Title order={1} mb="md">
        Offboarding
      </Title>
      <Stack gap="lg">
        <Panel title="What offboarding does">
          <List size="sm" spacing={4}>
            <List.Item>
              When the grace period ends, the whole org is deleted: every secret, record, member, token, webhook and
              setting, and its audit log. Its keys are destroyed, so nothing of it can be decrypted again, backups
              included.
            </List.Item>
            <List.Item>
              Members who belong to no other org lose their accounts. Nobody can sign in to this org afterwards.
            </List.Item>
            <List.Item>
              Until the grace period ends, nothing is deleted and the deletion can be cancelled here.
            </List.Item>
            <List.Item>
              Afterwards, the provider keeps a signed certificate of what was deleted and the record of the request, any
              cancellation and the deletion; ask them for the certificate.
            </List.Item>
            <List.Item>Only the org’s owners (permission org:delete) may start or cancel it.</List.Item>
          </List>
        </Panel>
        <Notice title="Done" message={notice} onClose={() => setNotice(null)} />
        {current.isPending ? <PageLoader label="Loading the org’s offboarding" /> : null}
        {current.isError ? <ProblemAlert error={current.error} title="You cannot see this org’s offboarding" /> : null}
        {current.data?.status === 'scheduled' ? (
          <Scheduled
            orgId={orgId}
            mayAct={mayAct}
            offboarding={current.data}
            onCancelled={() => setNotice('The offboarding is cancelled: nothing will be deleted.')}
          />
        ) : null}
        {current.isSuccess && current.data?.status !== 'scheduled' ? (
          <>
            {current.data?.status === 'cancelled' && current.data.cancelledAt !== null ? (
              <Text size="sm">An earlier offboarding was cancelled on {when(current.data.cancelledAt)}.</Text>
            ) : null}
            {orgName.isError ? <ProblemAlert error={orgName.error} title="The org’s name could not be read" /> : null}
            {mayAct ? (
              <StartForm
                orgId={orgId}
                name={name}
                onStarted={() =>
                  setNotice(
                    'Offboarding started: the org is deleted when the grace period ends, unless cancelled before.',
                  )
                }
              />
            ) : (
              <UnderGrant />
            )}
          </>
        ) : null}
      </Stack>
    </Container>
  )
}

/** What an operator acting under a grant reads instead of the start and cancel actions. */
function UnderGrant() {
  return (
    <Text size="sm" c="dimmed">
      Starting or cancelling it needs <PermissionName permission="org:delete" />, which a diagnostic access grant never
      holds.
    </Text>
  )
}

/** A deletion in its grace period: when it happens, the time left, who asked, and cancel. */
function Scheduled({
  orgId,
  mayAct,
  offboarding,
  onCancelled,
}: {
  orgId: string
  mayAct: boolean
  offboarding: Offboarding
  onCancelled: () => void
}) {
  const actions = useOffboardingActions(orgId)
  const cancel = useAction()
  return (
    <Panel title="Deletion scheduled">
      <Stack gap="sm">
        <Alert color="red" variant="outline" title={`${offboarding.orgName} is to be deleted`}>
          <Stack gap={4}>
            <Text size="sm">At {when(offboarding.scheduledFor)}, unless cancelled before.</Text>
            <Text size="sm" fw={700}>
              <Countdown dueAt={offboarding.scheduledFor} label="Time left before the org is deleted" />
            </Text>
          </Stack>
        </Alert>
        <Table aria-label="Offboarding" variant="vertical" withTableBorder>
          <Table.Tbody>
            <Table.Tr>
              <Table.Th scope="row">Asked</Table.Th>
              <Table.Td>{when(offboarding.requestedAt)}</Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Asked by</Table.Th>
              <Table.Td className={offboarding.requestedByEmail === null ? 'offboarding-id' : undefined}>
                {offboarding.requestedByEmail ?? offboarding.requestedBy}
              </Table.Td>
            </Table.Tr>
            <Table.Tr>
              <Table.Th scope="row">Deleted at</Table.Th>
              <Table.Td>{when(offboarding.scheduledFor)}</Table.Td>
            </Table.Tr>
          </Table.Tbody>
        </Table>
        <ActionProblem error={cancel.error} title="Not cancelled" />
        {mayAct ? null : <UnderGrant />}
        <Group hidden={!mayAct}>
          <Button
            loading={cancel.pending}
            onClick={() =>
              void cancel.run(async () => {
                await actions.cancel()
                onCancelled()
              })
            }
          >
            Cancel offboarding
          </Button>
        </Group>
      </Stack>
    </Panel>
  )
}

/**
 * Start: the org's exact name typed (letter case and spaces count) enables the button; the
 * grace period is the API's (1 to 720 hours), refused on its field when out of bounds.
 */
function StartForm({ orgId, name, onStarted }: { orgId: string; name: string; onStarted: () => void }) {
  const actions = useOffboardingActions(orgId)
  const [typed, setTyped] = useState('')
  const [graceHours, setGraceHours] = useState<number | string>(24)
  const start = useAction()
  const matches = name !== '' && typed === name
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    if (!matches) return
    if (await start.run(() => actions.start({ confirmName: typed, graceHours: Number(graceHours) }))) {
      setTyped('')
      onStarted()
    }
  }
  return (
    <Panel
      title="Start offboarding"
      description="The org is deleted once the grace period ends. To confirm, type the org’s name exactly as shown."
    >
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={start.error} title="Not started" />
          <TextInput
            label="Type the org’s name to confirm"
            description={name === '' ? 'Loading the org’s name…' : `The org is named “${name}”.`}
            value={typed}
            onChange={(e) => setTyped(e.currentTarget.value)}
            autoComplete="off"
            spellCheck={false}
            error={start.problem?.fieldError('confirmName')}
          />
          <NumberInput
            label="Grace period (hours)"
            description="From 1 to 720 hours; until it ends the offboarding can be cancelled."
            value={graceHours}
            onChange={setGraceHours}
            error={start.problem?.fieldError('graceHours')}
          />
          <Group>
            <Button type="submit" color="red.9" disabled={!matches} loading={start.pending}>
              Start offboarding
            </Button>
            {!matches ? (
              <Text size="sm" c="dimmed" aria-live="polite">
                The button is enabled once the name matches.
              </Text>
            ) : null}
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}
