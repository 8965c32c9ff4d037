import { Badge, Group } from '@mantine/core'

/**
 * A secret's (or a version's) state as badges, each at least 4.5:1 (WCAG AA): teal-9 and
 * red-9 under white text, yellow-9 under black (white on yellow-9 is 3:1).
 */
export function StateBadges({
  paused,
  exposed,
  destroyed,
  deleted,
}: {
  paused?: boolean
  exposed: boolean
  destroyed?: boolean
  /** Soft-deleted (the Vault-compatible API's KV delete): kept, not revealed until undeleted. */
  deleted?: boolean
}) {
  return (
    <Group gap={4}>
      {destroyed === true ? <Badge color="gray.8">destroyed</Badge> : null}
      {deleted === true && destroyed !== true ? <Badge color="gray.8">deleted</Badge> : null}
      {paused === true ? (
        <Badge color="yellow.9" c="black">
          paused
        </Badge>
      ) : null}
      {exposed ? <Badge color="red.9">exposed</Badge> : null}
      {paused !== true && !exposed && destroyed !== true && deleted !== true ? (
        <Badge color="teal.9">active</Badge>
      ) : null}
    </Group>
  )
}
