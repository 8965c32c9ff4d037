import { useState } from 'react'
import { Alert, Badge, Button, Container, Group, Paper, Progress, Stack, Table, Text, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { rewrapping, useOrgKeys, useRotateOrgKey, type OrgKeyStatus } from './api.ts'
import { counted } from '../../lib/plural.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

const when = (iso: string | null) => (iso === null ? '—' : new Date(iso).toLocaleString())

/** A version's state as a badge, each at least 4.5:1 (WCAG AA). */
function StateBadge({ state }: { state: OrgKeyStatus['versions'][number]['state'] }) {
  if (state === 'active') return <Badge color="teal.9">active</Badge>
  if (state === 'retiring')
    return (
      <Badge color="yellow.9" c="black">
        retiring
      </Badge>
    )
  return <Badge color="gray.8">retired</Badge>
}

/**
 * The org key: its versions (each with the live data keys it wraps), rotate (keys:rotate,
 * a step-up action, after a confirmation) and the background rewrap's progress. Progress
 * is only what GET /v1/orgs/{orgId}/keys answers: `pending` (data keys still under a
 * retiring version) and each version's `dataKeys`; the page asks again every second while
 * a version is retiring, and stops once none is.
 */
export function OrgKeysPage({ canRotate }: { canRotate: boolean }) {
  const { orgId = '' } = useParams()
  const status = useOrgKeys(orgId)
  const rotate = useRotateOrgKey(orgId)
  const [confirming, setConfirming] = useState(false)
  const [rotatedTo, setRotatedTo] = useState<number | null>(null)
  const data = status.data
  const active = data?.versions.find((v) => v.state === 'active')

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="xs">
        Org keys
      </Title>
      <Text c="dimmed" mb="md">
        The org key wraps every data key of the org (secrets’ versions, transit keys, subject keys, …). Rotating it
        makes a new version that new data keys use at once; a background job rewraps the existing ones, then retires the
        old version and erases it, so data only it could open (destroyed versions in old backups) stays unreadable.
      </Text>
      <Stack gap="md">
        <ListStatus
          query={status}
          noun="the org key’s versions"
          refusal="You cannot see this org’s keys"
          empty={{ when: data !== undefined && data.versions.length === 0, text: 'The org has no key yet.' }}
        />
        {data !== undefined ? (
          <>
            <Group justify="space-between" align="center">
              <Text fw={500}>
                {data.activeVersion === null ? 'No active version.' : `Active version: ${data.activeVersion}`}
              </Text>
              {canRotate ? (
                <Button onClick={() => setConfirming(true)}>Rotate org key</Button>
              ) : (
                <Text size="sm" c="dimmed">
                  Rotating needs <PermissionName permission="keys:rotate" />, which your role does not hold.
                </Text>
              )}
            </Group>
            <RewrapProgress status={data} rotatedTo={rotatedTo} />
            {data.versions.length > 0 ? (
              <Table striped aria-label="Org key versions">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Version</Table.Th>
                    <Table.Th scope="col">State</Table.Th>
                    <Table.Th scope="col">Data keys</Table.Th>
                    <Table.Th scope="col">Created</Table.Th>
                    <Table.Th scope="col">Retired</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {data.versions.map((v) => (
                    <Table.Tr key={v.version}>
                      <Table.Td>{v.version}</Table.Td>
                      <Table.Td>
                        <StateBadge state={v.state} />
                      </Table.Td>
                      <Table.Td>{v.dataKeys}</Table.Td>
                      <Table.Td>{when(v.createdAt)}</Table.Td>
                      <Table.Td>{when(v.retiredAt)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            ) : null}
          </>
        ) : null}
      </Stack>
      <ConfirmDialog
        opened={confirming}
        onClose={() => setConfirming(false)}
        title="Rotate the org key?"
        confirmLabel="Rotate org key"
        onConfirm={async () => {
          const answer = await rotate()
          setRotatedTo(answer.activeVersion)
        }}
      >
        {`Version ${(data?.versions[0]?.version ?? 0) + 1} becomes active at once: new data keys use it. The ${active?.dataKeys ?? 0} data keys under version ${active?.version ?? '—'} are rewrapped in the background; then that version is retired and its key material erased. Every secret stays readable throughout.`}
      </ConfirmDialog>
    </Container>
  )
}

/**
 * The rewrap's progress, from the API's figures only: `pending` is what is left; the bar is
 * the share of the live data keys (under the active and the retiring versions) that the
 * active version wraps. The API keeps no count from the moment of rotation, so data keys
 * made since then count as done too, and the bar says so.
 */
function RewrapProgress({ status, rotatedTo }: { status: OrgKeyStatus; rotatedTo: number | null }) {
  const retiring = status.versions.filter((v) => v.state === 'retiring')
  const active = status.versions.find((v) => v.state === 'active')
  if (!rewrapping(status)) {
    // Said once a rotation made here has finished: the API's own figures, nothing kept aside.
    if (rotatedTo === null) return null
    const retired = status.versions.filter((v) => v.state === 'retired' && v.version < rotatedTo)
    return (
      <Alert color="green" title="Rewrap complete" role="status">
        Every data key is under version {active?.version ?? '—'} ({status.pending} pending).{' '}
        {retired.length > 0
          ? `Version ${String(retired[0]?.version)} was retired ${when(retired[0]?.retiredAt ?? null)}; its key material is erased.`
          : ''}
      </Alert>
    )
  }
  const done = active?.dataKeys ?? 0
  const total = done + status.pending
  const percent = total === 0 ? 100 : Math.floor((done / total) * 100)
  const olds = retiring.map((v) => v.version).join(', ')
  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="rewrap-title">
      <Title order={2} size="h4" id="rewrap-title" mb="xs">
        Rewrap in progress
      </Title>
      <Stack gap="xs">
        <Text size="sm" role="status">
          {status.pending === 0
            ? `Every data key is rewrapped; version ${olds} is retired on the background job’s next pass.`
            : `${counted(status.pending, 'data key')} still under version ${olds}, to rewrap to version ${active?.version ?? '—'}.`}
        </Text>
        <Progress.Root size="lg">
          <Progress.Section value={percent} aria-label={`Data keys under version ${active?.version ?? '—'}`} />
        </Progress.Root>
        <Text size="xs" c="dimmed">
          {done} of {total} live data keys are under version {active?.version ?? '—'} ({percent}%), counting those made
          since the rotation. Refreshed every second until the old version is retired.
        </Text>
      </Stack>
    </Paper>
  )
}
