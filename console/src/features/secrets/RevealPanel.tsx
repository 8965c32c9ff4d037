import { useEffect, useRef, useState, type SyntheticEvent } from 'react'
import { Button, Code, Group, Stack, Text, TextInput } from '@mantine/core'
import { useLocation } from 'react-router'
import { ActionProblem } from '../../components/ActionProblem.tsx'
import { Panel } from '../../components/Panel.tsx'
import { useAction } from '../../lib/action.ts'
import type { SecretValue } from './api.ts'

/** How long a revealed value stays on screen, in seconds. */
export const REVEAL_SECONDS = 30

interface Revealed {
  value: string
  version: number
}

/**
 * Reveal with a reason (POST …/reveal, audited). The value lives in this component's state
 * only — never a URL, browser storage or the query cache — shown masked until asked, for
 * REVEAL_SECONDS with a visible countdown, then cleared; also cleared by "Hide", by a route
 * change and on unmount.
 */
export function RevealPanel({
  reveal,
  currentVersion,
}: {
  reveal: (reason: string, version?: number) => Promise<{ version: number; value: SecretValue }>
  currentVersion: number
}) {
  const [reason, setReason] = useState('')
  const [version, setVersion] = useState('')
  const [revealed, setRevealed] = useState<Revealed | null>(null)
  const [plain, setPlain] = useState(false)
  const [left, setLeft] = useState(0)
  const [copied, setCopied] = useState(false)
  const action = useAction()
  const location = useLocation()
  const showButton = useRef<HTMLButtonElement>(null)

  const clear = () => {
    setRevealed(null)
    setPlain(false)
    setCopied(false)
    setLeft(0)
  }

  // The countdown: one tick a second, cleared at zero.
  useEffect(() => {
    if (revealed === null) return
    const timer = window.setInterval(() => {
      setLeft((n) => {
        if (n <= 1) {
          setRevealed(null)
          setPlain(false)
          setCopied(false)
          return 0
        }
        return n - 1
      })
    }, 1000)
    return () => window.clearInterval(timer)
  }, [revealed])

  // A route change (another secret, another page) clears it; so does unmounting.
  useEffect(
    () => () => {
      setRevealed(null)
      setPlain(false)
      setCopied(false)
    },
    [location.key],
  )

  useEffect(() => {
    if (revealed !== null) showButton.current?.focus()
  }, [revealed])

  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    clear()
    await action.run(async () => {
      const chosen = version.trim() === '' ? undefined : Number(version)
      const answer = await reveal(reason, chosen)
      setRevealed({
        value: typeof answer.value === 'string' ? answer.value : JSON.stringify(answer.value, null, 2),
        version: answer.version,
      })
      setLeft(REVEAL_SECONDS)
    })
  }

  const copy = async () => {
    if (revealed === null) return
    try {
      await navigator.clipboard.writeText(revealed.value)
      setCopied(true)
    } catch (caught) {
      action.setError(caught)
    }
  }

  return (
    <Panel title="Reveal the value">
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={action.error} title="Not revealed" />
          <TextInput
            label="Reason"
            description="Why you need the value; recorded in the audit log (3 to 500 characters)"
            required
            value={reason}
            onChange={(e) => setReason(e.currentTarget.value)}
            autoComplete="off"
          />
          <TextInput
            label="Version"
            description={`Empty: the current version (${currentVersion})`}
            inputMode="numeric"
            value={version}
            onChange={(e) => setVersion(e.currentTarget.value)}
            autoComplete="off"
          />
          <Button type="submit" loading={action.pending}>
            Reveal
          </Button>
        </Stack>
      </form>
      {revealed !== null ? (
        <Stack gap="xs" mt="md" aria-label="Revealed value" role="group">
          <Text size="sm">
            Version {revealed.version}.{' '}
            <span role="timer" aria-label="Time before the value is hidden">
              Hidden in {left} s
            </span>
          </Text>
          <Code block aria-label={plain ? 'Value' : 'Value (masked)'}>
            {plain ? revealed.value : '•'.repeat(Math.min(revealed.value.length, 24))}
          </Code>
          <Group gap="xs">
            <Button
              ref={showButton}
              variant="default"
              size="xs"
              onClick={() => setPlain((p) => !p)}
              aria-pressed={plain}
            >
              {plain ? 'Mask value' : 'Show value'}
            </Button>
            <Button variant="default" size="xs" onClick={() => void copy()}>
              {copied ? 'Copied' : 'Copy value'}
            </Button>
            <Button variant="default" size="xs" onClick={clear}>
              Hide now
            </Button>
          </Group>
        </Stack>
      ) : null}
    </Panel>
  )
}
