import { Alert } from '@mantine/core'

/** What an action did, as a status message (with "Dismiss" when `onClose` is given); nothing for null. */
export function Notice({ message, onClose }: { message: string | null; onClose?: () => void }) {
  if (message === null) return null
  return (
    <Alert
      color="blue"
      role="status"
      withCloseButton={onClose !== undefined}
      closeButtonLabel="Dismiss"
      onClose={onClose}
    >
      {message}
    </Alert>
  )
}
