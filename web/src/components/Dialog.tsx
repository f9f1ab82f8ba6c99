import type { ComponentChildren } from 'preact'
import { useEffect, useId, useRef } from 'preact/hooks'

interface DialogProps {
  open: boolean
  title: string
  /** Escape, the close button, or the form inside calling it. */
  onClose(): void
  children: ComponentChildren
  /** Hide the close button when closing would leave the user stuck (e.g. must pick an answer). */
  dismissable?: boolean
}

/**
 * A modal built on <dialog>: the browser traps focus inside, restores it on close, closes on
 * Escape and makes the rest of the page inert, which is hard to get right by hand.
 */
export function Dialog({ open, title, onClose, children, dismissable = true }: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null)
  const titleId = useId()

  useEffect(() => {
    const dialog = ref.current
    if (!dialog) return
    if (open && !dialog.open) dialog.showModal()
    if (!open && dialog.open) dialog.close()
  }, [open])

  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby={titleId}
      onClose={() => {
        if (open) onClose()
      }}
    >
      <div class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        {dismissable ? (
          <button type="button" class="button-quiet" onClick={onClose} aria-label="Close">
            ✕
          </button>
        ) : null}
      </div>
      {open ? children : null}
    </dialog>
  )
}
