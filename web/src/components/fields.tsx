import type { ComponentChildren, InputHTMLAttributes, LooseInputHTMLAttributes } from 'preact'
import { useId } from 'preact/hooks'

/**
 * Labelled form controls. Each renders a real <label>, ties hints and errors to the control with
 * aria-describedby, and marks a control with an error aria-invalid so screen readers announce it.
 */

interface Common {
  label: string
  /** The API field name: errors from a 422 are looked up under it. */
  name: string
  hint?: ComponentChildren
  error?: string | undefined
  required?: boolean
  disabled?: boolean
}

function describedBy(id: string, hint: unknown, error: unknown): string | undefined {
  const ids = [hint ? `${id}-hint` : '', error ? `${id}-error` : ''].filter(Boolean)
  return ids.length > 0 ? ids.join(' ') : undefined
}

function Help({ id, hint, error }: { id: string; hint?: ComponentChildren; error?: string | undefined }) {
  return (
    <>
      {hint ? <p class="hint" id={`${id}-hint`}>{hint}</p> : null}
      {error ? (
        <p class="field-error" id={`${id}-error`}>
          {error}
        </p>
      ) : null}
    </>
  )
}

interface TextFieldProps extends Common {
  value: string
  onValue(value: string): void
  type?: 'text' | 'email' | 'password' | 'url' | 'tel' | 'search' | 'number' | 'datetime-local' | 'date'
  autoComplete?: string
  inputMode?: 'text' | 'numeric' | 'email' | 'url' | 'tel' | 'search'
  placeholder?: string
  minLength?: number
  maxLength?: number
  readOnly?: boolean
  autoFocus?: boolean
  spellcheck?: boolean
}

export function TextField({ label, name, hint, error, value, onValue, type = 'text', ...rest }: TextFieldProps) {
  const id = useId()
  // Preact types <input> as a union keyed on a literal `type` (it checks which ARIA roles fit which
  // type); a type chosen by the caller cannot be narrowed to one member, so the loose form is asserted.
  const attributes: LooseInputHTMLAttributes<HTMLInputElement> = {
    id,
    name,
    type,
    value,
    onInput: (event) => onValue(event.currentTarget.value),
    'aria-invalid': error ? true : undefined,
    'aria-describedby': describedBy(id, hint, error),
    ...rest,
  }
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      <input {...(attributes as InputHTMLAttributes<HTMLInputElement>)} />
      <Help id={id} hint={hint} error={error} />
    </div>
  )
}

interface TextAreaProps extends Common {
  value: string
  onValue(value: string): void
  rows?: number
  maxLength?: number
}

export function TextArea({ label, name, hint, error, value, onValue, rows = 4, ...rest }: TextAreaProps) {
  const id = useId()
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      <textarea
        id={id}
        name={name}
        rows={rows}
        value={value}
        onInput={(event) => onValue(event.currentTarget.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, hint, error)}
        {...rest}
      />
      <Help id={id} hint={hint} error={error} />
    </div>
  )
}

export interface Option {
  value: string
  label: string
}

interface SelectFieldProps extends Common {
  value: string
  onValue(value: string): void
  options: readonly Option[]
}

export function SelectField({ label, name, hint, error, value, onValue, options, ...rest }: SelectFieldProps) {
  const id = useId()
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      <label for={id}>{label}</label>
      <select
        id={id}
        name={name}
        value={value}
        onChange={(event) => onValue(event.currentTarget.value)}
        aria-invalid={error ? true : undefined}
        aria-describedby={describedBy(id, hint, error)}
        {...rest}
      >
        {options.map((option) => (
          <option key={option.value} value={option.value}>
            {option.label}
          </option>
        ))}
      </select>
      <Help id={id} hint={hint} error={error} />
    </div>
  )
}

interface CheckboxProps extends Common {
  checked: boolean
  onChecked(checked: boolean): void
}

export function Checkbox({ label, name, hint, error, checked, onChecked, ...rest }: CheckboxProps) {
  const id = useId()
  return (
    <div class={`field field-check${error ? ' has-error' : ''}`}>
      <input
        id={id}
        name={name}
        type="checkbox"
        checked={checked}
        onChange={(event) => onChecked(event.currentTarget.checked)}
        aria-describedby={describedBy(id, hint, error)}
        {...rest}
      />
      <label for={id}>{label}</label>
      <Help id={id} hint={hint} error={error} />
    </div>
  )
}
