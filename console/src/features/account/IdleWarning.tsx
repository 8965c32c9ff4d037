import { useEffect, useState } from 'react'
import { Button, Group, Paper, Text, VisuallyHidden } from '@mantine/core'
import { Link } from 'react-router'
import { useNow } from '../../components/Countdown.tsx'
import { apiActivity } from '../../lib/api.ts'
import { DEFAULT_IDLE_MINUTES } from './api.ts'
import { counted } from '../../lib/plural.ts'

/** The API refreshes a session's last use at most every 30 s (src/modules/identity/auth.service.ts). */
const TOUCH_GRANULARITY_MS = 30_000
const WARN_BEFORE_MS = 60_000

/**
 * Warns a minute before the session's idle timeout, with a button that keeps it (any
 * authenticated call: `onStay`, a GET /v1/me). The API does not expose the idle setting, so
 * the warning counts from the documented default (CUSTODIAN_SESSION_IDLE_MINUTES, 30) and
 * from the console's last answered call, less the 30 s by which the API may lag in recording
 * a use. A deployment with a shorter setting signs out before the warning.
 */
export function IdleWarning({
  onStay,
  idleMinutes = DEFAULT_IDLE_MINUTES,
}: {
  onStay: () => void
  idleMinutes?: number
}) {
  const now = useNow()
  const [last, setLast] = useState(() => apiActivity.last())
  useEffect(() => apiActivity.subscribe(setLast), [])

  const deadline = last - TOUCH_GRANULARITY_MS + idleMinutes * 60_000
  const left = deadline - now
  if (left > WARN_BEFORE_MS) return null
  if (left <= 0)
    return (
      <Paper withBorder p="sm" mb="md" role="alert" className="idle-warning">
        <Group justify="space-between">
          <Text size="sm">
            <strong>Signed out for inactivity.</strong> Your session was idle for {counted(idleMinutes, 'minute')} and
            has ended.
          </Text>
          <Button component={Link} to="/sign-in" size="xs">
            Sign in again
          </Button>
        </Group>
      </Paper>
    )
  return (
    <Paper withBorder p="sm" mb="md" role="alert" className="idle-warning">
      <Group justify="space-between">
        <Text size="sm">
          {/* The countdown is for the eyes: a live region read out every second would drown the page. */}
          <strong>Still there?</strong> You will be signed out for inactivity{' '}
          <span aria-hidden="true">in {Math.ceil(left / 1000)} seconds</span>
          <VisuallyHidden>within a minute</VisuallyHidden>.
        </Text>
        <Button size="xs" onClick={onStay}>
          Stay signed in
        </Button>
      </Group>
    </Paper>
  )
}
