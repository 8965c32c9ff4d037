import { Anchor, Group } from '@mantine/core'
import { NavLink, useParams } from 'react-router'

/**
 * The org's pages, in the order a team meets them: its data first, then who may touch
 * it. One line a page (path under /orgs/{orgId}/, label). A page the session may not use
 * stays listed: opening it shows the API's refusal, naming the permission it needs.
 */
const LINKS: [string, string][] = [
  ['secrets', 'Secrets'],
  ['integrations', 'Integrations'],
  ['transit-keys', 'Transit keys'],
  ['keys', 'Org keys'],
  ['audit', 'Audit log'],
  ['notifications', 'Notifications'],
  ['alerts', 'Alerts'],
  ['incidents', 'Incidents'],
  ['response-plan', 'Response plan'],
  ['grants', 'Diagnostic access'],
  ['records', 'Records'],
  ['privacy-requests', 'Privacy requests'],
  ['erasure-certificates', 'Erasure certificates'],
  ['retention', 'Retention'],
  ['members', 'Members'],
  ['roles', 'Roles'],
  ['service-accounts', 'Service accounts'],
  ['tokens', 'API tokens'],
  ['access-reviews', 'Access reviews'],
  ['least-privilege', 'Least privilege'],
  ['security', 'Security policy'],
  ['offboarding', 'Offboarding'],
]

/** Links to the org's pages, shown inside an org. */
export function OrgNav() {
  const { orgId } = useParams()
  if (orgId === undefined) return null
  return (
    <Group component="nav" aria-label="Org pages" gap="md" px="md" py={6} className="console-subnav">
      {LINKS.map(([path, label]) => (
        <Anchor key={path} component={NavLink} to={`/orgs/${orgId}/${path}`} size="sm">
          {label}
        </Anchor>
      ))}
    </Group>
  )
}
