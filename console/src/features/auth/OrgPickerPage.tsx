import { Anchor, Badge, Card, Container, Group, Stack, Text, Title } from '@mantine/core'
import { Link } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useMe, useOrg } from './api.ts'

/**
 * The orgs this session may act in. A session is bound to the org it signed in to
 * (POST /v1/login takes the org), so today the list is that org; signing in to another
 * org of the same account is a new sign-in with its id.
 */
export function OrgPickerPage() {
  const me = useMe()
  const org = useOrg(me.data?.orgId)
  if (me.isPending) return <PageLoader label="Loading your account" />
  if (me.isError) return <ProblemAlert error={me.error} />
  const orgId = me.data.orgId
  return (
    <Container size="sm" py="md">
      <Title order={1} mb="md">
        Choose an org
      </Title>
      <Stack component="ul" p={0} style={{ listStyle: 'none' }} aria-label="Your orgs">
        <li>
          <Card withBorder padding="md">
            <Group justify="space-between">
              <div>
                <Anchor component={Link} to={`/orgs/${orgId}/secrets`} fw={600} size="lg">
                  {org.data?.name ?? orgId}
                </Anchor>
                <Text size="sm" c="dimmed">
                  {orgId}
                </Text>
              </div>
              <Group gap="xs">
                <Badge>{me.data.orgKind}</Badge>
                <Badge variant="outline" color="dark">
                  {me.data.role}
                </Badge>
              </Group>
            </Group>
          </Card>
        </li>
      </Stack>
      {org.isError ? <ProblemAlert error={org.error} title="The org’s details are not readable" /> : null}
      <Text size="sm" c="dimmed" mt="md">
        To work in another org of your account, sign out and sign in to it.
      </Text>
    </Container>
  )
}
