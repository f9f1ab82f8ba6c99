import { useState } from 'preact/hooks'
import { api } from '../../api/client.js'
import { attempt } from '../../api/errors.js'
import { ROLES, type Role, type User } from '../../api/types.js'
import { ErrorAlert } from '../../components/Alert.js'
import { Checkbox, SelectField, TextField } from '../../components/fields.js'
import { useAction } from '../../hooks/use-action.js'

export function CreateUserForm({ me, onCreated }: { me: User; onCreated(user: User): void }) {
  const [username, setUsername] = useState('')
  const [email, setEmail] = useState('')
  const [password, setPassword] = useState('')
  const [role, setRole] = useState<Role>('user')
  const [verified, setVerified] = useState(false)
  const action = useAction()

  const submit = async (event: Event) => {
    event.preventDefault()
    const user = await action.run(() =>
      attempt(api.POST('/api/v1/users', { body: { username: username.trim(), email: email.trim(), password, role, email_verified: verified } })),
    )
    if (user) onCreated(user)
  }

  return (
    <form class="stack" onSubmit={submit} noValidate>
      <ErrorAlert problem={action.problem} />
      <TextField label="Username" name="username" value={username} onValue={setUsername} required autoFocus autoComplete="off" error={action.fieldError('username')} />
      <TextField label="Email" name="email" type="email" value={email} onValue={setEmail} required autoComplete="off" error={action.fieldError('email')} />
      <TextField label="Password" name="password" type="password" value={password} onValue={setPassword} required autoComplete="new-password" error={action.fieldError('password')} />
      {me.role === 'superadmin' ? (
        <SelectField
          label="Role"
          name="role"
          value={role}
          onValue={(value) => setRole(ROLES.find((known) => known === value) ?? 'user')}
          options={ROLES.map((known) => ({ value: known, label: known }))}
          error={action.fieldError('role')}
        />
      ) : null}
      <Checkbox label="Email address already verified" name="email_verified" checked={verified} onChecked={setVerified} />
      <div class="row">
        <button type="submit" class="button-primary" disabled={action.busy}>
          Create user
        </button>
      </div>
    </form>
  )
}
