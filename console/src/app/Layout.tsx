import { Suspense } from 'react'
import { Anchor, Box, Button, Group, Text, Title } from '@mantine/core'
import { Link, NavLink, Outlet, useNavigate } from 'react-router'
import { useQueryClient } from '@tanstack/react-query'
import { IdleWarning } from '../features/account/IdleWarning.tsx'
import { ActingBanner } from '../features/grants/ActingBanner.tsx'
import { actUnder } from '../lib/acting.ts'
import { meKey, useMe, useSignOut } from '../features/auth/api.ts'
import { PageLoader } from '../components/PageLoader.tsx'
import { OrgNav } from './OrgNav.tsx'

/** Header (product, who is signed in, sign-out) around the signed-in pages. */
export function Layout() {
  const me = useMe()
  const signOut = useSignOut()
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  return (
    // Plain header and main: Mantine's AppShell injects a <style> element the CSP refuses.
    <>
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
                {me.data.role} · {me.data.orgKind} org
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
      <Box component="main" p="md">
        <IdleWarning onStay={() => void queryClient.invalidateQueries({ queryKey: meKey })} />
        {/* Pages load as chunks of their own (router.tsx): a loader while one arrives. */}
        <Suspense fallback={<PageLoader label="Loading the page" />}>
          <Outlet />
        </Suspense>
      </Box>
    </>
  )
}
