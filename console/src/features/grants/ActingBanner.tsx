import { useEffect, useState } from 'react'
import { Alert, Anchor, Box, Button, Group, Text } from '@mantine/core'
import { Link, useLocation, useNavigate } from 'react-router'
import { PermissionScope } from '../../components/PermissionScope.tsx'
import { actUnder, rememberSecretNames, useActingGrant, useGrantRefusals } from '../../lib/acting.ts'
import { when } from '../../lib/format.ts'
import { useMyGrants, useSecretNameLookups } from './api.ts'
import './grants.css'

/** How often the banner asks the grant's state while acting under it (ms). */
const CHECK_MS = 15_000

/**
 * Shown on every page while an operator acts under a diagnostic access grant: the org, the
 * grant's expiry and its scope (permissions in the catalog's words, named secrets by name), and "Leave the grant", which
 * ends it in the console (no request carries it any more) and goes back to the operator's
 * grants. When the API refuses a request under it, the grant's state is asked again: a
 * grant the org revoked (or that expired) is said so.
 */
export function ActingBanner() {
  const grant = useActingGrant()
  if (grant === null) return null
  return <Banner />
}

function Banner() {
  const grant = useActingGrant()
  const navigate = useNavigate()
  const refusals = useGrantRefusals()
  const mine = useMyGrants(CHECK_MS)
  const { refetch } = mine
  const location = useLocation()
  const [leaving, setLeaving] = useState(false)
  const orgPages = grant === null ? '' : `/orgs/${grant.orgId}`
  const state = mine.data?.pages.flatMap((p) => p.grants).find((g) => g.id === grant?.id)?.status
  const ended = state !== undefined && state !== 'active'
  // The secrets' names, read under the grant — each read is a use in the org's log — so only
  // when it may read them, on the org's own pages, while it is active, and once a tab (else
  // they are named by their order).
  const onOrgPages = location.pathname.toLowerCase().startsWith(`${orgPages}/`)
  const known = grant?.secretNames ?? {}
  const unnamed =
    grant !== null && grant.permissions.includes('secrets:read') && onOrgPages && !ended
      ? grant.secretIds.filter((id) => known[id] === undefined)
      : []
  const { names, failed } = useSecretNameLookups(grant?.orgId ?? '', unnamed)
  // Kept for the tab, a failed read too (as ''): no page load asks again.
  const settled = names.size + failed.length
  useEffect(() => {
    if (settled > 0)
      rememberSecretNames({ ...Object.fromEntries(failed.map((id) => [id, ''])), ...Object.fromEntries(names) })
  }, [settled, names, failed])
  useEffect(() => {
    if (leaving && !location.pathname.toLowerCase().startsWith(orgPages)) actUnder(null)
  }, [leaving, location.pathname, orgPages])
  useEffect(() => {
    if (refusals > 0) void refetch()
  }, [refusals, refetch])
  if (grant === null) return null
  // Away from the org's pages first, then the grant: left on them without it, they would
  // send to the org picker. The grant is dropped once the address is no longer the org's.
  const leave = () => {
    setLeaving(true)
    void navigate('/operator/grants')
  }
  return (
    <Box component="section" aria-label="Acting under a grant" className="acting-banner" px="md" py="xs">
      <Group justify="space-between" wrap="wrap" gap="sm">
        <Box>
          <Text size="sm" fw={700}>
            Acting in {grant.orgName} under a diagnostic access grant, until {when(grant.expiresAt)}
          </Text>
          <Group gap="xs" align="flex-start" wrap="nowrap">
            <Text size="sm">Scope:</Text>
            <div>
              <PermissionScope permissions={grant.permissions} />
            </div>
          </Group>
          {grant.secretIds.length > 0 ? (
            <Text size="sm">
              Secrets:{' '}
              {grant.secretIds.map((id, i) => (
                <Anchor key={id} component={Link} to={`/orgs/${grant.orgId}/secrets/${id}`} mr="xs" size="sm">
                  {(known[id] ?? '') || (names.get(id) ?? secretByOrder(i, grant.secretIds.length))}
                </Anchor>
              ))}
            </Text>
          ) : null}
        </Box>
        <Button variant="default" size="xs" onClick={leave}>
          Leave the grant
        </Button>
      </Group>
      {ended ? (
        <Alert color="red" role="alert" mt="xs" title={`This grant is ${state}`}>
          {grant.orgName} no longer accepts it: every request under it is refused. Leave the grant.
        </Alert>
      ) : null}
    </Box>
  )
}

/** A named secret whose name the grant cannot read (no secrets:read): by its place in the grant, never its id. */
function secretByOrder(index: number, count: number): string {
  return count === 1 ? 'the named secret' : `named secret ${index + 1}`
}
