import type { ReactNode } from 'react'
import { Box, Container, Group, Title } from '@mantine/core'

/**
 * A page of one list: its heading, the list (`children`) and, beside it or under it on a
 * narrow screen, `aside` (a form, or why there is none). `aside` left out: the list alone.
 */
export function ListPage({ title, aside, children }: { title: string; aside?: ReactNode; children: ReactNode }) {
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        {title}
      </Title>
      <ListBeside aside={aside}>{children}</ListBeside>
    </Container>
  )
}

/**
 * A list (`children`) and, beside it or under it on a narrow screen, `aside` (a form, or
 * why there is none): the body of a ListPage, or of a list section within a longer page.
 */
export function ListBeside({ aside, children }: { aside?: ReactNode; children: ReactNode }) {
  return (
    <Group align="flex-start" gap="lg" wrap="wrap">
      <Box className="secrets-list">{children}</Box>
      {aside === undefined ? null : <Box className="secrets-create">{aside}</Box>}
    </Group>
  )
}
