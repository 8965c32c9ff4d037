import { useState } from 'react'
import { Anchor, Badge, Button, Card, Code, Container, Group, Stack, Text, Title } from '@mantine/core'
import { Link, useNavigate } from 'react-router'
import { ConfirmDialog } from '../../components/ConfirmDialog.tsx'
import { ListStatus, LoadMore } from '../../components/ListStatus.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { useAccountOrgs, useMe, useSignOut } from './api.ts'

/**
 * The orgs the account belongs to (GET /v1/me/orgs). A session acts in the one org it signed
 * in to: that org opens at once; another org is a new sign-in (this session ends first), so
 * that org's own policy (two-factor, allowed addresses, SSO) applies there. A suspended
 * membership is shown, not offered; so is an org rollback detection refuses (`served: false`,
 * P8.1): its sign-in would answer 503 until an operator acknowledges the rollback.
 */
export function OrgPickerPage() {
  const me = useMe()
  const orgs = useAccountOrgs()
  const signOut = useSignOut()
  const navigate = useNavigate()
  const [switching, setSwitching] = useState<{ orgId: string; name: string } | null>(null)
  const all = orgs.data?.pages.flatMap((p) => p.orgs) ?? []
  return (
    <Container size="sm" py="md">
      <Title order={1} mb="md">
        Choose an org
      </Title>
      {me.isError ? <ProblemAlert error={me.error} /> : null}
      <ListStatus
        query={orgs}
        noun="your orgs"
        refusal="Your orgs cannot be listed"
        empty={{ when: all.length === 0, text: 'Your account belongs to no org.' }}
      />
      {all.length > 0 ? (
        <Stack component="ul" p={0} className="plain-list" aria-label="Your orgs">
          {all.map((org) => (
            <li key={org.orgId}>
              <Card withBorder padding="md">
                <Group justify="space-between" wrap="wrap">
                  <div>
                    {org.current ? (
                      <Anchor component={Link} to={`/orgs/${org.orgId}/secrets`} fw={600} size="lg">
                        {org.name}
                      </Anchor>
                    ) : (
                      <Text fw={600} size="lg">
                        {org.name}
                      </Text>
                    )}
                    <Text size="xs" c="dimmed">
                      Org id for the API: <Code>{org.orgId}</Code>
                    </Text>
                  </div>
                  <Group gap="xs">
                    <Badge>{org.kind}</Badge>
                    <Badge variant="outline" color="dark">
                      {org.role}
                    </Badge>
                    {org.current ? (
                      <Badge variant="outline" color="dark">
                        signed in
                      </Badge>
                    ) : null}
                    {org.suspendedAt !== null ? (
                      <Badge variant="filled" color="red.9">
                        suspended
                      </Badge>
                    ) : null}
                    {org.served ? null : (
                      <Badge variant="filled" color="red.9">
                        {org.refusal === 'ORG_ROLLBACK_UNCHECKED'
                          ? 'unavailable: being checked'
                          : 'unavailable: rolled back'}
                      </Badge>
                    )}
                    {!org.current && org.suspendedAt === null && org.served ? (
                      <Button
                        size="xs"
                        variant="default"
                        onClick={() => setSwitching({ orgId: org.orgId, name: org.name })}
                      >
                        Sign in to {org.name}
                      </Button>
                    ) : null}
                  </Group>
                </Group>
              </Card>
            </li>
          ))}
        </Stack>
      ) : null}
      <LoadMore query={orgs} />
      <ConfirmDialog
        opened={switching !== null}
        onClose={() => setSwitching(null)}
        title={`Sign in to ${switching?.name ?? ''}?`}
        confirmLabel="Sign out and continue"
        onConfirm={async () => {
          const target = switching
          if (target === null) return
          // To the sign-in page first (outside the session guard), then end this session.
          await navigate(`/sign-in?org=${target.orgId}`)
          await signOut()
        }}
      >
        {`A session acts in one org. This one ends, then you sign in to ${switching?.name ?? ''} under its own security policy.`}
      </ConfirmDialog>
    </Container>
  )
}
