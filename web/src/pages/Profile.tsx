import { useMemo, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import type { User, UserUpdate } from '../api/types.js'
import { ErrorAlert, Notice } from '../components/Alert.js'
import { SelectField, TextArea, TextField, type Option } from '../components/fields.js'
import { useCurrentUser } from '../current-user.js'
import { useAction } from '../hooks/use-action.js'
import { formatDateTime } from '../format.js'
import { DeleteAccount } from './profile/DeleteAccount.js'
import { ExportData } from './profile/ExportData.js'

/** Common language tags; the stored value is added when it is not among them. */
const LANGUAGES = ['ar', 'cs', 'da', 'de', 'el', 'en', 'en-GB', 'es', 'fi', 'fr', 'he', 'hi', 'hu', 'id', 'it', 'ja', 'ko', 'nb', 'nl', 'pl', 'pt', 'pt-BR', 'ro', 'ru', 'sv', 'th', 'tr', 'uk', 'vi', 'zh-Hans', 'zh-Hant']

function languageOptions(current: string): Option[] {
  const names = new Intl.DisplayNames(['en'], { type: 'language' })
  const tags = LANGUAGES.includes(current) ? LANGUAGES : [...LANGUAGES, current]
  const label = (tag: string) => {
    try {
      return `${names.of(tag) ?? tag} (${tag})`
    } catch {
      return tag
    }
  }
  return tags.map((tag) => ({ value: tag, label: label(tag) })).sort((a, b) => a.label.localeCompare(b.label))
}

function timezoneOptions(current: string): Option[] {
  // The runtime's list leaves out "UTC", the server's default; the stored value is always offered.
  const zones = new Set(['UTC', ...Intl.supportedValuesOf('timeZone'), current])
  return [...zones].sort().map((zone) => ({ value: zone, label: zone.replace(/_/g, ' ') }))
}

/** The editable fields as strings, the way the inputs hold them. */
type Draft = Record<'username' | 'email' | 'first_name' | 'last_name' | 'phone_number' | 'avatar_url' | 'bio' | 'timezone' | 'language', string>

function draftOf(user: User): Draft {
  return {
    username: user.username,
    email: user.email,
    first_name: user.first_name ?? '',
    last_name: user.last_name ?? '',
    phone_number: user.phone_number ?? '',
    avatar_url: user.avatar_url ?? '',
    bio: user.bio ?? '',
    timezone: user.timezone,
    language: user.language,
  }
}

const NULLABLE = new Set<keyof Draft>(['first_name', 'last_name', 'phone_number', 'avatar_url', 'bio'])

/** Only what changed is sent; an emptied optional field becomes null, which clears it. */
function changesOf(user: User, draft: Draft): UserUpdate {
  const before = draftOf(user)
  const changes: Record<string, string | null> = {}
  for (const key of Object.keys(draft) as (keyof Draft)[]) {
    const value = draft[key].trim()
    if (value === before[key]) continue
    changes[key] = value === '' && NULLABLE.has(key) ? null : value
  }
  return changes as UserUpdate
}

/** Only https images can be previewed: the page's CSP allows https: and data: images, not plain http. */
function AvatarPreview({ url, initial }: { url: string; initial: string }) {
  const [failed, setFailed] = useState('')
  const previewable = /^https:\/\/\S+$/.test(url)
  return (
    <div class="avatar-preview">
      {previewable && failed !== url ? (
        <img src={url} alt="Avatar preview" width={72} height={72} onError={() => setFailed(url)} />
      ) : (
        <span class="avatar-empty" aria-hidden="true">
          {initial}
        </span>
      )}
      <p class="avatar-note" aria-live="polite">
        {previewable && failed === url ? 'The image could not be loaded.' : url && !previewable ? 'Preview needs an https:// address.' : ''}
      </p>
    </div>
  )
}

export function ProfilePage() {
  const { user, setUser } = useCurrentUser()
  if (!user) return null
  return <ProfileForm key={user.id} user={user} onSaved={setUser} />
}

function ProfileForm({ user, onSaved }: { user: User; onSaved(user: User): void }) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(user))
  const [saved, setSaved] = useState('')
  const action = useAction()
  const resend = useAction()
  const pending = useAction()
  const timezones = useMemo(() => timezoneOptions(draft.timezone), [draft.timezone])
  const languages = useMemo(() => languageOptions(draft.language), [draft.language])
  const set = (key: keyof Draft) => (value: string) => setDraft((current) => ({ ...current, [key]: value }))
  const err = action.fieldError

  const submit = async (event: Event) => {
    event.preventDefault()
    setSaved('')
    const changes = changesOf(user, draft)
    if (Object.keys(changes).length === 0) {
      setSaved('Nothing to save: no field was changed.')
      return
    }
    const updated = await action.run(() => attempt(api.PUT('/api/v1/users/update/{user_id}', { params: { path: { user_id: user.id } }, body: changes })))
    if (!updated) return
    onSaved(updated)
    // The email field goes back to the current address: a new one only counts once its link is used.
    setDraft(draftOf(updated))
    setSaved(
      'email' in changes && updated.pending_email
        ? `Profile saved. We sent a link to ${updated.pending_email}; your email stays ${updated.email} until you open it.`
        : 'Profile saved.',
    )
  }

  /** Resend and cancel of a pending email change share the form's messages. */
  const changePending = async (how: 'resend' | 'cancel') => {
    const address = user.pending_email
    if (!address) return
    setSaved('')
    action.setProblem(null)
    resend.setProblem(null)
    // Asking again for the same address mails a new link; the older one stops working.
    const updated = await pending.run(() =>
      attempt(
        how === 'resend'
          ? api.PUT('/api/v1/users/update/{user_id}', { params: { path: { user_id: user.id } }, body: { email: address } })
          : api.DELETE('/api/v1/users/me/pending-email'),
      ),
    )
    if (!updated) return
    onSaved(updated)
    setSaved(how === 'resend' ? `We sent a new link to ${address}. Earlier links no longer work.` : `Email change cancelled; you keep ${updated.email}.`)
  }

  const resendVerification = async () => {
    setSaved('')
    const answer = await resend.run(() => attempt(api.POST('/api/v1/auth/resend-verification')))
    if (answer) setSaved(`${answer.detail} to ${user.email}.`)
  }

  const avatar = draft.avatar_url.trim()

  return (
    <div class="page">
      <h1>Profile</h1>
      <div class="columns">
        <section class="card" aria-labelledby="profile-edit-title">
          <h2 id="profile-edit-title">Your details</h2>
          <form class="stack" onSubmit={submit} noValidate>
            <ErrorAlert problem={action.problem ?? resend.problem ?? pending.problem} />
            <Notice>{saved}</Notice>
            {user.pending_email ? (
              <div class="pending-email" role="group" aria-labelledby="pending-email-title">
                <p id="pending-email-title">
                  Waiting for confirmation: <strong data-testid="pending-email">{user.pending_email}</strong>
                </p>
                <p class="muted">Open the link we sent to that address to switch to it. Until then your email stays {user.email}.</p>
                <div class="row">
                  <button type="button" class="button" onClick={() => changePending('resend')} disabled={pending.busy}>
                    Resend link
                  </button>
                  <button type="button" class="button" onClick={() => changePending('cancel')} disabled={pending.busy}>
                    Cancel change
                  </button>
                </div>
              </div>
            ) : null}
            <div class="grid-2">
              <TextField label="Username" name="username" value={draft.username} onValue={set('username')} autoComplete="username" required error={err('username')} />
              <TextField label="Email" name="email" type="email" value={draft.email} onValue={set('email')} autoComplete="email" required error={err('email')} hint="A new address counts once you open the link we send to it." />
              <TextField label="First name" name="first_name" value={draft.first_name} onValue={set('first_name')} autoComplete="given-name" maxLength={100} error={err('first_name')} />
              <TextField label="Last name" name="last_name" value={draft.last_name} onValue={set('last_name')} autoComplete="family-name" maxLength={100} error={err('last_name')} />
              <TextField label="Phone number" name="phone_number" type="tel" value={draft.phone_number} onValue={set('phone_number')} autoComplete="tel" error={err('phone_number')} hint="For example +1 555 010 2000" />
              <SelectField label="Time zone" name="timezone" value={draft.timezone} onValue={set('timezone')} options={timezones} error={err('timezone')} />
              <SelectField label="Language" name="language" value={draft.language} onValue={set('language')} options={languages} error={err('language')} />
            </div>
            <div class="avatar-row">
              <TextField
                label="Avatar URL"
                name="avatar_url"
                type="url"
                value={draft.avatar_url}
                onValue={set('avatar_url')}
                placeholder="https://…"
                error={err('avatar_url')}
                hint="An https:// address of an image."
              />
              <AvatarPreview url={avatar} initial={(draft.first_name || draft.username).slice(0, 1).toUpperCase()} />
            </div>
            <TextArea label="Bio" name="bio" value={draft.bio} onValue={set('bio')} maxLength={5000} error={err('bio')} />
            <div class="row">
              <button type="submit" class="button-primary" disabled={action.busy}>
                {action.busy ? 'Saving…' : 'Save profile'}
              </button>
              <button type="button" class="button" onClick={() => setDraft(draftOf(user))} disabled={action.busy}>
                Undo changes
              </button>
            </div>
          </form>
        </section>
        <section class="card" aria-labelledby="profile-account-title">
          <h2 id="profile-account-title">Account</h2>
          <dl class="facts">
            <dt>Role</dt>
            <dd>
              <span class={`badge badge-${user.role}`}>{user.role}</span>
            </dd>
            <dt>Email</dt>
            <dd>
              {user.email_verified ? 'Verified' : 'Not verified'}
              {user.email_verified ? null : (
                <button type="button" class="button-link" onClick={resendVerification} disabled={resend.busy}>
                  Send a new link
                </button>
              )}
            </dd>
            <dt>Phone</dt>
            <dd>{user.phone_number ? (user.phone_verified ? 'Verified' : 'Not verified') : 'None'}</dd>
            <dt>Two-factor</dt>
            <dd>{user.two_fa_enabled ? `On (${user.two_fa_method === 'totp' ? 'authenticator app' : 'email'})` : 'Off'}</dd>
            <dt>Last sign-in</dt>
            <dd>{formatDateTime(user.last_login_at, user.timezone)}</dd>
            <dt>Member since</dt>
            <dd>{formatDateTime(user.created_at, user.timezone)}</dd>
          </dl>
        </section>
      </div>
      <div class="columns">
        <ExportData />
        <DeleteAccount />
      </div>
    </div>
  )
}
