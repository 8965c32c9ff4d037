import { Text } from '@mantine/core'

/** A purpose as a row's header: its name, and under it its key (what the host application sends). */
export function PurposeCell({ purpose, name }: { purpose: string; name: string }) {
  return (
    <>
      {name}
      {name === purpose ? null : (
        <Text size="xs" c="dimmed">
          {purpose}
        </Text>
      )}
    </>
  )
}
