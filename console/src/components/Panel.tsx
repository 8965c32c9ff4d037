import { useId, type ReactNode } from 'react'
import { Paper, Text, Title } from '@mantine/core'

/**
 * A titled panel of a page (a form, a group of settings): a region named by its heading,
 * with an optional sentence under the heading.
 */
export function Panel({ title, description, children }: { title: string; description?: string; children: ReactNode }) {
  const titleId = useId()
  return (
    <Paper withBorder p="md" radius="md" component="section" aria-labelledby={titleId}>
      <Title order={2} size="h4" id={titleId} mb={description === undefined ? 'sm' : 'xs'}>
        {title}
      </Title>
      {description === undefined ? null : (
        <Text size="sm" mb="sm">
          {description}
        </Text>
      )}
      {children}
    </Paper>
  )
}
