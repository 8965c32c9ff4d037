import { useEffect, useId, useRef, type ReactNode } from 'react'
import { Title } from '@mantine/core'
import './dialog.css'

/**
 * A modal dialog on the browser's own <dialog> (showModal): focus moves in and is held
 * there, Escape closes it, and it injects no <style> element (Mantine's Modal locks the
 * page's scroll with one, which the console's CSP refuses). Its content is mounted only
 * while it is open, so whatever state it holds is gone once it closes.
 */
export function Dialog({
  open,
  title,
  onClose,
  children,
}: {
  open: boolean
  title: string
  onClose: () => void
  children: ReactNode
}) {
  const ref = useRef<HTMLDialogElement>(null)
  const titleId = useId()
  useEffect(() => {
    const dialog = ref.current
    if (dialog === null) return
    if (open && !dialog.open) dialog.showModal()
    if (!open && dialog.open) dialog.close()
  }, [open])
  return (
    <dialog ref={ref} className="console-dialog" aria-labelledby={titleId} onClose={onClose}>
      {open ? (
        <>
          <Title order={2} size="h4" id={titleId} mb="sm">
            {title}
          </Title>
          {children}
        </>
      ) : null}
    </dialog>
  )
}
