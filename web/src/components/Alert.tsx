import type { ComponentChildren } from 'preact'
import type { Problem } from '../api/errors.js'

/**
 * Form-level messages. The live region is always in the page (only its text changes), because
 * screen readers ignore regions that appear together with their first message.
 */
export function ErrorAlert({ problem }: { problem: Problem | null | undefined }) {
  return (
    <div class={problem ? 'alert alert-error' : 'alert-empty'} role="alert">
      {problem ? problem.message : null}
    </div>
  )
}

export function Notice({ children }: { children?: ComponentChildren }) {
  return (
    <div class={children ? 'alert alert-ok' : 'alert-empty'} role="status">
      {children}
    </div>
  )
}
