// Signing in to the admin UI from tests.

import { createHash } from 'node:crypto'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import type { TestService } from './service.ts'

export const ADMIN_PASSWORD = 'correct horse battery staple'

/** The CSRF token of the session behind a `name=value` cookie, as its pages carry it. */
export async function csrfOf(t: TestService, cookie: string): Promise<string> {
  const token = cookie.slice(cookie.indexOf('=') + 1)
  const [row] = await rows<{ csrf_token: string }>(
    t.service.database.db,
    sql`select csrf_token from admin_sessions where token_hash = ${createHash('sha256').update(token).digest('hex')}`,
  )
  if (!row) throw new Error('no such session')
  return row.csrf_token
}

/** Signs in through the real form and returns the `name=value` session cookie. */
export async function signIn(t: TestService, email: string, password = ADMIN_PASSWORD): Promise<string> {
  const response = await t.send(
    new Request('http://belfry.test/admin/login', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ email, password }).toString(),
    }),
  )
  const cookie = response.headers.get('set-cookie')
  if (response.status !== 303 || !cookie) throw new Error(`sign-in failed with ${response.status}`)
  return cookie.split(';')[0]!
}
