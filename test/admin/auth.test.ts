// Protects admin sign-in: argon2id hashes, the session cookie's attributes,
// a fresh session per login, sign-out ending it, CSRF on every state
// change, the failed-login limit, and the one-time setup link.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { admins } from '../../src/db/schema/index.ts'
import { ADMIN_PASSWORD as PASSWORD, csrfOf as csrfFor } from '../support/admin.ts'
import { startTestService, type TestService } from '../support/service.ts'

const EMAIL = 'ops@school.test'
let t: TestService
beforeAll(async () => {
  t = await startTestService({ ROLE: 'api', ADMIN_PASSWORD: PASSWORD })
})
afterAll(() => t.stop())

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString()
const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.send(
    new Request(`http://belfry.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: form(fields),
    }),
  )

async function signIn(email = EMAIL, password = PASSWORD) {
  const response = await post('/admin/login', { email, password, next: '/admin/messages' })
  const cookie = response.headers.get('set-cookie') ?? ''
  return { response, cookie, value: cookie.split(';')[0]! }
}

describe('admin sign-in', () => {
  test('the first admin from ADMIN_EMAIL/ADMIN_PASSWORD is stored as an argon2id hash', async () => {
    const [admin] = await t.service.database.db.select().from(admins).where(eq(admins.email, EMAIL))
    expect(admin?.passwordHash).toStartWith('$argon2id$')
    expect(admin?.passwordHash).not.toContain(PASSWORD)
  })

  test('a signed-out visitor is sent to the sign-in page, keeping where they were going', async () => {
    const response = await post('/admin/logout', {})
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/admin/login?next=%2Fadmin%2Flogout')
    const page = await t.send(new Request('http://belfry.test/admin/login'))
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe-eval')
    expect(await page.text()).toContain('Sign in')
  })

  test('signing in sets an HttpOnly, SameSite=Lax session cookie and goes where the admin was headed', async () => {
    const { response, cookie } = await signIn()
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/admin/messages')
    expect(cookie).toStartWith('belfry_admin=')
    expect(cookie).toContain('HttpOnly')
    expect(cookie).toContain('SameSite=Lax')
    expect(cookie).toContain('Path=/')
    expect(cookie).not.toContain('Secure') // PUBLIC_URL is http here; see the https test below
  })

  test('each sign-in opens a new session; signing out ends it', async () => {
    const first = await signIn()
    const second = await signIn()
    expect(first.value).not.toBe(second.value)
    // Both sessions are live: the sign-in page sends each straight on.
    for (const { value } of [first, second]) {
      expect((await t.send(new Request('http://belfry.test/admin/login', { headers: { cookie: value } }))).status).toBe(303)
    }

    const csrf = await csrfOf(second.value)
    const out = await post('/admin/logout', { _csrf: csrf }, { cookie: second.value })
    expect(out.status).toBe(303)
    expect(out.headers.get('set-cookie')).toContain('Max-Age=0')
    const after = await post('/admin/logout', { _csrf: csrf }, { cookie: second.value })
    expect(after.headers.get('location')).toStartWith('/admin/login')
  })

  test('a state change without the session\'s CSRF token is refused with 403', async () => {
    const { value } = await signIn()
    expect((await post('/admin/logout', {}, { cookie: value })).status).toBe(403)
    expect((await post('/admin/logout', { _csrf: 'forged' }, { cookie: value })).status).toBe(403)
    expect((await post('/admin/logout', {}, { cookie: value, 'x-csrf-token': 'forged' })).status).toBe(403)
    // The session is still there: the refused requests changed nothing.
    expect((await post('/admin/logout', {}, { cookie: value, 'x-csrf-token': await csrfOf(value) })).status).toBe(303)
  })

  test('repeated wrong passwords for one address get 429 with a reason (a sliding window, not a lockout)', async () => {
    const victim = 'victim@school.test'
    const statuses: number[] = []
    for (let i = 0; i < 7; i++) statuses.push((await post('/admin/login', { email: victim, password: `guess-${i}` })).status)
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401])
    expect(statuses.slice(5)).toEqual([429, 429])
    const page = await (await post('/admin/login', { email: victim, password: 'x' })).text()
    expect(page).toContain('Too many failed sign-ins')
  })

  test('`next` cannot send a signed-in admin to another site', async () => {
    const response = await post('/admin/login', { email: EMAIL, password: PASSWORD, next: '//evil.test/admin' })
    expect(response.headers.get('location')).toBe('/admin')
  })
})

const csrfOf = (cookie: string) => csrfFor(t, cookie)

describe('behind https', () => {
  test('the cookie is __Host- prefixed and Secure', async () => {
    const https = await startTestService({ ROLE: 'api', ADMIN_PASSWORD: PASSWORD, PUBLIC_URL: 'https://notify.school.test' })
    try {
      const response = await https.send(
        new Request('https://notify.school.test/admin/login', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: form({ email: EMAIL, password: PASSWORD }),
        }),
      )
      const cookie = response.headers.get('set-cookie') ?? ''
      expect(cookie).toStartWith('__Host-belfry_admin=')
      expect(cookie).toContain('Secure')
      expect(cookie).toContain('Path=/')
      expect(cookie).not.toContain('Domain')
      // Nothing to warn about behind https.
      const dashboard = await https.send(
        new Request('https://notify.school.test/admin', { headers: { cookie: cookie.split(';')[0]! } }),
      )
      expect(dashboard.status).toBe(200)
      expect(await dashboard.text()).not.toContain('insecure-public-url')
    } finally {
      await https.stop()
    }
  })
})

describe('first-admin setup link', () => {
  test('without ADMIN_PASSWORD a one-time link is logged; it creates the admin once', async () => {
    const lines: string[] = []
    const { createLogger } = await import('../../src/log.ts')
    const setup = await startTestService({ ROLE: 'api' }, { log: createLogger('info', {}, (line) => lines.push(line)) })
    try {
      const link = lines.map((l) => JSON.parse(l)).find((e) => e.setupLink)?.setupLink as string
      expect(link).toMatch(/^http:\/\/belfry\.test\/admin\/setup\/[A-Za-z0-9_-]{43}$/)
      const path = new URL(link).pathname
      expect((await setup.send(new Request(`http://belfry.test${path}`))).status).toBe(200)
      const body = form({ email: 'first@school.test', password: 'a long enough password' })
      const created = await setup.send(
        new Request(`http://belfry.test${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body }),
      )
      expect(created.status).toBe(303)
      expect(created.headers.get('set-cookie')).toContain('belfry_admin=')
      // Spent: the link now leads to the sign-in page.
      const again = await setup.send(new Request(`http://belfry.test${path}`))
      expect(again.headers.get('location')).toBe('/admin/login')
    } finally {
      await setup.stop()
    }
  })
})
