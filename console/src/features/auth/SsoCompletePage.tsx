import { useEffect, useRef, useState } from 'react'
import { Alert, Button, Container, Paper, Stack, Title } from '@mantine/core'
import { useQueryClient } from '@tanstack/react-query'
import { Link, useNavigate } from 'react-router'
import { PageLoader } from '../../components/PageLoader.tsx'
import { meKey, takeSsoCsrfToken } from './api.ts'

/**
 * Where a single sign-on started from the console lands (the API's callback answers 303
 * here): the session cookie is set, and the CSRF token waits in a two-minute cookie. The
 * token is taken over and the cookie deleted before anything else, then the console opens.
 * Without the cookie (opened directly, too late, or a second time) it says so and offers
 * the sign-in page.
 */
export function SsoCompletePage() {
  const navigate = useNavigate()
  const queryClient = useQueryClient()
  const [missing, setMissing] = useState(false)
  // The cookie is read once: an effect run twice (React's strict mode) keeps the first answer.
  const taken = useRef<boolean | null>(null)

  useEffect(() => {
    taken.current ??= takeSsoCsrfToken()
    if (!taken.current) {
      setMissing(true)
      return
    }
    void queryClient.invalidateQueries({ queryKey: meKey }).then(() => navigate('/orgs', { replace: true }))
  }, [navigate, queryClient])

  if (!missing) return <PageLoader label="Completing single sign-on" />
  return (
    <Container size={420} py="xl" component="main">
      <Title order={1} ta="center" mb="md">
        Single sign-on
      </Title>
      <Paper withBorder shadow="sm" p="lg" radius="md">
        <Stack>
          <Alert color="red" title="Sign-in not completed here" role="alert">
            This page finishes a single sign-on started from the sign-in page, and the sign-in it was waiting for is not
            here: it lasts two minutes and works once. Sign in again.
          </Alert>
          <Button component={Link} to="/sign-in" replace>
            Go to the sign-in page
          </Button>
        </Stack>
      </Paper>
    </Container>
  )
}
