import { useState, type ReactNode, type SyntheticEvent } from 'react'
import { Button, Group, Modal, Stack, Text } from '@mantine/core'
import { ActionProblem } from './ActionProblem.tsx'

/**
 * A modal dialog that asks before an action (focus trapped inside, Escape closes, focus
 * returns to the button that opened it). The action's refusal is shown inside the dialog.
 * `lockScroll` is off: the scroll lock injects a <style> element the CSP refuses.
 */
export function ConfirmDialog({
  opened,
  onClose,
  title,
  children,
  confirmLabel,
  danger,
  disabled,
  onConfirm,
}: {
  opened: boolean
  onClose: () => void
  title: string
  children: ReactNode
  confirmLabel: string
  danger?: boolean
  disabled?: boolean
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
      closeButtonProps={{ 'aria-label': 'Close' }}
    >
      <form onSubmit={(event) => void submit(event)} noValidate>
        <Stack gap="sm">
          <ActionProblem error={error} title="Refused" />
          {typeof children === 'string' ? <Text size="sm">{children}</Text> : children}
          <Group justify="flex-end" gap="sm">
            <Button variant="default" onClick={close}>
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
