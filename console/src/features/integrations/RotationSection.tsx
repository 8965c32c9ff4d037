import { useState, type SyntheticEvent } from 'react'
import {
  Anchor,
  Button,
  Checkbox,
  Group,
  NativeSelect,
  NumberInput,
  Paper,
  Stack,
  Table,
  Text,
  Title,
} from '@mantine/core'
import { Link } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { LoadMore } from '../../components/ListStatus.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { useDataSources, useIntegrationActions, useRotation, type RotationPolicy } from './api.ts'
import { connectionOf, when } from './ui.tsx'
import { counted } from '../../lib/plural.ts'

/**
 * A PostgreSQL credential's rotation (P1.6): its policy and last outcome, the form that
 * sets or changes it, "Rotate now" and "Remove rotation policy" (each after a confirmation).
 * The password itself never reaches the browser: the service makes it, sets it through the
 * managing credential and proves it connects before it becomes the current version.
 */
export function RotationSection({
  orgId,
  source,
  canWrite,
  onDone,
}: {
  orgId: string
  source: { id: string; name: string; user: string }
  canWrite: boolean
  onDone: (notice: string) => void
}) {
  const rotation = useRotation(orgId, source.id)
  const sources = useDataSources(orgId)
  const actions = useIntegrationActions(orgId)
  const [dialog, setDialog] = useState<'rotate' | 'remove' | null>(null)
  const known = sources.data?.pages.flatMap((p) => p.dataSources) ?? []
  const nameOf = (id: string) => known.find((s) => s.id === id)?.name ?? id
  const policy = rotation.data

  return (
    <section aria-labelledby="rotation-title">
      <Title order={2} size="h4" id="rotation-title" mb="sm">
        Rotation
      </Title>
      {rotation.isPending ? <PageLoader label="Loading the rotation policy" /> : null}
      {rotation.isError ? <ProblemAlert error={rotation.error} title="You cannot see the rotation policy" /> : null}
      {rotation.isSuccess ? (
        <Stack gap="sm">
          {policy === null || policy === undefined ? (
            <Text>Not rotated automatically: this credential has no rotation policy.</Text>
          ) : (
            <Table aria-label="Rotation policy" variant="vertical" withTableBorder>
              <Table.Tbody>
                <Table.Tr>
                  <Table.Th scope="row">Managing credential</Table.Th>
                  <Table.Td>
                    <Anchor component={Link} to={`/orgs/${orgId}/integrations/${policy.managingSecretId}`}>
                      {nameOf(policy.managingSecretId)}
                    </Anchor>
                  </Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th scope="row">Every</Table.Th>
                  <Table.Td>{counted(policy.intervalHours, 'hour')}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th scope="row">When reported exposed</Table.Th>
                  <Table.Td>{policy.rotateOnExposure ? 'rotated at once' : 'not rotated'}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th scope="row">Next rotation due</Table.Th>
                  <Table.Td>{when(policy.nextDueAt)}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th scope="row">Last rotated</Table.Th>
                  <Table.Td>{when(policy.lastRotatedAt)}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th scope="row">Last outcome</Table.Th>
                  <Table.Td>
                    {policy.lastStatus ?? 'none yet'}
                    {policy.lastError === null ? '' : `: ${policy.lastError}`}
                  </Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th scope="row">Failures in a row</Table.Th>
                  <Table.Td>{policy.failures}</Table.Td>
                </Table.Tr>
              </Table.Tbody>
            </Table>
          )}
          {canWrite && policy != null ? (
            <Group gap="sm" role="group" aria-label="Rotation actions">
              <Button variant="default" onClick={() => setDialog('rotate')}>
                Rotate now
              </Button>
              <Button color="red.9" variant="outline" onClick={() => setDialog('remove')}>
                Remove rotation policy
              </Button>
            </Group>
          ) : null}
          {canWrite ? (
            <RotationForm
              key={
                policy == null
                  ? 'none'
                  : `${policy.managingSecretId}/${policy.intervalHours}/${policy.rotateOnExposure}`
              }
              orgId={orgId}
              secretId={source.id}
              policy={policy ?? null}
              onSaved={(saved) =>
                onDone(
                  `Rotation policy saved: every ${counted(saved.intervalHours, 'hour')} through ${nameOf(saved.managingSecretId)}; next rotation due ${when(saved.nextDueAt)}.`,
                )
              }
            />
          ) : null}
        </Stack>
      ) : null}
      <ConfirmDialog
        opened={dialog === 'rotate'}
        onClose={() => setDialog(null)}
        title={`Rotate ${source.name} now?`}
        confirmLabel="Rotate now"
        danger
        onConfirm={async () => {
          const { version } = await actions.rotateNow(source.id)
          onDone(
            `${source.name} is rotated: version ${version} is current, and the role’s previous password no longer connects.`,
          )
        }}
      >
        A new password is set on the role {source.user} through the managing credential and must connect before it
        becomes the current version; from then on the previous password no longer connects. Whatever still uses it must
        fetch the new version.
      </ConfirmDialog>
      <ConfirmDialog
        opened={dialog === 'remove'}
        onClose={() => setDialog(null)}
        title={`Stop rotating ${source.name}?`}
        confirmLabel="Remove rotation policy"
        danger
        onConfirm={async () => {
          await actions.removeRotation(source.id)
          onDone(`${source.name} is no longer rotated automatically.`)
        }}
      >
        The credential keeps its current password; nothing rotates it any more, on schedule or when it is reported
        exposed.
      </ConfirmDialog>
    </section>
  )
}

/** Sets or changes the policy (PUT …/rotation); the API's refusal is shown on the field it names. */
function RotationForm({
  orgId,
  secretId,
  policy,
  onSaved,
}: {
  orgId: string
  secretId: string
  policy: RotationPolicy | null
  onSaved: (policy: RotationPolicy) => void
}) {
  const sources = useDataSources(orgId)
  const actions = useIntegrationActions(orgId)
  const [managing, setManaging] = useState(policy?.managingSecretId ?? '')
  const [hours, setHours] = useState<number | string>(policy?.intervalHours ?? 720)
  const [onExposure, setOnExposure] = useState(policy?.rotateOnExposure ?? false)
  const [error, setError] = useState<unknown>(null)
  const [saving, setSaving] = useState(false)
  const problem = error instanceof ApiError ? error : undefined
  const others = (sources.data?.pages.flatMap((p) => p.dataSources) ?? []).filter((s) => s.id !== secretId)
  const options = [
    { value: '', label: 'Choose a credential' },
    ...others.map((s) => ({ value: s.id, label: `${s.name} (${connectionOf(s)})` })),
    ...(managing !== '' && !others.some((s) => s.id === managing) ? [{ value: managing, label: managing }] : []),
  ]

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setSaving(true)
    setError(null)
    try {
      onSaved(
        await actions.setRotation(secretId, {
          managingSecretId: managing,
          intervalHours: Number(hours),
          rotateOnExposure: onExposure,
        }),
      )
    } catch (caught) {
      setError(caught)
    } finally {
      setSaving(false)
    }
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="rotation-form-title">
      <Title order={3} size="h5" id="rotation-form-title" mb="sm">
        {policy === null ? 'Set a rotation policy' : 'Change the rotation policy'}
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="Rotation policy not saved" />
          <NativeSelect
            label="Managing credential"
            description="A database credential in this vault whose role may change this role’s password (a superuser, or a role with CREATEROLE)."
            data={options}
            value={managing}
            onChange={(e) => setManaging(e.currentTarget.value)}
            error={problem?.fieldError('managingSecretId')}
          />
          <LoadMore query={sources} />
          <NumberInput
            label="Rotate every (hours)"
            description="From 1 to 8760 (a year)."
            min={1}
            max={8760}
            value={hours}
            onChange={setHours}
            error={problem?.fieldError('intervalHours')}
          />
          <Checkbox
            label="Rotate at once when it is reported exposed"
            checked={onExposure}
            onChange={(e) => setOnExposure(e.currentTarget.checked)}
          />
          <Group>
            <Button type="submit" loading={saving}>
              Save rotation policy
            </Button>
          </Group>
        </Stack>
      </form>
    </Paper>
  )
}
