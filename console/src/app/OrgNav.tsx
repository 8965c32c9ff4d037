import { Anchor, Group } from '@mantine/core'
import { NavLink, useParams } from 'react-router'
import { useActingGrant } from '../lib/acting.ts'
import { useOrgPermissions } from './guards.tsx'
import { ORG_PAGES } from '../lib/orgPages.ts'

/**
 * Links to the org's pages, shown inside an org. In the session's own org every page stays
 * listed: opening one it may not use shows the API's refusal, naming the permission it
 * needs. Under a diagnostic access grant only the pages the grant opens are listed: every
 * refused request there is the customer's alert (grant_misuse), so none is offered.
 */
export function OrgNav() {
  const { orgId } = useParams()
  const grant = useActingGrant()
  const held = useOrgPermissions()
  if (orgId === undefined) return null
  const underGrant = grant !== null && orgId.toLowerCase() === grant.orgId
  const pages = underGrant ? ORG_PAGES.filter((p) => held.has(p.permission)) : ORG_PAGES
  return (
    <Group component="nav" aria-label="Org pages" gap="md" px="md" py={6} className="console-subnav">
      {pages.map(({ path, label }) => (
        <Anchor key={path} component={NavLink} to={`/orgs/${orgId}/${path}`} size="sm">
          {label}
        </Anchor>
      ))}
    </Group>
  )
}
