import { Text } from '@mantine/core'

/** A binding's secret path scope, under its role: shown only when it is limited (docs/secret-paths.md). */
export function SecretPathsNote({ paths }: { paths: string[] | null }) {
  if (paths === null) return null
  return (
    <Text size="xs" c="dimmed">
      secrets: {paths.join(', ')}
    </Text>
  )
}
