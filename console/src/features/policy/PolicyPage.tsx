import { useEffect, useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Button,
  Checkbox,
  Container,
  Group,
  NativeSelect,
  NumberInput,
  PasswordInput,
  Stack,
  Switch,
  Text,
  TextInput,
  Textarea,
  Title,
} from '@mantine/core'
import { useParams } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus } from '../../components/ListStatus.tsx'
import { Notice } from '../../components/Notice.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import { ApiError } from '../../lib/api.ts'
import { when } from '../../lib/format.ts'
import { useIpAllowlist, usePolicyActions, useSecurityPolicy, useSso, type SsoPreset } from './api.ts'
import { counted } from '../../lib/plural.ts'
import { PermissionName } from '../../components/PermissionScope.tsx'

/**
 * The org's security policy: require 2FA and the step-up window, the IP allowlist (with
 * the caller's own address as the API saw it), and single sign-on. Changing any of it
 * needs org:security and, in a browser session, a recent second factor.
 */
export function PolicyPage({ canChange }: { canChange: boolean }) {
  const { orgId = '' } = useParams()
  return (
    <Container size="md" py="md">
      <Title order={1} mb="md">
        Security policy
      </Title>
      {canChange ? null : (
        <Alert variant="default" mb="md" title="Read only">
          Changing the security policy needs <PermissionName permission="org:security" />, which your role does not
          hold.
        </Alert>
      )}
      <Stack gap="lg">
        <TwoFactorPolicy orgId={orgId} canChange={canChange} />
        <IpAllowlist orgId={orgId} canChange={canChange} />
        <SingleSignOn orgId={orgId} canChange={canChange} />
      </Stack>
    </Container>
  )
}

function TwoFactorPolicy({ orgId, canChange }: { orgId: string; canChange: boolean }) {
  const policy = useSecurityPolicy(orgId)
  const actions = usePolicyActions(orgId)
  const [require2fa, setRequire2fa] = useState(false)
  const [minutes, setMinutes] = useState<number | string>(10)
  const save = useAction()
  const [saved, setSaved] = useState<string | null>(null)
  useEffect(() => {
    if (policy.data === undefined) return
    setRequire2fa(policy.data.require2fa)
    setMinutes(policy.data.stepUpMinutes)
  }, [policy.data])

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setSaved(null)
    await save.run(async () => {
      const done = await actions.setPolicy({ require2fa, stepUpMinutes: Number(minutes) })
      setSaved(
        `Saved: two-factor authentication ${done.require2fa ? 'required' : 'not required'}, step-up within ${counted(done.stepUpMinutes, 'minute')}.`,
      )
    })
  }

  return (
    <Panel title="Two-factor authentication">
      <ListStatus query={policy} noun="the security policy" refusal="You cannot read this org’s security policy" />
      {policy.isSuccess ? (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <Stack gap="sm">
            <ActionProblem error={save.error} title="Not saved" />
            <Notice message={saved} onClose={() => setSaved(null)} />
            <Switch
              label="Require two-factor authentication"
              description="Members without a second factor can only enrol one until they do"
              checked={require2fa}
              disabled={!canChange}
              onChange={(e) => setRequire2fa(e.currentTarget.checked)}
              error={save.problem?.fieldError('require2fa')}
            />
            <NumberInput
              label="Step-up window (minutes)"
              description="How recent a second factor sensitive actions need (1–1440)"
              min={1}
              max={1440}
              value={minutes}
              disabled={!canChange}
              onChange={setMinutes}
              error={save.problem?.fieldError('stepUpMinutes')}
            />
            {canChange ? (
              <Group>
                <Button type="submit">Save policy</Button>
              </Group>
            ) : null}
          </Stack>
        </form>
      ) : null}
    </Panel>
  )
}

interface Entry {
  key: number
  cidr: string
  description: string
}

let nextKey = 0
const entry = (cidr = '', description = ''): Entry => ({ key: nextKey++, cidr, description })

function IpAllowlist({ orgId, canChange }: { orgId: string; canChange: boolean }) {
  const list = useIpAllowlist(orgId)
  const actions = usePolicyActions(orgId)
  const [entries, setEntries] = useState<Entry[]>([])
  const [force, setForce] = useState(false)
  const save = useAction()
  const [saved, setSaved] = useState<string | null>(null)
  useEffect(() => {
    if (list.data !== undefined) setEntries(list.data.entries.map((e) => entry(e.cidr, e.description)))
  }, [list.data])
  const yourAddress = list.data?.yourAddress ?? null
  const update = (key: number, change: Partial<Entry>) =>
    setEntries((all) => all.map((e) => (e.key === key ? { ...e, ...change } : e)))

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setSaved(null)
    await save.run(async () => {
      const done = await actions.setAllowlist(
        entries.filter((e) => e.cidr.trim() !== '').map((e) => ({ cidr: e.cidr.trim(), description: e.description })),
        force,
      )
      setForce(false)
      setSaved(
        done.entries.length === 0
          ? 'Saved: no allowlist, requests are accepted from any address.'
          : `Saved: ${done.entries.length} allowed ranges.`,
      )
    })
  }

  return (
    <Panel
      title="IP allowlist"
      description="Once set, every request, sign-in and SSO sign-in of this org from another address is refused. An empty list lifts it."
    >
      <ListStatus query={list} noun="the IP allowlist" refusal="You cannot read this org’s IP allowlist" />
      {list.isSuccess ? (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <Stack gap="sm">
            <Text size="sm" role="note">
              {yourAddress === null
                ? 'The service did not see the address your requests come from.'
                : `Your address, as the service sees it: ${yourAddress}`}
            </Text>
            <ActionProblem error={save.error} title="Not saved" />
            <Notice message={saved} onClose={() => setSaved(null)} />
            {entries.length === 0 ? (
              <Text c="dimmed">No allowlist: requests are accepted from any address.</Text>
            ) : null}
            {entries.map((e, i) => (
              <Group key={e.key} align="flex-end" gap="xs" wrap="nowrap">
                <TextInput
                  label={`Range ${i + 1}`}
                  placeholder="203.0.113.0/24"
                  value={e.cidr}
                  disabled={!canChange}
                  onChange={(ev) => update(e.key, { cidr: ev.currentTarget.value })}
                  error={save.problem?.fieldError(`entries/${i}/cidr`)}
                />
                <TextInput
                  label={`Description of range ${i + 1}`}
                  value={e.description}
                  disabled={!canChange}
                  onChange={(ev) => update(e.key, { description: ev.currentTarget.value })}
                  error={save.problem?.fieldError(`entries/${i}/description`)}
                />
                {canChange ? (
                  <Button
                    variant="default"
                    aria-label={`Remove range ${i + 1}`}
                    onClick={() => setEntries((all) => all.filter((x) => x.key !== e.key))}
                  >
                    Remove
                  </Button>
                ) : null}
              </Group>
            ))}
            {canChange ? (
              <>
                <Group gap="xs">
                  <Button variant="default" onClick={() => setEntries((all) => [...all, entry()])}>
                    Add range
                  </Button>
                  {yourAddress !== null ? (
                    <Button
                      variant="default"
                      onClick={() => setEntries((all) => [...all, entry(yourAddress, 'my address')])}
                    >
                      Add my address
                    </Button>
                  ) : null}
                </Group>
                <Checkbox
                  label="Apply even if the list leaves out my own address (I will be locked out)"
                  checked={force}
                  onChange={(e) => setForce(e.currentTarget.checked)}
                />
                <Group>
                  <Button type="submit">Save allowlist</Button>
                </Group>
              </>
            ) : null}
          </Stack>
        </form>
      ) : null}
    </Panel>
  )
}

const PRESETS: { value: SsoPreset; label: string }[] = [
  { value: 'google', label: 'Google' },
  { value: 'microsoft', label: 'Microsoft Entra ID' },
  { value: 'oidc', label: 'Any OpenID Connect provider' },
]

function SingleSignOn({ orgId, canChange }: { orgId: string; canChange: boolean }) {
  const sso = useSso(orgId)
  const actions = usePolicyActions(orgId)
  const notSetUp = sso.error instanceof ApiError && sso.error.status === 404
  const [preset, setPreset] = useState<SsoPreset>('google')
  const [issuer, setIssuer] = useState('')
  const [tenant, setTenant] = useState('')
  const [clientId, setClientId] = useState('')
  const [clientSecret, setClientSecret] = useState('')
  const [domains, setDomains] = useState('')
  const [defaultRole, setDefaultRole] = useState('member')
  const [jit, setJit] = useState(true)
  const [enabled, setEnabled] = useState(true)
  const save = useAction()
  const [saved, setSaved] = useState<string | null>(null)
  const [confirming, setConfirming] = useState<'ssoOnly' | 'remove' | null>(null)
  useEffect(() => {
    const c = sso.data
    if (c === undefined) return
    setPreset(c.preset)
    setIssuer(c.preset === 'oidc' ? c.issuer : '')
    setClientId(c.clientId)
    setDomains(c.allowedDomains.join('\n'))
    setDefaultRole(c.defaultRole)
    setJit(c.jitProvisioning)
    setEnabled(c.enabled)
  }, [sso.data])

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setSaved(null)
    const stored = await save.run(() =>
      actions.putSso({
        preset,
        ...(preset === 'oidc' ? { issuer } : {}),
        ...(preset === 'microsoft' ? { tenant } : {}),
        clientId,
        ...(clientSecret === '' ? {} : { clientSecret }),
        allowedDomains: domains
          .split(/[\s,]+/)
          .map((d) => d.trim())
          .filter((d) => d !== ''),
        defaultRole,
        jitProvisioning: jit,
        enabled,
      }),
    )
    if (stored) {
      setClientSecret('')
      setSaved('Single sign-on is saved.')
    }
  }
  /** A confirmed change: its refusal stays in the dialog (ConfirmDialog), its outcome here. */
  const confirmed = async (message: string, change: () => Promise<unknown>) => {
    save.setError(null)
    setSaved(null)
    await change()
    setSaved(message)
  }

  return (
    <Panel title="Single sign-on">
      <ListStatus
        query={{ isPending: sso.isPending, isError: sso.isError && !notSetUp, error: sso.error }}
        noun="single sign-on"
        refusal="You cannot read this org’s single sign-on"
      />
      <Stack gap="sm">
        <ActionProblem error={save.error} title="Not saved" />
        <Notice message={saved} onClose={() => setSaved(null)} />
        {notSetUp ? <Text c="dimmed">Not set up: members sign in with their password.</Text> : null}
        {sso.data !== undefined ? (
          <Stack gap={4}>
            <Text size="sm">Redirect URI to register at the provider: {sso.data.redirectUri}</Text>
            <Text size="sm">Sign-in address for the org’s people: {sso.data.loginUrl}</Text>
            <Text size="sm">
              {sso.data.ssoOnly ? 'SSO only: members cannot sign in with a password.' : 'Passwords still work.'} Last
              SSO sign-in: {when(sso.data.lastLoginAt)}
            </Text>
          </Stack>
        ) : null}
        {canChange && (sso.isSuccess || notSetUp) ? (
          <form onSubmit={(event) => void submit(event)} noValidate>
            <Stack gap="sm">
              <NativeSelect
                label="Identity provider"
                data={PRESETS}
                {...save.field('preset', preset, (value) => setPreset(value as SsoPreset))}
              />
              {preset === 'oidc' ? (
                <TextInput label="Issuer URL" required {...save.field('issuer', issuer, setIssuer)} />
              ) : null}
              {preset === 'microsoft' ? (
                <TextInput label="Directory (tenant) ID" required {...save.field('tenant', tenant, setTenant)} />
              ) : null}
              <TextInput label="Client ID" required {...save.field('clientId', clientId, setClientId)} />
              <PasswordInput
                label="Client secret"
                description={sso.isSuccess ? 'Leave empty to keep the current one' : 'Kept in the vault'}
                autoComplete="off"
                {...save.field('clientSecret', clientSecret, setClientSecret)}
              />
              <Textarea
                label="Allowed email domains"
                description="One a line: only verified emails in these domains sign in"
                autosize
                minRows={2}
                {...save.field('allowedDomains', domains, setDomains)}
              />
              <TextInput label="Default role" {...save.field('defaultRole', defaultRole, setDefaultRole)} />
              <Checkbox
                label="Add people at their first sign-in with the default role"
                checked={jit}
                onChange={(e) => setJit(e.currentTarget.checked)}
              />
              <Checkbox label="Enabled" checked={enabled} onChange={(e) => setEnabled(e.currentTarget.checked)} />
              <Group>
                <Button type="submit">Save single sign-on</Button>
                {sso.isSuccess ? (
                  <>
                    <Button variant="default" onClick={() => setConfirming('ssoOnly')}>
                      {sso.data.ssoOnly ? 'Allow passwords again' : 'Require SSO only'}
                    </Button>
                    <Button variant="default" onClick={() => setConfirming('remove')}>
                      Remove single sign-on
                    </Button>
                  </>
                ) : null}
              </Group>
            </Stack>
          </form>
        ) : null}
      </Stack>
      <ConfirmDialog
        opened={confirming !== null}
        onClose={() => setConfirming(null)}
        title={confirming === 'remove' ? 'Remove single sign-on?' : 'Change how members sign in?'}
        confirmLabel="Confirm"
        danger
        onConfirm={async () => {
          if (confirming === 'remove') await confirmed('Single sign-on is removed.', () => actions.removeSso())
          else if (sso.data !== undefined) {
            const on = !sso.data.ssoOnly
            await confirmed(on ? 'Members now sign in with SSO only.' : 'Passwords work again.', () =>
              actions.setSsoOnly(on),
            )
          }
        }}
      >
        {confirming === 'remove'
          ? 'The set-up is removed and its client secret crypto-erased; members sign in with their password.'
          : sso.data?.ssoOnly === true
            ? 'SSO only is lifted: the sign-in page accepts passwords again.'
            : 'Members sign in with SSO only, and every member’s password hash is erased.'}
      </ConfirmDialog>
    </Panel>
  )
}
