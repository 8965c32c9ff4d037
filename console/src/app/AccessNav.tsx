import { Anchor, Group } from '@mantine/core'
import { NavLink, useParams } from 'react-router'

const LINKS: [string, string][] = [
  ['members', 'Members'],
  ['roles', 'Roles'],
  ['service-accounts', 'Service accounts'],
  ['tokens', 'API tokens'],
  ['security', 'Security policy'],
]

/** Links to the org's access and security-policy pages, shown inside an org. */
export function AccessNav() {
  const { orgId } = useParams()
  if (orgId === undefined) return null
  return (
    <Group component="nav" aria-label="Access and security" gap="md" px="md" py={6} className="console-subnav">
      {LINKS.map(([path, label]) => (
        <Anchor key={path} component={NavLink} to={`/orgs/${orgId}/${path}`} size="sm">
          {label}
        </Anchor>
      ))}
    </Group>
  )
}
