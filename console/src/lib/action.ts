import { useState } from 'react'
import { ApiError } from './api.ts'

/** What a text input (TextInput, PasswordInput, Textarea, NativeSelect) takes to be bound to state. */
export interface FieldProps {
  value: string
  onChange: (event: { currentTarget: { value: string } }) => void
  error: string | undefined
}

/**
 * The state of an action a form or a button starts: whether it is running, and its refusal
 * (kept until the next try, for ActionProblem or ProblemAlert). `run` answers whether the
 * action went through. `mapError` turns what was caught into what to show (a WebAuthn
 * DOMException into a sentence, lib/webauthn.ts's passkeyProblem).
 */
export function useAction(mapError: (caught: unknown) => unknown = (caught) => caught) {
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const problem = error instanceof ApiError ? error : undefined

  const run = async (action: () => Promise<unknown>): Promise<boolean> => {
    setPending(true)
    setError(null)
    try {
      await action()
      return true
    } catch (caught) {
      setError(mapError(caught))
      return false
    } finally {
      setPending(false)
    }
  }

  /** A text input bound to `value`, with the refusal's message for the request field `name`. */
  const field = (name: string, value: string, set: (value: string) => void): FieldProps => ({
    value,
    onChange: (event) => set(event.currentTarget.value),
    error: problem?.fieldError(name),
  })

  return { error, setError, pending, run, problem, field }
}

/**
 * The refusal of a dialog's last confirm, kept for its fields while the dialog shows it too:
 * `capture` runs the confirm, keeps what it throws and throws it on (ConfirmDialog shows it
 * and stays open); `fieldError` is the message for one request field (`playbook/2`).
 */
export function useRefusal() {
  const [error, setError] = useState<unknown>(null)
  const capture = async (confirm: () => Promise<void>): Promise<void> => {
    setError(null)
    try {
      await confirm()
    } catch (caught) {
      setError(caught)
      throw caught
    }
  }
  const fieldError = (field: string) => (error instanceof ApiError ? error.fieldError(field) : undefined)
  return { capture, fieldError }
}
