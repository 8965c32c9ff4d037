import { useEffect, type ReactNode } from 'react'
import { Alert, Button, Container, Group, Text, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { Link, Navigate, useLocation, useNavigate, useParams } from 'react-router'
import { PageLoader } from '../components/PageLoader.tsx'
import { ProblemAlert } from '../components/ProblemAlert.tsx'
import { useMe } from '../features/auth/api.ts'
import { ApiError, setCsrfToken, setEnrolmentRequiredHandler, setSignedOutHandler } from '../lib/api.ts'
import { actUnder, useActingGrant, type ActingGrant } from '../lib/acting.ts'
import { landingUnder, ORG_PAGES } from '../lib/orgPages.ts'

/** Signed in (GET /v1/me answers), or off to the sign-in page. */
export function RequireSession({ children }: { children: ReactNode }) {
  const me = useMe()
  const location = useLocation()
  if (me.isPending) return <PageLoader label="Checking your session" />
  if (me.isError) {
    if (me.error instanceof ApiError && me.error.status === 401)
      return <Navigate to="/sign-in" replace state={{ from: location.pathname }} />
    return (
      <Container py="xl">
        <ProblemAlert error={me.error} />
      </Container>
    )
  }
  return children
}

/**
 * While signed in: when any call answers `MFA_ENROLMENT_REQUIRED` (the org requires 2FA and
 * this person has none yet), off to the account page's two-factor enrolment, which says
 * why (`?enrol=required`), instead of a refusal on every page. The account page's own calls
 * are all allowed before enrolment, so it cannot send the person round in a loop.
 */
export function EnrolmentRedirect() {
  const me = useMe()
  const navigate = useNavigate()
  const orgId = me.data?.orgId
  useEffect(() => {
    if (orgId === undefined) return undefined
    return setEnrolmentRequiredHandler(() => {
      void navigate(`/orgs/${orgId}/account?enrol=required`, { replace: true })
    })
  }, [orgId, navigate])
  return null
}

/**
 * While signed in: when any call answers that the session has ended (401 `UNAUTHENTICATED`:
 * the member was removed, e.g. by an access review's revoke, or the session was revoked or
 * expired), the console forgets what it held for the session and opens the sign-in page,
 * which says the session ended, instead of a refusal on the page.
 */
export function SignedOutRedirect() {
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  useEffect(
    () =>
      setSignedOutHandler(() => {
        actUnder(null)
        setCsrfToken(null)
        queryClient.clear()
        void navigate('/sign-in', { replace: true, state: { signedOut: true } })
      }),
    [navigate, queryClient],
  )
  return null
}

/**
 * The org in the address is the session's org, or — for an operator of the provider org —
 * the org of the diagnostic access grant the console acts under (lib/acting.ts); any other
 * is not found, as the API would say. Under a grant the API still decides every request.
 */
export function RequireOrg({ children }: { children: ReactNode }) {
  const me = useMe()
  const grant = useActingGrant()
  const { orgId } = useParams()
  const location = useLocation()
  if (me.data === undefined) return null
  const id = orgId?.toLowerCase()
  const underGrant = grant !== null && me.data.orgKind === 'provider' && id === grant.orgId
  if (id !== me.data.orgId && !underGrant) return <Navigate to="/orgs" replace />
  if (underGrant && id !== me.data.orgId) {
    // A page typed into the address (or an old link) that the grant does not open: said
    // here, before the page asks the API anything — a refused request under a grant is an
    // attempt the org sees in its log and may be alerted on (grant_misuse).
    const segment = location.pathname.split('/')[3] ?? ''
    const page = ORG_PAGES.find((p) => p.path === segment)
    const held = new Set(me.data.permissions)
    if (page === undefined || !grant.permissions.includes(page.permission) || !held.has(page.permission))
      return <OutsideGrant grant={grant} label={page?.label ?? 'This page'} />
  }
  return children
}

/** What an operator acting under a grant sees on an org page the grant does not open. */
function OutsideGrant({ grant, label }: { grant: ActingGrant; label: string }) {
  const landing = landingUnder(grant)
  return (
    <Container size="md" py="lg">
      <Title order={1} mb="md">
        Outside the grant
      </Title>
      <Alert color="yellow" title={`${label} is not in the grant’s scope`}>
        <Text size="sm">
          The diagnostic access grant you act under in {grant.orgName} does not open this page (its scope is in the
          banner above). This page asked nothing of {grant.orgName}.
        </Text>
      </Alert>
      <Group mt="md">
        {landing === null ? null : (
          <Button component={Link} to={landing}>
            Back to what the grant opens
          </Button>
        )}
        <Button component={Link} to="/operator/grants" variant="default">
          Your grants
        </Button>
      </Group>
    </Container>
  )
}

/**
 * The permissions the session has in the org of the address: its own in its org; under a
 * diagnostic access grant, the grant's that the session also holds (as the API computes them).
 */
export function useOrgPermissions(): Set<string> {
  const me = useMe()
  const grant = useActingGrant()
  const { orgId } = useParams()
  const held = new Set(me.data?.permissions ?? [])
  const id = orgId?.toLowerCase()
  if (grant !== null && id === grant.orgId && id !== me.data?.orgId)
    return new Set(grant.permissions.filter((p) => held.has(p)))
  return held
}

/**
 * Whether the session holds a permission, to offer only what the API would allow. The API
 * still decides: a refusal it answers is shown as it is.
 */
export function WithPermission({
  permission,
  children,
}: {
  permission: string
  children: (allowed: boolean) => ReactNode
}) {
  return children(useOrgPermissions().has(permission))
}

/** Like WithPermission, for a page that offers several actions: `can('members:invite')`. */
export function WithPermissions({ children }: { children: (can: (permission: string) => boolean) => ReactNode }) {
  const held = useOrgPermissions()
  return children((permission) => held.has(permission))
}
