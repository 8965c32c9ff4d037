import { Container, Stack, Title } from '@mantine/core'
import { PasskeysSection } from './PasskeysSection.tsx'
import { SessionsSection } from './SessionsSection.tsx'
import { TwoFactorSection } from './TwoFactorSection.tsx'

/** Your account: the authenticator app and recovery codes, passkeys, your sessions in this org. */
export function AccountPage({ orgId }: { orgId: string }) {
  return (
    <Container size="lg" py="md">
      <Title order={1} mb="md">
        Your account
      </Title>
      <Stack>
        <TwoFactorSection />
        <PasskeysSection />
        <SessionsSection orgId={orgId} />
      </Stack>
    </Container>
  )
}
