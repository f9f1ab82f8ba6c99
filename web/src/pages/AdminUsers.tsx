import { useEffect, useState } from 'preact/hooks'
import { api } from '../api/client.js'
import { attempt } from '../api/errors.js'
import { ROLES, canManage, type Role, type User, type UserPage } from '../api/types.js'
import { ErrorAlert, Notice } from '../components/Alert.js'
import { Dialog } from '../components/Dialog.js'
import { SelectField, TextField } from '../components/fields.js'
import { Pager } from '../components/Pager.js'
import { useCurrentUser } from '../current-user.js'
import { formatDateTime } from '../format.js'
import { useAction } from '../hooks/use-action.js'
import { CreateUserForm } from './admin/CreateUserForm.js'
import { UserEditor } from './admin/UserEditor.js'

const PAGE_SIZE = 20

interface Filters {
  search: string
  role: '' | Role
  active: '' | 'true' | 'false'
}

export function AdminUsersPage() {
  const { user: me } = useCurrentUser()
  const [filters, setFilters] = useState<Filters>({ search: '', role: '', active: '' })
  const [search, setSearch] = useState('')
  const [skip, setSkip] = useState(0)
  const [page, setPage] = useState<UserPage | null>(null)
  const [editing, setEditing] = useState<User | null>(null)
  const [creating, setCreating] = useState(false)
  const [notice, setNotice] = useState('')
  const list = useAction()

  // Typing in the search box waits for a pause before asking the server.
  useEffect(() => {
    const timer = setTimeout(() => {
      setFilters((current) => (current.search === search.trim() ? current : { ...current, search: search.trim() }))
      setSkip(0)
    }, 300)
    return () => clearTimeout(timer)
  }, [search])

  const load = async () => {
    const data = await list.run(() =>
      attempt(
        api.GET('/api/v1/users', {
          params: {
            query: {
              skip,
              limit: PAGE_SIZE,
              ...(filters.search ? { search: filters.search } : {}),
              ...(filters.role ? { role: filters.role } : {}),
              ...(filters.active ? { is_active: filters.active === 'true' } : {}),
            },
          },
        }),
      ),
    )
    if (data) setPage(data)
  }

  useEffect(() => {
    void load()
  }, [filters, skip])

  if (!me) return null

  const updated = (user: User, message: string) => {
    setNotice(message)
    setEditing(user)
    setPage((current) => (current ? { ...current, items: current.items.map((item) => (item.id === user.id ? user : item)) } : current))
  }

  const removed = (user: User) => {
    setEditing(null)
    setNotice(`User ${user.username} deleted.`)
    void load()
  }

  const filter = (patch: Partial<Filters>) => {
    setFilters((current) => ({ ...current, ...patch }))
    setSkip(0)
  }

  return (
    <div class="page">
      <div class="page-head">
        <h1>Users</h1>
        <button type="button" class="button-primary" onClick={() => setCreating(true)}>
          New user
        </button>
      </div>
      <Notice>{notice}</Notice>
      <ErrorAlert problem={list.problem} />
      <form class="filters" role="search" aria-label="Filter users" onSubmit={(event) => event.preventDefault()}>
        <TextField label="Search" name="search" type="search" value={search} onValue={setSearch} placeholder="Username, email or name" />
        <SelectField
          label="Role"
          name="role"
          value={filters.role}
          onValue={(value) => filter({ role: (ROLES as readonly string[]).includes(value) ? (value as Role) : '' })}
          options={[{ value: '', label: 'Any role' }, ...ROLES.map((role) => ({ value: role, label: role }))]}
        />
        <SelectField
          label="Status"
          name="is_active"
          value={filters.active}
          onValue={(value) => filter({ active: value === 'true' || value === 'false' ? value : '' })}
          options={[
            { value: '', label: 'Active and inactive' },
            { value: 'true', label: 'Active' },
            { value: 'false', label: 'Inactive' },
          ]}
        />
      </form>
      <div class="table-wrap" aria-busy={list.busy}>
        <table class="users">
          <caption class="visually-hidden">Users</caption>
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Email</th>
              <th scope="col">2FA</th>
              <th scope="col">Created</th>
              <th scope="col">
                <span class="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {page?.items.map((user) => (
              <tr key={user.id} data-user={user.username}>
                <td>
                  <span class="cell-main">{user.username}</span>
                  <span class="cell-sub">{user.email}</span>
                </td>
                <td>
                  <span class={`badge badge-${user.role}`} data-testid="role">
                    {user.role}
                  </span>
                </td>
                <td>{user.is_active ? 'Active' : <span class="badge badge-off">Inactive</span>}</td>
                <td>{user.email_verified ? 'Verified' : 'Unverified'}</td>
                <td>{user.two_fa_enabled ? (user.two_fa_method === 'totp' ? 'App' : 'Email') : 'Off'}</td>
                <td>{formatDateTime(user.created_at)}</td>
                <td>
                  <button type="button" class="button" onClick={() => setEditing(user)} aria-label={`Manage ${user.username}`}>
                    {canManage(me, user) || me.role === 'superadmin' ? 'Manage' : 'View'}
                  </button>
                </td>
              </tr>
            ))}
            {page && page.items.length === 0 ? (
              <tr>
                <td colSpan={7}>No users match these filters.</td>
              </tr>
            ) : null}
          </tbody>
        </table>
      </div>
      {page ? <Pager skip={page.skip} limit={page.limit} total={page.total} onSkip={setSkip} noun="users" /> : null}

      <Dialog open={editing !== null} title={editing ? `User ${editing.username}` : 'User'} onClose={() => setEditing(null)}>
        {editing ? <UserEditor key={editing.id} me={me} user={editing} onUpdated={updated} onDeleted={removed} /> : null}
      </Dialog>
      <Dialog open={creating} title="New user" onClose={() => setCreating(false)}>
        <CreateUserForm
          me={me}
          onCreated={(user) => {
            setCreating(false)
            setNotice(`User ${user.username} created.`)
            void load()
          }}
        />
      </Dialog>
    </div>
  )
}
