import { Suspense } from 'react'
import { Anchor, Box, Button, Group, Text, Title } from '@mantine/core'
import { Link, NavLink, Outlet, useNavigate } from 'react-router'
import { useQueryClient } from '@tanstack/react-query'
import { IdleWarning } from '../features/account/IdleWarning.tsx'
import { ActingBanner } from '../features/grants/ActingBanner.tsx'
import { actUnder } from '../lib/acting.ts'
import { meKey, useAccountOrgs, useMe, useOrg, useSignOut } from '../features/auth/api.ts'
import { PageLoader } from '../components/PageLoader.tsx'
import { OrgNav } from './OrgNav.tsx'

/** Header (product, the org signed in to by its name, the role, sign-out) around the signed-in pages. */
export function Layout() {
  const me = useMe()
  const org = useOrg(me.data?.orgId)
  // Before a required second factor is enrolled the org's record is refused; the account's
  // list of orgs is not, and names it too.
  const accountOrgs = useAccountOrgs(org.isError)
  const orgName =
    org.data?.name ?? accountOrgs.data?.pages.flatMap((p) => p.orgs).find((o) => o.orgId === me.data?.orgId)?.name
  const signOut = useSignOut()
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  return (
    // Plain header and main: Mantine's AppShell injects a <style> element the CSP refuses.
    <>
      {/* WCAG 2.4.1: the first Tab offers to pass the header and the navigation. */}
      <a href="#main" className="skip-link">
        Skip to the page
      </a>
      <Box component="header" className="console-header">
        <Group h={56} px="md" justify="space-between" component="nav" aria-label="Console">
          <Title order={2} size="h4">
            <Link to="/orgs" className="brand-link">
              Custodian
            </Link>
          </Title>
          <Group gap="sm">
            {me.data?.orgKind === 'provider' && me.data.permissions.includes('orgs:list') ? (
              <Anchor component={NavLink} to="/operator" size="sm">
                Operator overview
              </Anchor>
            ) : null}
            {me.data !== undefined ? (
              <Anchor component={Link} to={`/orgs/${me.data.orgId}/account`} size="sm">
                Account
              </Anchor>
            ) : null}
            {me.data !== undefined ? (
              <Text size="sm" c="dimmed">
                {orgName ?? `${me.data.orgKind} org`} · {me.data.role}
              </Text>
            ) : null}
            <Button
              variant="default"
              size="xs"
              onClick={() => {
                actUnder(null)
                void signOut().finally(() => void navigate('/sign-in'))
              }}
            >
              Sign out
            </Button>
          </Group>
        </Group>
      </Box>
      <ActingBanner />
      <OrgNav />
      <Box component="main" id="main" tabIndex={-1} p="md">
        <IdleWarning onStay={() => void queryClient.invalidateQueries({ queryKey: meKey })} />
        {/* Pages load as chunks of their own (router.tsx): a loader while one arrives. */}
        <Suspense fallback={<PageLoader label="Loading the page" />}>
          <Outlet />
        </Suspense>
      </Box>
    </>
  )
}
