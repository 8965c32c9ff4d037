import { Text } from '@mantine/core'
import { usePermissionLabels } from '../lib/permission-labels.ts'

/**
 * A set of permissions (a grant's or a token's scope) in words: each permission's meaning
 * from the catalog, one a line, its key kept as the line's title for those who look it up.
 */
export function PermissionScope({ permissions, size = 'sm' }: { permissions: string[]; size?: 'xs' | 'sm' }) {
  const { label } = usePermissionLabels()
  return (
    <>
      {permissions.map((key) => (
        <Text key={key} size={size} title={key}>
          {label(key)}
        </Text>
      ))}
    </>
  )
}

/**
 * Permissions in words on one line, as a table cell's note ("used: Read the org's audit log;
 * Approve diagnostic access grants"): each key's meaning from the catalog, the keys kept in
 * the line's title for those who look them up.
 */
export function PermissionWords({ permissions, prefix = '' }: { permissions: string[]; prefix?: string }) {
  const { label } = usePermissionLabels()
  return (
    <Text size="xs" c="dimmed" title={permissions.join(', ')}>
      {prefix}
      {permissions.map(label).join('; ')}
    </Text>
  )
}

/**
 * One permission named in a sentence ("… needs the permission “Manage consent purposes…”,
 * which your role does not hold"): its meaning from the catalog, the key as its title for
 * whoever grants it (the Roles page shows both).
 */
export function PermissionName({ permission }: { permission: string }) {
  const { label } = usePermissionLabels()
  const meaning = label(permission)
  return (
    <Text span inherit title={permission}>
      {meaning === permission ? `the ${permission} permission` : `the permission “${meaning.replace(/\.$/, '')}”`}
    </Text>
  )
}
