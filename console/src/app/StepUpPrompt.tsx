import { useEffect, useRef, useState, type SyntheticEvent } from 'react'
import { Button, getDefaultZIndex, Group, Modal, Stack, Text, TextInput } from '@mantine/core'
import { ProblemAlert } from '../components/ProblemAlert.tsx'
import { useAction } from '../lib/action.ts'
import { detailForPeople } from '../lib/routes.ts'
import { api, setStepUpHandler, unwrap } from '../lib/api.ts'
import { getPasskeyAssertion, passkeyProblem, passkeysSupported } from '../lib/webauthn.ts'

interface Ask {
  detail: string
  resolve: (passed: boolean) => void
}

/**
 * The global step-up prompt (lib/api.ts calls it on any `STEP_UP_REQUIRED`): a modal asking
 * for the authenticator's code (POST /v1/me/step-up) or a passkey (POST
 * /v1/me/step-up/passkey/options, navigator.credentials.get(), POST /v1/me/step-up/passkey).
 * Passed, the refused call is sent again; cancelled, the caller sees the refusal.
 */
export function StepUpPrompt() {
  const [ask, setAsk] = useState<Ask | null>(null)
  const [code, setCode] = useState('')
  const { error, setError, pending, run } = useAction(passkeyProblem)
  const [hasPasskey, setHasPasskey] = useState(false)
  const codeInput = useRef<HTMLInputElement>(null)

  useEffect(
    () =>
      setStepUpHandler(
        (detail) =>
          new Promise<boolean>((resolve) => {
            setCode('')
            setError(null)
            setAsk({ detail, resolve })
            // Offer the passkey only to someone who has one (GET /v1/me/2fa counts them).
            void unwrap(api.GET('/v1/me/2fa')).then(
              (status) => setHasPasskey(status.passkeys > 0 && passkeysSupported()),
              () => setHasPasskey(false),
            )
          }),
      ),
    [],
  )

  const finish = (passed: boolean) => {
    ask?.resolve(passed)
    setAsk(null)
    setCode('')
    setError(null)
  }

  const submitCode = async (event: SyntheticEvent) => {
    event.preventDefault()
    const passed = await run(() => unwrap(api.POST('/v1/me/step-up', { body: { code: code.replace(/\s+/g, '') } })))
    if (passed) finish(true)
    else codeInput.current?.focus()
  }

  const usePasskey = async () => {
    const passed = await run(async () => {
      const options = await unwrap(api.POST('/v1/me/step-up/passkey/options'))
      const response = await getPasskeyAssertion(options)
      await unwrap(api.POST('/v1/me/step-up/passkey', { body: { response: response as never } }))
    })
    if (passed) finish(true)
  }

  return (
    <Modal
      opened={ask !== null}
      onClose={() => finish(false)}
      title="Confirm it is you"
      // No scroll lock: react-remove-scroll injects a <style> element the CSP refuses.
      lockScroll={false}
      centered
      closeButtonProps={{ 'aria-label': 'Cancel' }}
      // No fade: the prompt is there at once (and axe-core sees it at full contrast).
      transitionProps={{ duration: 0 }}
      // Over any dialog that asked for the action (components/ConfirmDialog), not under it.
      zIndex={getDefaultZIndex('modal') + 1}
    >
      <form onSubmit={(event) => void submitCode(event)} noValidate>
        <Stack>
          <Text size="sm" id="step-up-help">
            This action needs a recent second factor. Enter the code from your authenticator app
            {hasPasskey ? ', or use one of your passkeys' : ''}; the action then goes ahead.
          </Text>
          {ask !== null && ask.detail !== '' ? (
            <Text size="xs" c="dimmed">
              {/* The API's why ("… within the last 15 minutes"), without the routes it names for API clients. */}
              {detailForPeople(ask.detail)}.
            </Text>
          ) : null}
          <ProblemAlert error={error} title="Not confirmed" />
          <TextInput
            ref={codeInput}
            data-autofocus
            label="Authentication code"
            autoComplete="one-time-code"
            inputMode="numeric"
            aria-describedby="step-up-help"
            value={code}
            onChange={(e) => setCode(e.currentTarget.value)}
          />
          <Group justify="space-between">
            {hasPasskey ? (
              <Button variant="default" onClick={() => void usePasskey()} disabled={pending}>
                Use a passkey
              </Button>
            ) : (
              <span />
            )}
            <Group gap="xs">
              <Button variant="default" onClick={() => finish(false)} disabled={pending}>
                Cancel
              </Button>
              <Button type="submit" loading={pending} disabled={code.trim() === ''}>
                Confirm
              </Button>
            </Group>
          </Group>
        </Stack>
      </form>
    </Modal>
  )
}
