import { useMemo, useState } from 'react'
import {
  Anchor,
  Box,
  Button,
  CloseButton,
  Code,
  Container,
  CopyButton,
  Group,
  Paper,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
} from '@mantine/core'
import { Link, useNavigate, useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { useSecret, useSecretActions, useVersions } from './api.ts'
import { NewVersionForm } from './NewVersionForm.tsx'
import { RevealPanel } from './RevealPanel.tsx'
import { StateBadges } from './StateBadges.tsx'
import { describeActorRef } from '../../lib/describe.ts'
import { useGrantAllowsReveal } from '../../lib/acting.ts'

/** What the session may do, as GET /v1/me lists it; the API still decides every call. */
export interface SecretPermissions {
  write: boolean
  delete: boolean
  report: boolean
}

type Dialog = { kind: 'delete' } | { kind: 'destroy'; version: number } | { kind: 'report' } | null

/**
 * One secret: its metadata, its versions (newest first, a page at a time), reveal with a
 * reason, a new version, pause/resume, report exposed, destroy a version and delete, the
 * destructive ones behind a confirmation dialog. Reveal is offered to everyone who can see
 * the secret: a diagnostic grant may cover it, and the API's refusal says why otherwise.
 */
export function SecretDetailPage({ can }: { can: SecretPermissions }) {
  const { orgId = '', secretId = '' } = useParams()
  const mayReveal = useGrantAllowsReveal(orgId, secretId)
  const navigate = useNavigate()
  const secret = useSecret(orgId, secretId)
  const versions = useVersions(orgId, secretId)
  const actions = useSecretActions(orgId, secretId)
  const [dialog, setDialog] = useState<Dialog>(null)
  const [reason, setReason] = useState('')
  const [notice, setNotice] = useState<string | null>(null)
  const pausing = useAction()
  const allVersions = useMemo(() => versions.data?.pages.flatMap((p) => p.versions) ?? [], [versions.data])
  const back = `/orgs/${orgId}/secrets`

  const togglePause = async (paused: boolean) => {
    if (await pausing.run(() => (paused ? actions.resume() : actions.pause())))
      setNotice(paused ? 'Resumed: reveal is allowed again.' : 'Paused: every reveal is refused until resumed.')
  }

  return (
    <Container size="lg" py="md">
      <Anchor component={Link} to={back} size="sm">
        ← All secrets
      </Anchor>
      {secret.isPending ? <PageLoader label="Loading the secret" /> : null}
      {secret.isError ? <ProblemAlert error={secret.error} title="You cannot see this secret" /> : null}
      {secret.isSuccess ? (
        <Stack gap="md" mt="sm">
          <Group justify="space-between" align="flex-start">
            <Box>
              <Title order={1}>{secret.data.name}</Title>
              {secret.data.description === '' ? null : <Text c="dimmed">{secret.data.description}</Text>}
            </Box>
            <StateBadges paused={secret.data.paused} exposed={secret.data.exposed} />
          </Group>
          {notice !== null ? (
            <Paper withBorder p="sm" radius="md" role="status">
              <Group justify="space-between" wrap="nowrap">
                <Text size="sm">
                  <strong>Done.</strong> {notice}
                </Text>
                <CloseButton aria-label="Dismiss" onClick={() => setNotice(null)} />
              </Group>
            </Paper>
          ) : null}
          <Table aria-label="Details" variant="vertical" withTableBorder>
            <Table.Tbody>
              <Table.Tr>
                <Table.Th scope="row">Type</Table.Th>
                <Table.Td>{secret.data.type}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th scope="row">Id</Table.Th>
                <Table.Td>
                  {/* What the API and a provider's diagnostic access request name it by. */}
                  <Group gap="xs" wrap="nowrap">
                    <Code>{secret.data.id}</Code>
                    <CopyButton value={secret.data.id}>
                      {({ copied, copy }) => (
                        <Button size="compact-xs" variant="default" onClick={copy} aria-label="Copy the secret’s id">
                          {copied ? 'Copied' : 'Copy'}
                        </Button>
                      )}
                    </CopyButton>
                  </Group>
                  <Text size="xs" c="dimmed">
                    For the API, and for a provider asking diagnostic access to this secret.
                  </Text>
                </Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th scope="row">Current version</Table.Th>
                <Table.Td>{secret.data.currentVersion}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th scope="row">Created</Table.Th>
                <Table.Td>{when(secret.data.createdAt)}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th scope="row">Updated</Table.Th>
                <Table.Td>{when(secret.data.updatedAt)}</Table.Td>
              </Table.Tr>
              <Table.Tr>
                <Table.Th scope="row">Last revealed</Table.Th>
                <Table.Td>{when(secret.data.lastRevealedAt)}</Table.Td>
              </Table.Tr>
              {Object.entries(secret.data.metadata).map(([key, value]) => (
                <Table.Tr key={key}>
                  <Table.Th scope="row">{key}</Table.Th>
                  <Table.Td>{typeof value === 'string' ? value : JSON.stringify(value)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>

          <Group gap="sm" role="group" aria-label="Actions">
            {can.write ? (
              <Button variant="default" loading={pausing.pending} onClick={() => void togglePause(secret.data.paused)}>
                {secret.data.paused ? 'Resume' : 'Pause'}
              </Button>
            ) : null}
            {can.report ? (
              <Button variant="default" onClick={() => setDialog({ kind: 'report' })}>
                Report exposed
              </Button>
            ) : null}
            {can.delete ? (
              <Button color="red.9" variant="outline" onClick={() => setDialog({ kind: 'delete' })}>
                Delete secret
              </Button>
            ) : null}
          </Group>
          <ActionProblem error={pausing.error} title={secret.data.paused ? 'Not resumed' : 'Not paused'} />

          <Group align="flex-start" gap="lg" wrap="wrap">
            <Box className="secrets-list">
              {mayReveal ? (
                <RevealPanel key={secretId} reveal={actions.reveal} currentVersion={secret.data.currentVersion} />
              ) : (
                <Text size="sm" c="dimmed">
                  The grant you act under does not name this secret for revealing: its value stays hidden.
                </Text>
              )}
            </Box>
            {can.write ? (
              <Box className="secrets-create">
                <NewVersionForm
                  type={secret.data.type}
                  addVersion={actions.addVersion}
                  onStored={(version) => setNotice(`Version ${version} is stored and current.`)}
                />
              </Box>
            ) : null}
          </Group>

          <section aria-labelledby="versions-title">
            <Title order={2} size="h4" id="versions-title" mb="sm">
              Versions
            </Title>
            <ListStatus query={versions} noun="versions" refusal="You cannot list the versions" />
            {versions.isSuccess ? (
              <Stack gap="sm">
                <ListTable
                  striped
                  label="Versions"
                  columns={['Version', 'Created', 'By', 'State', can.delete ? 'Action' : null]}
                >
                  {allVersions.map((v) => (
                    <Table.Tr key={v.version}>
                      <Table.Td>
                        {v.version}
                        {v.version === secret.data.currentVersion ? ' (current)' : ''}
                      </Table.Td>
                      <Table.Td>{when(v.createdAt)}</Table.Td>
                      <Table.Td>{describeActorRef(v.createdBy, v.createdByName)}</Table.Td>
                      <Table.Td>
                        <StateBadges
                          exposed={v.exposed}
                          destroyed={v.destroyedAt !== null}
                          deleted={v.deletedAt !== null}
                        />
                      </Table.Td>
                      {can.delete ? (
                        <Table.Td>
                          {v.destroyedAt === null ? (
                            <RowAction
                              color="red.9"
                              variant="outline"
                              label={`Destroy version ${v.version}`}
                              onClick={() => setDialog({ kind: 'destroy', version: v.version })}
                            >
                              Destroy
                            </RowAction>
                          ) : null}
                        </Table.Td>
                      ) : null}
                    </Table.Tr>
                  ))}
                </ListTable>
                <LoadMore query={versions} label="Load older versions" />
              </Stack>
            ) : null}
          </section>

          <ConfirmDialog
            opened={dialog?.kind === 'delete'}
            onClose={() => setDialog(null)}
            title={`Delete ${secret.data.name}?`}
            confirmLabel="Delete secret"
            danger
            onConfirm={async () => {
              await actions.remove()
              void navigate(back)
            }}
          >
            Every version’s data key and ciphertext are destroyed. This cannot be undone.
          </ConfirmDialog>
          <ConfirmDialog
            opened={dialog?.kind === 'destroy'}
            onClose={() => setDialog(null)}
            title={dialog?.kind === 'destroy' ? `Destroy version ${dialog.version}?` : 'Destroy a version?'}
            confirmLabel="Destroy version"
            danger
            onConfirm={async () => {
              if (dialog?.kind !== 'destroy') return
              await actions.destroyVersion(dialog.version)
              setNotice(`Version ${dialog.version} is destroyed.`)
            }}
          >
            Its data key and ciphertext are erased: that version can never be revealed again.
          </ConfirmDialog>
          <ConfirmDialog
            opened={dialog?.kind === 'report'}
            onClose={() => {
              setDialog(null)
              setReason('')
            }}
            title={`Report ${secret.data.name} exposed?`}
            confirmLabel="Report exposed"
            danger
            onConfirm={async () => {
              const answer = await actions.reportExposed(reason)
              setReason('')
              setNotice(
                answer.rotated
                  ? `Reported exposed and rotated; ${answer.notified} notified.`
                  : `Reported exposed: reveal is blocked until a new version replaces it; ${answer.notified} notified.`,
              )
            }}
          >
            <Text size="sm">Reveal is blocked at once; the owner and the org admins are notified.</Text>
            <Textarea
              label="Reason"
              description="How it was exposed (3 to 500 characters)"
              required
              autosize
              minRows={2}
              value={reason}
              onChange={(e) => setReason(e.currentTarget.value)}
              data-autofocus
            />
          </ConfirmDialog>
        </Stack>
      ) : null}
    </Container>
  )
}
