// Sign-in and first-admin setup forms.

import { Html } from '@elysiajs/html'
import { AdminLayout, type AdminShell } from './layout.tsx'

export interface LoginProps extends AdminShell {
  next: string
  email?: string
  error?: string
}

export function LoginPage({ next, email, error, ...shell }: LoginProps): JSX.Element {
  return (
    <AdminLayout {...shell} title="Sign in">
      <form method="post" action="/admin/login" class="card narrow">
        {error ? (
          <p class="error" role="alert" safe>
            {error}
          </p>
        ) : (
          ''
        )}
        <input type="hidden" name="next" value={next} />
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required value={email ?? ''} />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="current-password" required />
        <button type="submit" class="primary">
          Sign in
        </button>
      </form>
    </AdminLayout>
  )
}

export interface SetupProps extends AdminShell {
  action: string
  error?: string
  minLength: number
}

export function SetupPage({ action, error, minLength, ...shell }: SetupProps): JSX.Element {
  return (
    <AdminLayout {...shell} title="Create the first admin">
      <form method="post" action={action} class="card narrow">
        {error ? (
          <p class="error" role="alert" safe>
            {error}
          </p>
        ) : (
          ''
        )}
        <label for="email">Email</label>
        <input id="email" name="email" type="email" autocomplete="username" required />
        <label for="password">Password</label>
        <input id="password" name="password" type="password" autocomplete="new-password" minlength={String(minLength)} required />
        <p class="hint" safe>{`At least ${minLength} characters.`}</p>
        <button type="submit" class="primary">
          Create admin and sign in
        </button>
      </form>
    </AdminLayout>
  )
}
