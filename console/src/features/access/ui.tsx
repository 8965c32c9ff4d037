import { Button, Group, Text } from '@mantine/core'
import { Dialog } from '../../components/Dialog.tsx'
import { ProblemAlert } from '../../components/ProblemAlert.tsx'
import { ApiError } from '../../lib/api.ts'

/** An action's refusal, as the API answered it; a step-up refusal is titled as such. */
export function ActionProblem({ error, fallback }: { error: unknown; fallback: string }) {
  const stepUp = error instanceof ApiError && error.code === 'STEP_UP_REQUIRED'
  return (
    <ProblemAlert
      error={error}
      title={
        stepUp ? 'This action needs a recent second factor (step-up): confirm with your code, then retry' : fallback
      }
    />
  )
}

/** "Are you sure?" before a destructive call; Escape or Cancel backs out. */
export function ConfirmDialog({
  open,
  title,
  message,
  confirmLabel,
  onConfirm,
  onClose,
}: {
  open: boolean
  title: string
  message: string
  confirmLabel: string
  onConfirm: () => void
  onClose: () => void
}) {
  return (
    <Dialog open={open} title={title} onClose={onClose}>
      <Text mb="md">{message}</Text>
      <Group justify="flex-end">
        <Button variant="default" onClick={onClose}>
          Cancel
        </Button>
        <Button
          color="red"
          onClick={() => {
            onConfirm()
            onClose()
          }}
        >
          {confirmLabel}
        </Button>
      </Group>
    </Dialog>
  )
}

/** Runs an action, keeping its refusal (or null) for ActionProblem. */
export async function attempt(setError: (e: unknown) => void, action: () => Promise<unknown>): Promise<boolean> {
  setError(null)
  try {
    await action()
    return true
  } catch (caught) {
    setError(caught)
    return false
  }
}
