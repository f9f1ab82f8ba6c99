import { useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { ROLES, canManage, type Role, type User, type UserUpdate } from '../../api/types.js'
import { ErrorAlert, Notice } from '../../components/Alert.js'
import { ConfirmButton } from '../../components/ConfirmButton.js'
import { Checkbox, SelectField, TextField } from '../../components/fields.js'
import { formatDateTime } from '../../format.js'
import { useAction } from '../../hooks/use-action.js'

interface UserEditorProps {
  me: User
  user: User
  onUpdated(user: User, message: string): void
  onDeleted(user: User): void
}

/** An admin's view of one user: details and account flags, the role (superadmins), and deletion. */
export function UserEditor({ me, user, onUpdated, onDeleted }: UserEditorProps) {
  const manageable = canManage(me, user)
  const self = me.id === user.id
  const [fields, setFields] = useState({
    username: user.username,
    email: user.email,
    first_name: user.first_name ?? '',
    last_name: user.last_name ?? '',
    phone_number: user.phone_number ?? '',
  })
  const [flags, setFlags] = useState({ is_active: user.is_active, email_verified: user.email_verified, phone_verified: user.phone_verified })
  const [role, setRole] = useState<Role>(user.role)
  // Shown inside the dialog: while it is open the page behind is inert, so its messages go unheard.
  const [notice, setNotice] = useState('')
  const save = useAction()
  const roleAction = useAction()
  const remove = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    const changes: Record<string, string | boolean | null> = {}
    const original: Record<string, string> = {
      username: user.username,
      email: user.email,
      first_name: user.first_name ?? '',
      last_name: user.last_name ?? '',
      phone_number: user.phone_number ?? '',
    }
    for (const [key, value] of Object.entries(fields)) {
      const trimmed = value.trim()
      if (trimmed !== original[key]) changes[key] = trimmed === '' && key !== 'username' && key !== 'email' ? null : trimmed
    }
    // The server refuses these flags on your own account whatever the value, so they are never sent for yourself.
    if (!self) {
      for (const key of ['is_active', 'email_verified', 'phone_verified'] as const) {
        if (flags[key] !== user[key]) changes[key] = flags[key]
      }
    }
    if (Object.keys(changes).length === 0) {
      save.setProblem({ message: 'Nothing to save: no field was changed.', fields: {} })
      return
    }
    const updated = await save.run(() =>
      attempt(api.PUT('/api/v1/users/update/{user_id}', { params: { path: { user_id: user.id } }, body: changes as UserUpdate })),
    )
    if (!updated) return
    // Your own new address waits for its link like on the profile page; other users' changes at once.
    const message =
      'email' in changes && updated.pending_email ? `Saved ${updated.username}. A link went to ${updated.pending_email}; the email changes once it is opened.` : `Saved ${updated.username}.`
    if (updated.pending_email) setFields((current) => ({ ...current, email: updated.email }))
    setNotice(message)
    onUpdated(updated, message)
  }

  const changeRole = async (event: Event) => {
    event.preventDefault()
    const updated = await roleAction.run(() => attempt(api.PUT('/api/v1/users/update/{user_id}/role', { params: { path: { user_id: user.id } }, body: { role } })))
    if (!updated) return
    setNotice(`${updated.username} is now ${updated.role}.`)
    onUpdated(updated, `${updated.username} is now ${updated.role}.`)
  }

  const deleteUser = async () => {
    const outcome = await attempt(api.DELETE('/api/v1/users/delete/{user_id}', { params: { path: { user_id: user.id } } }))
    if (outcome.ok) onDeleted(user)
    else remove.setProblem(outcome.problem)
  }

  return (
    <div class="stack">
      <p class="muted">
        #{user.id} · created {formatDateTime(user.created_at)} · last sign-in {formatDateTime(user.last_login_at)}
      </p>
      <Notice>{notice}</Notice>
      {!manageable ? <p class="note">You can view this account but not change it: admins manage plain users only.</p> : null}
      <form class="stack" onSubmit={submit} noValidate>
        <ErrorAlert problem={save.problem} />
        <fieldset disabled={!manageable} class="stack">
          <legend>Details</legend>
          <div class="grid-2">
            <TextField label="Username" name="username" value={fields.username} onValue={(value) => setFields({ ...fields, username: value })} error={save.fieldError('username')} />
            <TextField label="Email" name="email" type="email" value={fields.email} onValue={(value) => setFields({ ...fields, email: value })} error={save.fieldError('email')} />
            <TextField label="First name" name="first_name" value={fields.first_name} onValue={(value) => setFields({ ...fields, first_name: value })} error={save.fieldError('first_name')} />
            <TextField label="Last name" name="last_name" value={fields.last_name} onValue={(value) => setFields({ ...fields, last_name: value })} error={save.fieldError('last_name')} />
            <TextField label="Phone number" name="phone_number" type="tel" value={fields.phone_number} onValue={(value) => setFields({ ...fields, phone_number: value })} error={save.fieldError('phone_number')} />
          </div>
          {self ? null : (
            <div class="checks">
              <Checkbox label="Active (can sign in)" name="is_active" checked={flags.is_active} onChecked={(value) => setFlags({ ...flags, is_active: value })} hint="Deactivating ends all of the user's sessions at once." />
              <Checkbox label="Email verified" name="email_verified" checked={flags.email_verified} onChecked={(value) => setFlags({ ...flags, email_verified: value })} />
              <Checkbox label="Phone verified" name="phone_verified" checked={flags.phone_verified} onChecked={(value) => setFlags({ ...flags, phone_verified: value })} />
            </div>
          )}
          <div class="row">
            <button type="submit" class="button-primary" disabled={save.busy}>
              Save changes
            </button>
          </div>
        </fieldset>
      </form>

      {me.role === 'superadmin' ? (
        <form class="stack" onSubmit={changeRole} noValidate>
          <ErrorAlert problem={roleAction.problem} />
          <div class="row align-end">
            <SelectField label="Role" name="role" value={role} onValue={(value) => setRole(ROLES.find((known) => known === value) ?? user.role)} options={ROLES.map((known) => ({ value: known, label: known }))} />
            <button type="submit" class="button" disabled={roleAction.busy || role === user.role}>
              Change role
            </button>
          </div>
        </form>
      ) : (
        <p class="muted">
          Role: <span class={`badge badge-${user.role}`}>{user.role}</span>. Only a superadmin can change roles.
        </p>
      )}

      {manageable && !self ? (
        <div class="stack danger-zone">
          <ErrorAlert problem={remove.problem} />
          <ConfirmButton label="Delete user" title={`Delete ${user.username}?`} confirmLabel="Delete for good" danger onConfirm={deleteUser}>
            <p>
              The account <strong>{user.username}</strong> and its sessions and keys are removed. This cannot be undone; to keep the history, deactivate the account
              instead.
            </p>
          </ConfirmButton>
        </div>
      ) : null}
    </div>
  )
}
