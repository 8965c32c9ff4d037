import { useMemo, useState, type SyntheticEvent } from 'react'
import {
  Anchor,
  Button,
  Checkbox,
  Container,
  Group,
  NativeSelect,
  NumberInput,
  Stack,
  Table,
  Text,
  Textarea,
  Title,
} from '@mantine/core'
import { Link, useNavigate } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmItem } from '../../components/ConfirmDialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ListTable, RowAction } from '../../components/ListTable.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { PermissionScope } from '../../components/PermissionScope.tsx'
import { actUnder, useActingGrant } from '../../lib/acting.ts'
import { landingUnder } from '../../lib/orgPages.ts'
import { useAction } from '../../lib/action.ts'
import { when } from '../../lib/format.ts'
import { counted } from '../../lib/plural.ts'
import { useCustomerOrgs, useGrantablePermissions, useMyGrants, useOperatorGrantActions, type Grant } from './api.ts'
import { approvalCount, days, GrantStatus } from './ui.tsx'
import './grants.css'

/**
 * Operators' diagnostic access (P2.8): request a grant of a customer org (reason, scope,
 * duration), follow its approval (the list is asked again while a request is pending), act
 * under an active grant — the console then opens that org's pages and sends the grant with
 * each of their requests — and withdraw a request or give up a grant.
 */
export function OperatorGrantsPage() {
  const acting = useActingGrant()
  const grants = useMyGrants()
  const all = useMemo(() => grants.data?.pages.flatMap((p) => p.grants) ?? [], [grants.data])
  const anyPending = all.some((g) => g.status === 'pending')
  const actions = useOperatorGrantActions()
  const navigate = useNavigate()
  const [withdrawing, setWithdrawing] = useState<Grant | null>(null)

  const act = (g: Grant) => {
    actUnder({
      id: g.id,
      orgId: g.orgId,
      orgName: g.orgName ?? 'the org',
      expiresAt: g.expiresAt ?? '',
      permissions: g.permissions,
      secretIds: g.secretIds,
    })
    // The page the grant was asked for, never one outside it: its first named secret, else
    // the first org page whose permission it holds (a refused request is the org's alert).
    const landing = landingUnder(g)
    if (landing !== null) void navigate(landing)
  }

  return (
    <Container size="xl" py="md">
      <Anchor component={Link} to="/operator" size="sm">
        ← Operator overview
      </Anchor>
      <Title order={1} my="xs">
        Diagnostic access
      </Title>
      <Text c="dimmed" size="sm" mb="md">
        Access to a customer’s data only with that org’s approval, for a limited time, within the scope it approved;
        every use is recorded in the org’s audit log, and the org can revoke it at any moment.
      </Text>
      <Group align="flex-start" gap="lg" wrap="wrap">
        <Stack gap="sm" className="secrets-list">
          <Title order={2} size="h4">
            Your requests and grants
          </Title>
          <ListStatus
            query={grants}
            noun="your grants"
            refusal="You cannot request diagnostic access"
            empty={{ when: all.length === 0, text: 'You have asked for no diagnostic access yet.' }}
          />
          {anyPending ? (
            <Text size="sm" role="status">
              Waiting for approval: this list follows it.
            </Text>
          ) : null}
          {all.length > 0 ? (
            <ListTable
              striped
              label="Your grants"
              columns={['Org', 'Reason', 'Scope', 'State', 'Approvals', 'Until', 'Actions']}
            >
              {all.map((g) => (
                <Table.Tr key={g.id}>
                  <Table.Td>{g.orgName ?? 'the org'}</Table.Td>
                  <Table.Td>{g.reason}</Table.Td>
                  <Table.Td>
                    <PermissionScope permissions={g.permissions} />
                    {g.secretIds.length > 0 ? (
                      <Text size="xs" c="dimmed">
                        {counted(g.secretIds.length, 'named secret')}
                      </Text>
                    ) : null}
                  </Table.Td>
                  <Table.Td>
                    <GrantStatus status={g.status} />
                    {acting?.id === g.id ? (
                      <Text size="xs" fw={700}>
                        acting under it
                      </Text>
                    ) : null}
                  </Table.Td>
                  <Table.Td>{approvalCount(g)}</Table.Td>
                  <Table.Td>
                    {g.status === 'pending'
                      ? `request lapses ${when(g.pendingUntil)} if unanswered`
                      : g.status === 'active'
                        ? when(g.expiresAt)
                        : g.endedAt !== null
                          ? `ended ${when(g.endedAt)}`
                          : when(g.expiresAt)}
                  </Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                      {g.status === 'active' ? (
                        <RowAction
                          label={`Act under it: the grant to ${g.orgName ?? 'the org'}`}
                          onClick={() => act(g)}
                        >
                          Act under it
                        </RowAction>
                      ) : null}
                      {g.status === 'active' || g.status === 'pending' ? (
                        <RowAction
                          label={`${g.status === 'pending' ? 'Withdraw the request to' : 'Give up the grant to'} ${g.orgName ?? 'the org'}`}
                          onClick={() => setWithdrawing(g)}
                        >
                          {g.status === 'pending' ? 'Withdraw' : 'Give up'}
                        </RowAction>
                      ) : null}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </ListTable>
          ) : null}
          <LoadMore query={grants} />
        </Stack>
        <div className="secrets-create">
          <RequestForm />
        </div>
      </Group>
      <ConfirmItem
        item={withdrawing}
        onClose={() => setWithdrawing(null)}
        title={withdrawing?.status === 'pending' ? 'Withdraw this request?' : 'Give up this grant?'}
        confirmLabel={withdrawing?.status === 'pending' ? 'Withdraw request' : 'Give up grant'}
        text={(g) => `Your access to ${g.orgName ?? 'the org'} ends now; asking again needs a new approval.`}
        onConfirm={async (g) => {
          await actions.withdraw(g.id)
          if (acting?.id === g.id) actUnder(null)
        }}
      />
    </Container>
  )
}

/** Asks an org for access: the org, why, what (permissions, named secrets for vault:reveal) and how long. */
function RequestForm() {
  const orgs = useCustomerOrgs()
  const grantable = useGrantablePermissions()
  const actions = useOperatorGrantActions()
  const [orgId, setOrgId] = useState('')
  const [reason, setReason] = useState('')
  const [permissions, setPermissions] = useState<string[]>([])
  const [secrets, setSecrets] = useState('')
  const [duration, setDuration] = useState<number | string>('')
  const [notice, setNotice] = useState<string | null>(null)
  const request = useAction()
  const chosen = orgId !== '' ? orgId : (orgs.data?.[0]?.id ?? '')

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setNotice(null)
    const secretIds = secrets
      .split(/[\s,]+/)
      .map((s) => s.trim())
      .filter((s) => s !== '')
    const done = await request.run(async () => {
      const made = await actions.request({
        orgId: chosen,
        reason,
        permissions,
        ...(secretIds.length > 0 ? { secretIds } : {}),
        ...(duration === '' ? {} : { durationDays: Number(duration) }),
      })
      const name = orgs.data?.find((o) => o.id === made.orgId)?.name ?? 'the org'
      setNotice(`Requested ${days(made.durationDays)} of access to ${name}: its admins are told.`)
    })
    if (done) {
      setReason('')
      setPermissions([])
      setSecrets('')
      setDuration('')
    }
  }

  return (
    <Panel title="Request diagnostic access" description="The org’s admins read your reason and decide.">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={request.error} title="Not requested" />
          <Notice message={notice} onClose={() => setNotice(null)} />
          <ActionProblem error={orgs.error} title="The orgs cannot be listed" />
          <NativeSelect
            label="Org"
            data={(orgs.data ?? []).map((o) => ({ value: o.id, label: o.name }))}
            {...request.field('orgId', chosen, setOrgId)}
          />
          <Textarea
            label="Reason"
            description="At least 10 characters, in words the org’s admins will read (a ticket, the symptom)."
            required
            autosize
            minRows={2}
            {...request.field('reason', reason, setReason)}
          />
          <Checkbox.Group
            label="Permissions"
            description="Seeing and checking; revealing a secret's value only for the secrets named below."
            value={permissions}
            onChange={setPermissions}
            error={request.problem?.fieldError('permissions')}
          >
            {/* A CSS grid, not Mantine's SimpleGrid: that injects a <style> element the CSP refuses. */}
            <div className="grant-permissions">
              {(grantable.data ?? []).map((p) => (
                <Checkbox key={p.name} value={p.name} label={p.description} title={p.name} size="xs" />
              ))}
            </div>
          </Checkbox.Group>
          <ListStatus
            query={grantable}
            noun="the grantable permissions"
            refusal="The permission catalog cannot be read"
          />
          <Textarea
            label="Secrets to reveal"
            description="Their ids, one a line: the org’s admin copies each from the secret’s page (“Copy the secret’s id”) and sends it with the ticket. Named only with “Reveal a secret’s value” checked."
            autosize
            minRows={1}
            {...request.field('secretIds', secrets, setSecrets)}
          />
          <NumberInput
            label="Duration (days)"
            description="Left empty: 21 days, or the org’s maximum if shorter."
            min={1}
            max={90}
            value={duration}
            onChange={setDuration}
            error={request.problem?.fieldError('durationDays')}
          />
          <Group>
            <Button type="submit" loading={request.pending}>
              Request access
            </Button>
          </Group>
        </Stack>
      </form>
    </Panel>
  )
}
