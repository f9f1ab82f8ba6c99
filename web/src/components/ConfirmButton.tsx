import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { Dialog } from './Dialog.js'

interface ConfirmButtonProps {
  /** The button that opens the question. */
  label: string
  /** The button's accessible name when several share one label (a "Sign out" on every row). */
  ariaLabel?: string
  title: string
  children: ComponentChildren
  confirmLabel: string
  onConfirm(): void | Promise<void>
  danger?: boolean
  disabled?: boolean
  class?: string
}

/** A destructive action asks first, in a real dialog rather than window.confirm (which cannot be styled or labelled). */
export function ConfirmButton({
  label,
  ariaLabel,
  title,
  children,
  confirmLabel,
  onConfirm,
  danger = false,
  disabled = false,
  class: className,
}: ConfirmButtonProps) {
  const [open, setOpen] = useState(false)
  const [busy, setBusy] = useState(false)
  const confirm = async () => {
    setBusy(true)
    try {
      await onConfirm()
    } finally {
      setBusy(false)
      setOpen(false)
    }
  }
  return (
    <>
      <button type="button" class={className ?? (danger ? 'button-danger' : 'button')} onClick={() => setOpen(true)} disabled={disabled} aria-label={ariaLabel}>
        {label}
      </button>
      <Dialog open={open} title={title} onClose={() => setOpen(false)}>
        <div class="stack">
          {children}
          <div class="row">
            <button type="button" class={danger ? 'button-danger' : 'button-primary'} onClick={confirm} disabled={busy}>
              {confirmLabel}
            </button>
            <button type="button" class="button" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </div>
      </Dialog>
    </>
  )
}
