import { Alert } from '@mantine/core'

/** What an action did, as a status message (with "Dismiss" when `onClose` is given); nothing for null. */
export function Notice({ message, title, onClose }: { message: string | null; title?: string; onClose?: () => void }) {
  if (message === null) return null
  return (
    <Alert
      color="blue"
      title={title}
      role="status"
      withCloseButton={onClose !== undefined}
      closeButtonLabel="Dismiss"
      onClose={onClose}
    >
      {message}
    </Alert>
  )
}
