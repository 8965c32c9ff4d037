import { useEffect, useState, type SyntheticEvent } from 'react'
import { Alert, Badge, Button, Group, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmItem } from '../../components/ConfirmDialog.tsx'
import { ListPage } from '../../components/ListPage.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { useAccessActions, useMembers, useRoles, useSelfId } from './api.ts'
import { TokenShownOnce } from '../../components/TokenShownOnce.tsx'
import { PermissionName } from '../../components/PermissionScope.tsx'
import { SecretPathsNote } from './SecretPathsNote.tsx'

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
  const selfId = useSelfId()
  const actions = useAccessActions(orgId)
  const roleNames = useRoleNames(orgId)
  const action = useAction()
  const [done, setDone] = useState<string | null>(null)
  const [removing, setRemoving] = useState<{ userId: string; email: string } | null>(null)
  const all = members.data?.pages.flatMap((p) => p.members) ?? []
  const invitations = members.data?.pages[0]?.invitations ?? []

  const run = async (message: string, change: () => Promise<unknown>) => {
    setDone(null)
    if (await action.run(change)) setDone(message)
  }

  return (
    <ListPage
      title="Members"
      aside={
        can('members:invite') ? (
          <InviteForm orgId={orgId} roleNames={roleNames} />
        ) : (
          <Text size="sm" c="dimmed">
            Inviting people needs <PermissionName permission="members:invite" />, which your role does not hold.
          </Text>
        )
      }
    >
      <Stack gap="sm">
        <ActionProblem error={action.error} title="Refused" />
        <Notice message={done} onClose={() => setDone(null)} />
        <ListStatus query={members} noun="members" refusal="You cannot list this org’s members" />
        {members.isSuccess ? (
          <>
            <ListTable striped label="Members" columns={['Email', 'Role', 'Joined', 'State', 'Actions']}>
              {all.map((m) => (
                <MemberRow
                  key={m.userId}
                  member={m}
                  self={m.userId === selfId}
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
            </ListTable>
            <LoadMore query={members} />
            <Title order={2} size="h4" mt="md">
              Pending invitations
            </Title>
            {invitations.length === 0 ? (
              <Text c="dimmed">No pending invitations.</Text>
            ) : (
              <ListTable label="Pending invitations" columns={['Email', 'Role', 'Expires']}>
                {invitations.map((i) => (
                  <Table.Tr key={i.id}>
                    <Table.Td>{i.email}</Table.Td>
                    <Table.Td>{i.role}</Table.Td>
                    <Table.Td>{new Date(i.expiresAt).toLocaleString()}</Table.Td>
                  </Table.Tr>
                ))}
              </ListTable>
            )}
          </>
        ) : null}
      </Stack>
      <ConfirmItem
        item={removing}
        onClose={() => setRemoving(null)}
        title="Remove this member?"
        confirmLabel="Remove member"
        text={(m) => `${m.email} leaves the org: every session and API token of theirs in it is revoked at once.`}
        onConfirm={async (m) => {
          setDone(null)
          action.setError(null)
          await actions.removeMember(m.userId)
          setDone(`${m.email} is removed.`)
        }}
      />
    </ListPage>
  )
}

function MemberRow({
  member,
  self,
  roleNames,
  can,
  onChangeRole,
  onSuspend,
  onRemove,
}: {
  member: {
    userId: string
    email: string
    role: string
    secretPaths: string[] | null
    joinedAt: string
    suspendedAt: string | null
  }
  /** The signed-in person's own row: the API refuses suspending or removing yourself, so neither is offered. */
  self: boolean
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
      <Table.Td>
        {member.email}
        {self ? ' (you)' : ''}
      </Table.Td>
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
        <SecretPathsNote paths={member.secretPaths} />
      </Table.Td>
      <Table.Td>{new Date(member.joinedAt).toLocaleDateString()}</Table.Td>
      <Table.Td>
        <Badge variant="outline" color="dark">
          {member.suspendedAt === null ? 'active' : 'suspended'}
        </Badge>
      </Table.Td>
      <Table.Td>
        <Group gap="xs" wrap="nowrap">
          {can('members:update') && !self ? (
            <RowAction
              label={`${member.suspendedAt === null ? 'Suspend' : 'Resume'} ${member.email}`}
              onClick={() => onSuspend(member.suspendedAt === null)}
            >
              {member.suspendedAt === null ? 'Suspend' : 'Resume'}
            </RowAction>
          ) : null}
          {can('members:remove') && !self ? (
            <RowAction label={`Remove ${member.email}`} onClick={onRemove}>
              Remove
            </RowAction>
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
  const invite = useAction()
  const [sent, setSent] = useState<{ email: string; token: string } | null>(null)

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setSent(null)
    await invite.run(async () => {
      const made = await actions.invite(email, role)
      setSent({ email: made.email, token: made.token })
      setEmail('')
    })
  }

  return (
    <Panel title="Invite someone">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={invite.error} title="Not invited" />
          <TextInput label="Email" type="email" required {...invite.field('email', email, setEmail)} />
          {roleNames.length > 0 ? (
            <NativeSelect label="Role" data={roleNames} {...invite.field('role', role, setRole)} />
          ) : (
            <TextInput label="Role" required {...invite.field('role', role, setRole)} />
          )}
          <Button type="submit" loading={invite.pending}>
            Send invitation
          </Button>
        </Stack>
      </form>
      {sent !== null ? (
        <Alert variant="default" title={`Invitation for ${sent.email}`} role="status" mt="sm">
          <Text size="sm" mb="xs">
            Give them this invitation token (valid 7 days; it is shown only now). They open{' '}
            <Text span ff="monospace" size="sm">
              {window.location.origin}/console/invitations/accept
            </Text>{' '}
            (“Accept an invitation” on the sign-in page), paste it there and choose a password; or, without the console,
            POST /v1/invitations/accept.
          </Text>
          <TokenShownOnce label="Invitation token" token={sent.token} compact>
            <Button size="xs" variant="default" onClick={() => setSent(null)}>
              Hide
            </Button>
          </TokenShownOnce>
        </Alert>
      ) : null}
    </Panel>
  )
}
