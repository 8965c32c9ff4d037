import { Alert, Anchor, Container, Stack, Title } from '@mantine/core'
import { Link, useSearchParams } from 'react-router'
import { useTwoFactorStatus } from './api.ts'
import { PasskeysSection } from './PasskeysSection.tsx'
import { SessionsSection } from './SessionsSection.tsx'
import { TwoFactorSection } from './TwoFactorSection.tsx'

/** Your account: the authenticator app and recovery codes, passkeys, your sessions in this org. */
export function AccountPage({ orgId }: { orgId: string }) {
  const [params] = useSearchParams()
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Your account
      </Title>
      <Stack>
        {params.get('enrol') === 'required' ? <EnrolmentRequired /> : null}
        <TwoFactorSection />
        <PasskeysSection />
        <SessionsSection orgId={orgId} />
      </Stack>
    </Container>
  )
}

/**
 * Why the console brought the person here (guards.tsx: EnrolmentRedirect): the org
 * requires two-factor authentication and the API refuses everything else until they have
 * a second factor (GET /v1/me/2fa says when they have: TOTP on, or a passkey).
 */
function EnrolmentRequired() {
  const status = useTwoFactorStatus()
  const enrolled = status.data !== undefined && (status.data.enabled || status.data.passkeys > 0)
  if (enrolled)
    return (
      <Alert color="green" title="Two-factor authentication is set up" role="status">
        {/* The alert's own text colour: the anchor blue falls short of 4.5:1 on its green. */}
        <Anchor component={Link} to="/orgs" inherit c="inherit" underline="always" fw={600}>
          Continue to your org
        </Anchor>
        : this session then confirms it is you once with your new second factor (the console asks).
      </Alert>
    )
  return (
    <Alert color="red" title="Your org requires two-factor authentication" role="alert">
      Before you can use the rest of the console, set up a second factor: an authenticator app or a passkey, below. The
      org’s pages stay closed until then.
    </Alert>
  )
}
