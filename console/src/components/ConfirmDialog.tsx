import { useState, type ReactNode, type SyntheticEvent } from 'react'
import { Button, Group, Modal, Stack, Text } from '@mantine/core'
import { ActionProblem } from './ActionProblem.tsx'
import { markInitialFocus } from './Dialog.tsx'

/**
 * A modal dialog that asks before an action (focus trapped inside, Escape closes, focus
 * returns to the button that opened it). The action's refusal is shown inside the dialog.
 * It is a Mantine Modal, like the step-up prompt (app/StepUpPrompt.tsx), so that prompt can
 * open over it while the action waits for a second factor (a native modal <dialog> would
 * make everything outside it inert). `lockScroll` is off: the scroll lock injects a <style>
 * element the CSP refuses. No fade: the dialog is there at once, and axe-core sees it at
 * full contrast. While the action runs it stays: Escape then belongs to the step-up prompt
 * (declined, the refusal shows here).
 */
export function ConfirmDialog({
  opened,
  onClose,
  title,
  children,
  confirmLabel,
  danger,
  disabled,
  size,
  onConfirm,
}: {
  opened: boolean
  onClose: () => void
  title: string
  children: ReactNode
  confirmLabel: string
  danger?: boolean
  disabled?: boolean
  /** Mantine's modal width ("md" unless given): "lg" for a dialog that holds a form of several rows. */
  size?: string
  onConfirm: () => Promise<void>
}) {
  const [error, setError] = useState<unknown>(null)
  const [pending, setPending] = useState(false)
  const close = () => {
    setError(null)
    onClose()
  }
  const submit = async (event: SyntheticEvent) => {
    event.preventDefault()
    setPending(true)
    setError(null)
    try {
      await onConfirm()
      close()
    } catch (caught) {
      setError(caught)
    } finally {
      setPending(false)
    }
  }
  return (
    <Modal
      opened={opened}
      onClose={close}
      title={title}
      lockScroll={false}
      centered
      size={size}
      closeButtonProps={{ 'aria-label': 'Close' }}
      transitionProps={{ duration: 0 }}
      closeOnEscape={!pending}
      closeOnClickOutside={!pending}
    >
      <form
        onSubmit={(event) => void submit(event)}
        noValidate
        // Before Mantine's focus trap looks (a tick later): the first field, else Cancel.
        ref={(form) => void markInitialFocus(form, form?.querySelector('[data-cancel]'))}
      >
        <Stack gap="sm">
          <ActionProblem error={error} title="Refused" />
          {typeof children === 'string' ? <Text size="sm">{children}</Text> : children}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close} data-cancel>
              Cancel
            </Button>
            <Button type="submit" color={danger === true ? 'red.9' : undefined} loading={pending} disabled={disabled}>
              {confirmLabel}
            </Button>
          </Group>
        </Stack>
      </form>
    </Modal>
  )
}

/**
 * A ConfirmDialog about one item (a row's "Delete", "Revoke"): open while `item` is set,
 * its sentence and its action given that item. These are destructive: the button is red.
 */
export function ConfirmItem<T>({
  item,
  onClose,
  title,
  confirmLabel,
  text,
  onConfirm,
}: {
  item: T | null
  onClose: () => void
  title: string
  confirmLabel: string
  text: (item: T) => string
  onConfirm: (item: T) => Promise<unknown>
}) {
  return (
    <ConfirmDialog
      opened={item !== null}
      onClose={onClose}
      title={title}
      confirmLabel={confirmLabel}
      danger
      onConfirm={async () => {
        if (item !== null) await onConfirm(item)
      }}
    >
      {item === null ? '' : text(item)}
    </ConfirmDialog>
  )
}
