import { useEffect, useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Badge,
  Box,
  Button,
  Container,
  CopyButton,
  Group,
  NativeSelect,
  Paper,
  Stack,
  Table,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { useParams } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'
import { useAccessActions, useMembers, useRoles } from './api.ts'
import { ActionProblem, attempt, ConfirmDialog } from './ui.tsx'

type Can = (permission: string) => boolean

/** Role names the API offers (GET …/roles); empty when the caller may not list them. */
function useRoleNames(orgId: string): string[] {
  const roles = useRoles(orgId)
  return roles.data?.roles.map((r) => r.name) ?? []
}

/**
 * Members (a page at a time, "Load more"), pending invitations, and — as the caller's
 * permissions allow — invite, change role, suspend or resume, remove.
 */
export function MembersPage({ can }: { can: Can }) {
  const { orgId = '' } = useParams()
  const members = useMembers(orgId)
  const actions = useAccessActions(orgId)
  const roleNames = useRoleNames(orgId)
  const [error, setError] = useState<unknown>(null)
  const [done, setDone] = useState<string | null>(null)
  const [removing, setRemoving] = useState<{ userId: string; email: string } | null>(null)
  const all = members.data?.pages.flatMap((p) => p.members) ?? []
  const invitations = members.data?.pages[0]?.invitations ?? []

  const run = async (message: string, action: () => Promise<unknown>) => {
    setDone(null)
    if (await attempt(setError, action)) setDone(message)
  }

  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Members
      </Title>
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Box className="secrets-list">
          <Stack gap="sm">
            <ActionProblem error={error} fallback="Refused" />
            {done !== null ? (
              <Alert
                color="blue"
                role="status"
                withCloseButton
                closeButtonLabel="Dismiss"
                onClose={() => setDone(null)}
              >
                {done}
              </Alert>
            ) : null}
            {members.isPending ? <PageLoader label="Loading members" /> : null}
            {members.isError ? <ProblemAlert error={members.error} title="You cannot list this org’s members" /> : null}
            {members.isSuccess ? (
              <>
                <Table striped aria-label="Members">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th scope="col">Email</Table.Th>
                      <Table.Th scope="col">Role</Table.Th>
                      <Table.Th scope="col">Joined</Table.Th>
                      <Table.Th scope="col">State</Table.Th>
                      <Table.Th scope="col">Actions</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {all.map((m) => (
                      <MemberRow
                        key={m.userId}
                        member={m}
                        roleNames={roleNames}
                        can={can}
                        onChangeRole={(role) =>
                          void run(`${m.email} is now ${role}.`, () => actions.changeRole(m.userId, role))
                        }
                        onSuspend={(suspend) =>
                          void run(`${m.email} is ${suspend ? 'suspended' : 'active again'}.`, () =>
                            actions.setSuspended(m.userId, suspend),
                          )
                        }
                        onRemove={() => setRemoving({ userId: m.userId, email: m.email })}
                      />
                    ))}
                  </Table.Tbody>
                </Table>
                {members.hasNextPage ? (
                  <Button
                    variant="default"
                    onClick={() => void members.fetchNextPage()}
                    loading={members.isFetchingNextPage}
                  >
                    Load more
                  </Button>
                ) : null}
                <Title order={2} size="h4" mt="md">
                  Pending invitations
                </Title>
                {invitations.length === 0 ? (
                  <Text c="dimmed">No pending invitations.</Text>
                ) : (
                  <Table aria-label="Pending invitations">
                    <Table.Thead>
                      <Table.Tr>
                        <Table.Th scope="col">Email</Table.Th>
                        <Table.Th scope="col">Role</Table.Th>
                        <Table.Th scope="col">Expires</Table.Th>
                      </Table.Tr>
                    </Table.Thead>
                    <Table.Tbody>
                      {invitations.map((i) => (
                        <Table.Tr key={i.id}>
                          <Table.Td>{i.email}</Table.Td>
                          <Table.Td>{i.role}</Table.Td>
                          <Table.Td>{new Date(i.expiresAt).toLocaleString()}</Table.Td>
                        </Table.Tr>
                      ))}
                    </Table.Tbody>
                  </Table>
                )}
              </>
            ) : null}
          </Stack>
        </Box>
        <Box className="secrets-create">
          {can('members:invite') ? (
            <InviteForm orgId={orgId} roleNames={roleNames} />
          ) : (
            <Text size="sm" c="dimmed">
              Inviting people needs the members:invite permission, which your role does not hold.
            </Text>
          )}
        </Box>
      </Group>
      <ConfirmDialog
        open={removing !== null}
        title="Remove this member?"
        message={`${removing?.email ?? ''} leaves the org: every session and API token of theirs in it is revoked at once.`}
        confirmLabel="Remove member"
        onClose={() => setRemoving(null)}
        onConfirm={() => {
          const target = removing
          if (target !== null)
            void run(`${target.email} is removed.`, async () => {
              await actions.removeMember(target.userId)
            })
        }}
      />
    </Container>
  )
}

function MemberRow({
  member,
  roleNames,
  can,
  onChangeRole,
  onSuspend,
  onRemove,
}: {
  member: { userId: string; email: string; role: string; joinedAt: string; suspendedAt: string | null }
  roleNames: string[]
  can: Can
  onChangeRole: (role: string) => void
  onSuspend: (suspend: boolean) => void
  onRemove: () => void
}) {
  const [role, setRole] = useState(member.role)
  useEffect(() => setRole(member.role), [member.role])
  const options = roleNames.includes(member.role) ? roleNames : [member.role, ...roleNames]
  return (
    <Table.Tr>
      <Table.Td>{member.email}</Table.Td>
      <Table.Td>
        {can('members:update') && roleNames.length > 0 ? (
          <Group gap="xs" wrap="nowrap">
            <NativeSelect
              aria-label={`Role of ${member.email}`}
              data={options}
              value={role}
              onChange={(e) => setRole(e.currentTarget.value)}
              size="xs"
            />
            <Button size="xs" variant="default" disabled={role === member.role} onClick={() => onChangeRole(role)}>
              Save role
            </Button>
          </Group>
        ) : (
          member.role
        )}
      </Table.Td>
      <Table.Td>{new Date(member.joinedAt).toLocaleDateString()}</Table.Td>
      <Table.Td>
        {member.suspendedAt === null ? (
          <Badge variant="outline" color="dark">
            active
          </Badge>
        ) : (
          <Badge variant="outline" color="dark">
            suspended
          </Badge>
        )}
      </Table.Td>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          {can('members:update') ? (
            <Button
              size="xs"
              variant="default"
              aria-label={`${member.suspendedAt === null ? 'Suspend' : 'Resume'} ${member.email}`}
              onClick={() => onSuspend(member.suspendedAt === null)}
            >
              {member.suspendedAt === null ? 'Suspend' : 'Resume'}
            </Button>
          ) : null}
          {can('members:remove') ? (
            <Button size="xs" variant="default" aria-label={`Remove ${member.email}`} onClick={onRemove}>
              Remove
            </Button>
          ) : null}
        </Group>
      </Table.Td>
    </Table.Tr>
  )
}

/**
 * Invites someone. The invitation's token (a credential, valid 7 days) is shown once, in
 * this form's state only, until "Hide" or leaving the page.
 */
function InviteForm({ orgId, roleNames }: { orgId: string; roleNames: string[] }) {
  const actions = useAccessActions(orgId)
  const [email, setEmail] = useState('')
  const [role, setRole] = useState('member')
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const [sent, setSent] = useState<{ email: string; token: string } | null>(null)
  const problem = error instanceof ApiError ? error : undefined

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setSent(null)
    await attempt(setError, async () => {
      const made = await actions.invite(email, role)
      setSent({ email: made.email, token: made.token })
      setEmail('')
    })
    setPending(false)
  }

  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby="invite-title">
      <Title order={2} size="h4" id="invite-title" mb="sm">
        Invite someone
      </Title>
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} fallback="Not invited" />
          <TextInput
            label="Email"
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.currentTarget.value)}
            error={problem?.fieldError('email')}
          />
          {roleNames.length > 0 ? (
            <NativeSelect
              label="Role"
              data={roleNames}
              value={role}
              onChange={(e) => setRole(e.currentTarget.value)}
              error={problem?.fieldError('role')}
            />
          ) : (
            <TextInput
              label="Role"
              required
              value={role}
              onChange={(e) => setRole(e.currentTarget.value)}
              error={problem?.fieldError('role')}
            />
          )}
          <Button type="submit" loading={pending}>
            Send invitation
          </Button>
        </Stack>
      </form>
      {sent !== null ? (
        <Alert variant="default" title={`Invitation for ${sent.email}`} role="status" mt="sm">
          <Text size="sm" mb="xs">
            Give them this invitation token (valid 7 days; it is shown only now). They accept it with POST
            /v1/invitations/accept.
          </Text>
          <TextInput label="Invitation token" readOnly value={sent.token} autoComplete="off" />
          <Group mt="xs" gap="xs">
            <CopyButton value={sent.token}>
              {({ copied, copy }) => (
                <Button size="xs" variant="default" onClick={copy}>
                  {copied ? 'Copied' : 'Copy token'}
                </Button>
              )}
            </CopyButton>
            <Button size="xs" variant="default" onClick={() => setSent(null)}>
              Hide
            </Button>
          </Group>
        </Alert>
      ) : null}
    </Paper>
  )
}
