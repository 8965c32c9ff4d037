import type { ReactNode } from 'react'
import { Button, CopyButton, Group, TextInput } from '@mantine/core'

/**
 * A credential the API answers once (an invitation token, an API token): read only, with
 * "Copy token" (or `copyLabel`: "Copy secret") and, as `children`, the button that drops it. The value lives in the
 * caller's state only (never a URL, storage or the query cache). `compact`: small buttons,
 * for inside a message.
 */
export function TokenShownOnce({
  label,
  token,
  compact = false,
  copyLabel = 'Copy token',
  children,
}: {
  label: string
  token: string
  compact?: boolean
  copyLabel?: string
  children: ReactNode
}) {
  return (
    <>
      <TextInput label={label} readOnly value={token} autoComplete="off" />
      <Group {...(compact ? { mt: 'xs', gap: 'xs' } : { justify: 'flex-end' })}>
        <CopyButton value={token}>
          {({ copied, copy }) => (
            <Button size={compact ? 'xs' : undefined} variant="default" onClick={copy}>
              {copied ? 'Copied' : copyLabel}
            </Button>
          )}
        </CopyButton>
        {children}
      </Group>
    </>
  )
}
