import { useEffect, useRef, useState, type SyntheticEvent } from 'react'
import { Alert, Anchor, Button, Container, Paper, PasswordInput, Stack, Text, TextInput, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate } from 'react-router'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { TokenShownOnce } from '../../components/TokenShownOnce.tsx'
import { useAction, type FieldProps } from '../../lib/action.ts'
import { api, ApiError, unwrap } from '../../lib/api.ts'
import { landingIn } from '../../lib/orgPages.ts'
import { acceptInvitation, meKey, signIn, type Joined } from './api.ts'

/**
 * A PasswordInput's field, marked invalid for assistive technology when it carries an error
 * (Mantine's PasswordInput links its error to the input but sets no aria-invalid).
 */
const invalid = (props: FieldProps) => ({ ...props, 'aria-invalid': props.error !== undefined })

/**
 * Accepting an invitation (public, `/console/invitations/accept`): the invitee pastes the
 * token an admin gave them (never in the address: this page reads none from it) and a
 * password — a new account's, or the account's own when the email already has one, with
 * its authenticator code when it uses two-factor authentication. The page then signs in
 * to the org joined (a new code is asked when the account needs one) and shows, once, the
 * API token the API also answers. The invitation token, the password and the API token
 * live in this page's state only.
 */
export function AcceptInvitationPage() {
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const [token, setToken] = useState('')
  const [password, setPassword] = useState('')
  const [repeat, setRepeat] = useState('')
  const [mismatch, setMismatch] = useState(false)
  const [code, setCode] = useState('')
  const [needCode, setNeedCode] = useState(false)
  /** Joined, not yet signed in (the sign-in asks for a code), or signed in. */
  const [joined, setJoined] = useState<Joined | null>(null)
  const [signedIn, setSignedIn] = useState(false)
  const action = useAction()
  const codeInput = useRef<HTMLInputElement>(null)
  const { error, problem, pending, field } = action

  // Each time a code is asked for, its field takes the focus once it is drawn.
  const [codeAsked, setCodeAsked] = useState(0)
  useEffect(() => {
    if (codeAsked > 0) codeInput.current?.focus()
  }, [codeAsked])
  const askForCode = () => {
    setNeedCode(true)
    setCode('')
    setCodeAsked((n) => n + 1)
  }

  /** POST /v1/login to the org joined: without a code first (the one given to join is spent). */
  const signInTo = async (org: Joined, withCode: string) => {
    try {
      await signIn({ email: org.email, password, orgId: org.orgId, ...(withCode === '' ? {} : { code: withCode }) })
    } catch (caught) {
      if (caught instanceof ApiError && caught.code === 'MFA_REQUIRED') askForCode()
      throw caught
    }
    setPassword('')
    setRepeat('')
    setCode('')
    setNeedCode(false)
    setSignedIn(true)
    await queryClient.invalidateQueries({ queryKey: meKey })
  }

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    if (joined !== null) {
      await action.run(() => signInTo(joined, code.replace(/\s+/g, '')))
      return
    }
    if (password !== repeat) {
      setMismatch(true)
      return
    }
    await action.run(async () => {
      let made: Joined
      try {
        made = await acceptInvitation({
          token: token.trim(),
          password,
          ...(needCode && code !== '' ? { code: code.replace(/\s+/g, '') } : {}),
        })
      } catch (caught) {
        if (caught instanceof ApiError && caught.code === 'MFA_REQUIRED') askForCode()
        throw caught
      }
      setToken('')
      setNeedCode(false)
      setCode('')
      setJoined(made)
      await signInTo(made, '')
    })
  }

  if (joined !== null && signedIn)
    return (
      <Container size={520} py="xl" component="main">
        <Title order={1} ta="center" mb="md">
          You joined the org
        </Title>
        <Paper withBorder shadow="sm" p="lg" radius="md">
          <Stack>
            <Text role="status">You are signed in as {joined.email}.</Text>
            <ProblemAlert error={error} />
            <Alert variant="default" title="Your API token, shown once" role="note">
              <Text size="sm" mb="xs">
                Joining also gave you an API token (named “invitation”, valid 30 days) for scripts and the command line.
                The console does not need it, and it is shown only now: copy it if you want it.
              </Text>
              <TokenShownOnce label="API token" token={joined.apiToken} compact>
                <Button
                  size="xs"
                  loading={pending}
                  onClick={() =>
                    void action.run(async () => {
                      // Into the org joined, on the first page the new role opens.
                      const me = await queryClient.query({
                        queryKey: meKey,
                        queryFn: () => unwrap(api.GET('/v1/me')),
                      })
                      const orgId = joined.orgId
                      setJoined(null)
                      await navigate(landingIn(orgId, me.orgId === orgId ? me.permissions : []))
                    })
                  }
                >
                  Continue to the org
                </Button>
              </TokenShownOnce>
            </Alert>
          </Stack>
        </Paper>
      </Container>
    )

  return (
    <Container size={460} py="xl" component="main">
      <Title order={1} ta="center" mb="md">
        Accept an invitation
      </Title>
      <Paper withBorder shadow="sm" p="lg" radius="md">
        <form onSubmit={(event) => void submit(event)} noValidate>
          <Stack>
            {joined === null ? (
              <Text size="sm">
                Paste the invitation token an admin of the org gave you (it starts with cst_inv_, and works once, for 7
                days), and choose a password.
              </Text>
            ) : (
              <Alert color="teal" title="You joined the org" role="status">
                Your account {joined.email} is now a member.{' '}
                {needCode ? (
                  'Signing in needs your second factor: enter the next code from your authenticator app (a code works once), or a recovery code.'
                ) : (
                  <>
                    Signing in here was refused (below):{' '}
                    <Anchor component={Link} to="/sign-in">
                      sign in on the sign-in page
                    </Anchor>
                    .
                  </>
                )}
              </Alert>
            )}
            {error !== null && !(problem?.code === 'MFA_REQUIRED' && code === '') ? (
              <ProblemAlert
                error={error}
                title={joined === null ? 'The invitation was not accepted' : 'Sign-in refused'}
                field={joined === null ? undefined : 'code'}
              />
            ) : null}
            {joined === null ? (
              <>
                <PasswordInput
                  label="Invitation token"
                  autoComplete="off"
                  required
                  {...invalid(field('token', token, setToken))}
                />
                <PasswordInput
                  label="Password"
                  description="New to Custodian: choose one. If this email already has an account: its password."
                  autoComplete="new-password"
                  required
                  {...invalid(field('password', password, setPassword))}
                />
                <PasswordInput
                  label="Repeat the password"
                  autoComplete="new-password"
                  required
                  value={repeat}
                  error={mismatch ? 'The two passwords differ.' : undefined}
                  aria-invalid={mismatch}
                  onChange={(event) => {
                    setRepeat(event.currentTarget.value)
                    setMismatch(false)
                  }}
                />
              </>
            ) : null}
            {needCode ? (
              <TextInput
                ref={codeInput}
                label="Authentication code"
                description={
                  joined === null
                    ? 'This email already has an account that uses two-factor authentication: the code from its authenticator app, or a recovery code, to join with it.'
                    : undefined
                }
                autoComplete="one-time-code"
                required
                {...field('code', code, setCode)}
              />
            ) : null}
            {joined === null || needCode ? (
              <Button type="submit" loading={pending} fullWidth>
                {joined === null ? 'Accept and sign in' : 'Sign in'}
              </Button>
            ) : null}
          </Stack>
        </form>
      </Paper>
      <Text size="sm" ta="center" mt="md">
        Already a member?{' '}
        <Anchor component={Link} to="/sign-in">
          Sign in
        </Anchor>
      </Text>
    </Container>
  )
}
