import { useEffect, useId, useRef, type ReactNode } from 'react'
import { Title } from '@mantine/core'
import './dialog.css'

/**
 * A modal dialog on the browser's own <dialog> (showModal): focus moves in and is held
 * there, Escape closes it, and it injects no <style> element (Mantine's Modal locks the
 * page's scroll with one, which the console's CSP refuses). Its content is mounted only
 * while it is open, so whatever state it holds is gone once it closes.
 */
const FIELD = 'input:not([type=hidden]):not([disabled]), select:not([disabled]), textarea:not([disabled])'

/**
 * Where a dialog's focus starts: an element already marked `data-autofocus`, else the first
 * field to fill in, else `fallback` (a Cancel button: the safe choice in a confirmation) —
 * never the Close button that comes first in the markup. Marks it `data-autofocus`, which
 * Mantine's focus trap and this file's Dialog both honour. WAI-ARIA APG, dialog (modal).
 */
export function markInitialFocus(container: Element | null, fallback?: Element | null): HTMLElement | null {
  if (container === null) return null
  const chosen = container.querySelector<HTMLElement>('[data-autofocus]') ?? container.querySelector<HTMLElement>(FIELD)
  const target = chosen ?? (fallback instanceof HTMLElement ? fallback : null)
  target?.setAttribute('data-autofocus', '')
  return target
}

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
    if (open && !dialog.open) {
      dialog.showModal()
      // The browser focuses the first focusable element, often a Close or Cancel button:
      // the first field to fill in is where a keyboard user wants to start.
      markInitialFocus(dialog)?.focus()
    }
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
