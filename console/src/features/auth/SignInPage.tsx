import { useRef, useState, type SyntheticEvent } from 'react'
import {
  Alert,
  Anchor,
  Button,
  Container,
  Divider,
  Paper,
  PasswordInput,
  Stack,
  Text,
  TextInput,
  Title,
} from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { Link, useLocation, useNavigate, useSearchParams } from 'react-router'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAction } from '../../lib/action.ts'
import { ApiError } from '../../lib/api.ts'
import { passkeyProblem, passkeysSupported } from '../../lib/webauthn.ts'
import { meKey, signIn, signInWithPasskey, ssoStartUrl } from './api.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * What a failed single sign-on's code means (the API sends the browser back to
 * /sign-in?sso=failed&code=CODE: the code only, never personal data).
 */
const SSO_FAILURES: Record<string, string> = {
  SSO_FAILED:
    'The identity provider did not sign you in, or its answer did not pass Custodian’s checks. Nothing was signed in: try again.',
  SSO_STATE_INVALID:
    'This sign-in expired, was already used, or was started in another browser or tab. Start single sign-on again.',
  SSO_EMAIL_NOT_ALLOWED:
    'Your email address at the identity provider is not verified, or is not in a domain this org allows.',
  SSO_NOT_A_MEMBER: 'Your account is not a member of this org. Ask one of its admins for an invitation.',
  IP_NOT_ALLOWED: 'This org accepts sign-ins only from its allowed network addresses, and this is not one of them.',
  NOT_FOUND: 'This org has no single sign-on enabled. Check the org ID, or sign in with your email and password.',
  SSO_PROVIDER_UNAVAILABLE: 'The org’s identity provider could not be reached. Try again in a moment.',
  SECRET_EXPOSED:
    'This org’s single sign-on is stopped because its client secret was reported exposed. An admin must store a new one.',
  AUDIT_UNAVAILABLE: 'The sign-in could not be recorded in the audit log, so it was refused. Try again in a moment.',
}

/** The code of a failed single sign-on in the address, if it looks like one (anything else is not shown). */
function ssoFailureCode(params: URLSearchParams): string | null {
  const code = params.get('code') ?? ''
  if (params.get('sso') !== 'failed') return null
  return /^[A-Z][A-Z0-9_]{0,63}$/.test(code) ? code : ''
}

/**
 * Email and password; then, when the API answers MFA_REQUIRED, the authenticator's code
 * (or a recovery code); when the account belongs to several orgs, the org's id. Or a
 * passkey (no password), or the org's single sign-on (its id, then its identity provider).
 */
export function SignInPage() {
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  // app/guards.tsx's SignedOutRedirect: the session ended on the server while in use.
  const endedSession = (useLocation().state as { signedOut?: boolean } | null)?.signedOut === true
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [code, setCode] = useState('')
  // `?org=<id>`: the org picker's "Sign in to …" names the org to enter.
  const [searchParams] = useSearchParams()
  const namedOrg = searchParams.get('org') ?? ''
  const ssoFailure = ssoFailureCode(searchParams)
  const [orgId, setOrgId] = useState(UUID.test(namedOrg) ? namedOrg : '')
  const [needCode, setNeedCode] = useState(false)
  const [needOrg, setNeedOrg] = useState(UUID.test(namedOrg))
  const action = useAction(passkeyProblem)
  const codeInput = useRef<HTMLInputElement>(null)
  const orgInput = useRef<HTMLInputElement>(null)

  /** The API asks for an org's id when the account belongs to several: the field appears, focused. */
  const askForOrg = (caught: unknown) => {
    if (caught instanceof ApiError && caught.fieldError('orgId') !== undefined && !needOrg) {
      setNeedOrg(true)
      setTimeout(() => orgInput.current?.focus(), 0)
    }
  }
  const signedIn = async () => {
    await queryClient.invalidateQueries({ queryKey: meKey })
    await navigate('/orgs')
  }

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    await action.run(async () => {
      try {
        await signIn({
          email,
          password,
          ...(needCode && code !== '' ? { code: code.replace(/\s+/g, '') } : {}),
          ...(needOrg && orgId !== '' ? { orgId: orgId.trim() } : {}),
        })
      } catch (caught) {
        if (caught instanceof ApiError && caught.code === 'MFA_REQUIRED') {
          setNeedCode(true)
          setTimeout(() => codeInput.current?.focus(), 0)
        } else askForOrg(caught)
        throw caught
      }
      setPassword('')
      setCode('')
      await signedIn()
    })
  }
  const passkey = () =>
    action.run(async () => {
      try {
        await signInWithPasskey(needOrg && orgId.trim() !== '' ? orgId.trim() : undefined)
      } catch (caught) {
        askForOrg(caught)
        throw caught
      }
      await signedIn()
    })
  const { error, problem, pending, field } = action

  return (
    <Container size={420} py="xl" component="main">
      <Title order={1} ta="center" mb="md">
        Sign in to Custodian
      </Title>
      {endedSession ? (
        <Alert color="blue" title="You are signed out" role="status" mb="md">
          Your session has ended: it was revoked, or your access to the org was removed. Sign in again to continue.
        </Alert>
      ) : null}
      {ssoFailure !== null ? (
        <Alert
          color="red"
          title="Single sign-on failed"
          role="alert"
          mb="md"
          data-code={ssoFailure === '' ? undefined : ssoFailure}
        >
          {SSO_FAILURES[ssoFailure] ?? 'Single sign-on did not complete. Try again, or ask your org’s admins.'}
        </Alert>
      ) : null}
      <Paper withBorder shadow="sm" p="lg" radius="md">
        <form onSubmit={(event) => void submit(event)} noValidate>
          <Stack>
            {error !== null && !(problem?.code === 'MFA_REQUIRED' && code === '') ? (
              <ProblemAlert error={error} title="Sign-in refused" />
            ) : null}
            <TextInput
              label="Email"
              type="email"
              autoComplete="username"
              required
              {...field('email', email, setEmail)}
            />
            <PasswordInput
              label="Password"
              autoComplete="current-password"
              required
              {...field('password', password, setPassword)}
            />
            {needCode ? (
              <>
                <Text size="sm" id="code-help">
                  This account uses two-factor authentication: enter the code from your authenticator app, or one of
                  your recovery codes. Each code works once: just used this one? Wait for the next.
                </Text>
                <TextInput
                  ref={codeInput}
                  label="Authentication code"
                  autoComplete="one-time-code"
                  inputMode="text"
                  required
                  aria-describedby="code-help"
                  {...field('code', code, setCode)}
                />
              </>
            ) : null}
            {needOrg ? (
              <TextInput
                ref={orgInput}
                label="Org ID"
                description="Your account belongs to several orgs: enter the id of the one to sign in to."
                required
                {...field('orgId', orgId, setOrgId)}
              />
            ) : null}
            <Button type="submit" loading={pending} fullWidth>
              Sign in
            </Button>
          </Stack>
        </form>
        {passkeysSupported() ? (
          <>
            <Divider my="md" label="or" labelPosition="center" />
            <Button variant="default" fullWidth onClick={() => void passkey()} disabled={pending}>
              {/* Not "Sign in with a passkey": its name would also answer to "Sign in". */}
              Use a passkey
            </Button>
          </>
        ) : null}
      </Paper>
      <SsoForm email={email} namedOrg={UUID.test(namedOrg) ? namedOrg : ''} />
      <Text size="sm" ta="center" mt="md">
        Invited to an org?{' '}
        <Anchor component={Link} to="/invitations/accept">
          Accept an invitation
        </Anchor>
      </Text>
    </Container>
  )
}

/**
 * Single sign-on: the org's id (its admins give it out with the org's SSO sign-in URL), then
 * the browser goes to GET /v1/sso/{orgId}/start?returnTo=console, which redirects to the
 * identity provider. The API sends the browser back to /sso-complete (SsoCompletePage), or
 * here with ?sso=failed&code=CODE — also when the org has no SSO (NOT_FOUND), which the
 * console cannot tell beforehand.
 */
function SsoForm({ email, namedOrg }: { email: string; namedOrg: string }) {
  // The org the picker's "Sign in to …" named: an SSO org is entered here as well.
  const [orgId, setOrgId] = useState(namedOrg)
  const [invalid, setInvalid] = useState(false)
  const submit = (event: SyntheticEvent) => {
    event.preventDefault()
    const id = orgId.trim()
    if (!UUID.test(id)) {
      setInvalid(true)
      return
    }
    window.location.assign(ssoStartUrl(id, email.trim()))
  }
  return (
    <Paper withBorder p="lg" radius="md" mt="md" component="section" aria-labelledby="sso-title">
      <form onSubmit={submit} noValidate>
        <Stack>
          <Title order={2} size="h5" id="sso-title">
            Single sign-on
          </Title>
          <TextInput
            label="SSO org ID"
            description="If your org signs in through its identity provider (Google, Microsoft, …)."
            value={orgId}
            onChange={(e) => {
              setOrgId(e.currentTarget.value)
              setInvalid(false)
            }}
            error={invalid ? 'An org ID looks like 8-4-4-4-12 hexadecimal digits.' : undefined}
          />
          <Button type="submit" variant="default" fullWidth disabled={orgId.trim() === ''}>
            Continue with single sign-on
          </Button>
        </Stack>
      </form>
    </Paper>
  )
}
