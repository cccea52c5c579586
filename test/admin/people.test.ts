// Protects the admin's recipients and suppressions pages: search by email,
// name or LMS id; a recipient's page with preferences, recent messages and
// suppression; adding and lifting a suppression (stored, audited, and the
// suppressed address then gets nothing); hostile names shown as text; no
// session → sign-in; a wrong CSRF token → 403.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { auditLog, messages, suppressions } from '../../src/db/schema/index.ts'
import { setFrequency } from '../../src/preferences/queries.ts'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'

// Bun's 5 s default is too short for the services this file boots when run without `--timeout` (plain `bun test`).
setDefaultTimeout(30_000)

const HOSTILE_NAME = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'
const HOSTILE_COURSE = '"><img src=x onerror=alert(3)><script>alert(4)</script>'

let t: TestService
let cookie: string
let csrf: string
const ids: Record<string, string> = {}

beforeAll(async () => {
  t = await startTestService({ ADMIN_PASSWORD })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
  const users = [
    { id: 'u-ada', email: 'ada.lovelace@learner.test', name: 'Ada Lovelace' },
    { id: 'u-bo', email: 'bo@learner.test', name: 'Bo Diddley' },
    { id: 'lms-x-42', email: 'hostile@learner.test', name: HOSTILE_NAME },
  ]
  for (const user of users) {
    expect((await t.post('user.registered', { user })).status).toBe(202)
    ids[user.id] = (await findRecipientId(t.service.database.db, user.id))!
  }
  const course = { id: 'c-x', title: HOSTILE_COURSE }
  expect((await t.post('enrollment.created', { user: users[2], course, enrollment: { id: 'e1' } })).status).toBe(202)
  await setFrequency(t.service.database.db, ids['u-ada']!, 'discussions', 'weekly')
})
afterAll(() => t?.stop())

const get = (path: string, withCookie = true) =>
  t.send(new Request(`http://belfry.test${path}`, { headers: withCookie ? { cookie } : {} }))
const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.send(
    new Request(`http://belfry.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
  )

/** Waits until the worker has settled every message of this recipient (none queued or sending). */
async function settled(predicate: () => Promise<boolean>, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await predicate()) return
    await Bun.sleep(50)
  }
  throw new Error('timed out waiting')
}

describe('recipients', () => {
  test('search matches email, name and LMS id as case-insensitive substrings', async () => {
    const byEmail = await (await get('/admin/recipients?q=LOVELACE%40')).text()
    expect(byEmail).toContain('ada.lovelace@learner.test')
    expect(byEmail).not.toContain('bo@learner.test')
    const byName = await (await get('/admin/recipients?q=diddl')).text()
    expect(byName).toContain('bo@learner.test')
    expect(byName).not.toContain('ada.lovelace@learner.test')
    const byLmsId = await (await get('/admin/recipients?q=X-42')).text()
    expect(byLmsId).toContain('hostile@learner.test')
    expect(byLmsId).toContain('1 matching')
    // LIKE wildcards typed by an admin are literal.
    expect(await (await get('/admin/recipients?q=%25')).text()).toContain('0 matching')
    const all = await (await get('/admin/recipients')).text()
    expect(all).toContain('3 recipients')
  })

  test("a recipient's page shows their profile, preferences and recent messages with links", async () => {
    const response = await get(`/admin/recipients/${ids['u-ada']}`)
    expect(response.status).toBe(200)
    const page = await response.text()
    expect(page).toContain('Ada Lovelace (ada.lovelace@learner.test)')
    expect(page).toContain('u-ada')
    expect(page).toMatch(/<td>discussions<\/td>\s*<td>weekly<\/td>/)
    expect(page).toMatch(/<td>account<\/td>\s*<td>immediately<\/td>/)
    const [welcome] = await t.service.database.db.select().from(messages).where(eq(messages.recipientId, ids['u-ada']!))
    expect(page).toContain(`href="/admin/messages/${welcome!.id}"`)
    expect(page).toContain('welcome')
    expect(page).toContain('Not suppressed.')
  })

  test('an unknown or malformed recipient id is a 404 page', async () => {
    expect((await get('/admin/recipients/00000000-0000-4000-8000-000000000000')).status).toBe(404)
    expect((await get('/admin/recipients/not-a-uuid')).status).toBe(404)
  })
})

describe('suppressions', () => {
  test('add one: stored as manual with the note, audited, listed; then the address gets nothing', async () => {
    const added = await post('/admin/suppressions', { _csrf: csrf, email: ' Bo@Learner.test ', note: 'asked by phone', back: '/admin/suppressions' })
    expect(added.status).toBe(303)
    expect(added.headers.get('location')).toBe('/admin/suppressions?done=added&email=bo%40learner.test')
    const db = t.service.database.db
    const [row] = await db.select().from(suppressions).where(eq(suppressions.email, 'bo@learner.test'))
    expect(row).toMatchObject({ reason: 'manual', detail: 'asked by phone' })
    const audit = await db.select().from(auditLog).where(eq(auditLog.action, 'suppression.add'))
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ adminEmail: ADMIN, target: 'bo@learner.test' })

    const list = await (await get(added.headers.get('location')!)).text()
    expect(list).toContain('bo@learner.test is suppressed')
    expect(list).toContain('asked by phone')
    expect(list).toContain('1 suppressed addresses')

    const recipientPage = await (await get(`/admin/recipients/${ids['u-bo']}`)).text()
    expect(recipientPage).toContain('<strong>Suppressed</strong>')
    expect(await (await get('/admin/recipients?q=bo%40')).text()).toContain('Suppressed')

    // A course email to the suppressed learner is skipped, with the reason kept.
    const response = await t.post('course.completed', {
      user: { id: 'u-bo', email: 'bo@learner.test' },
      course: { id: 'c1', title: 'Algebra' },
      completion: { completed_at: new Date().toISOString() },
    })
    expect(response.status).toBe(202)
    await settled(async () => {
      const rows = await db.select().from(messages).where(eq(messages.notification, 'course_completed'))
      return rows.length === 1 && rows[0]!.state === 'skipped'
    })
    const [skipped] = await db.select().from(messages).where(eq(messages.notification, 'course_completed'))
    expect(skipped).toMatchObject({ state: 'skipped', reason: 'suppressed' })

    // Adding it again changes nothing and says so.
    const again = await post('/admin/suppressions', { _csrf: csrf, email: 'bo@learner.test', back: '/admin/suppressions' })
    expect(again.headers.get('location')).toContain('done=already')
  })

  test('lift one: removed, audited, and mail flows again', async () => {
    const lifted = await post('/admin/suppressions/lift', { _csrf: csrf, email: 'bo@learner.test', back: `/admin/recipients/${ids['u-bo']}` })
    expect(lifted.status).toBe(303)
    expect(lifted.headers.get('location')).toStartWith(`/admin/recipients/${ids['u-bo']}?done=lifted`)
    const db = t.service.database.db
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'bo@learner.test'))).toHaveLength(0)
    const audit = await db.select().from(auditLog).where(eq(auditLog.action, 'suppression.lift'))
    expect(audit).toHaveLength(1)
    expect(audit[0]).toMatchObject({ adminEmail: ADMIN, target: 'bo@learner.test' })
    expect(await (await get(lifted.headers.get('location')!)).text()).toContain('The suppression of bo@learner.test is lifted.')

    await t.post('course.completed', {
      user: { id: 'u-bo', email: 'bo@learner.test' },
      course: { id: 'c2', title: 'Geometry' },
      completion: { completed_at: new Date().toISOString() },
    })
    await settled(async () => {
      const rows = await db.select().from(messages).where(eq(messages.courseId, 'c2'))
      return rows[0]?.state === 'sent'
    })
  })

  test('an invalid address is refused in place with a message; `back` cannot leave these pages', async () => {
    const bad = await post('/admin/suppressions', { _csrf: csrf, email: 'not an address', back: '/admin/suppressions' })
    expect(bad.status).toBe(422)
    expect(await bad.text()).toContain('Enter an email address')
    const elsewhere = await post('/admin/suppressions', { _csrf: csrf, email: 'x@example.org', back: 'https://evil.test/' })
    expect(elsewhere.headers.get('location')).toStartWith('/admin/suppressions?')
  })
})

describe('security', () => {
  test('without a session every page and action sends to sign-in, and nothing changes', async () => {
    for (const path of ['/admin/recipients', `/admin/recipients/${ids['u-ada']}`, '/admin/suppressions']) {
      const response = await get(path, false)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toStartWith('/admin/login?next=')
    }
    const response = await t.send(
      new Request('http://belfry.test/admin/suppressions', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ email: 'z@example.org', _csrf: csrf }).toString(),
      }),
    )
    expect(response.status).toBe(303)
    const db = t.service.database.db
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'z@example.org'))).toHaveLength(0)
  })

  test('a wrong or missing CSRF token is refused with 403 and changes nothing', async () => {
    expect((await post('/admin/suppressions', { email: 'y@example.org' })).status).toBe(403)
    expect((await post('/admin/suppressions', { email: 'y@example.org', _csrf: 'forged' })).status).toBe(403)
    expect((await post('/admin/suppressions/lift', { email: 'x@example.org' }, { 'x-csrf-token': 'forged' })).status).toBe(403)
    const db = t.service.database.db
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'y@example.org'))).toHaveLength(0)
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'x@example.org'))).toHaveLength(1)
    // htmx sends the token as a header.
    expect((await post('/admin/suppressions/lift', { email: 'x@example.org' }, { 'x-csrf-token': csrf })).status).toBe(303)
  })

  test('hostile names, course titles and notes show as text on every page', async () => {
    await post('/admin/suppressions', { _csrf: csrf, email: 'hostile@learner.test', note: HOSTILE_NAME, back: '/admin/suppressions' })
    const pages = [
      '/admin/recipients',
      '/admin/recipients?q=x-42',
      `/admin/recipients?q=${encodeURIComponent(HOSTILE_NAME)}`,
      `/admin/recipients/${ids['lms-x-42']}`,
      '/admin/suppressions',
      `/admin/suppressions?done=added&email=${encodeURIComponent(HOSTILE_NAME)}`,
      `/admin/recipients/${ids['lms-x-42']}?done=lifted&email=${encodeURIComponent(HOSTILE_COURSE)}`,
    ]
    for (const path of pages) {
      const page = await (await get(path)).text()
      // Inside a quoted attribute value `<` is inert and `"` is escaped; everything else must be text.
      expect(page).not.toMatch(/="[^"]*"[^\s>\/]/)
      const body = page.replace(/="[^"]*"/g, '=""')
      expect(body).not.toContain('<script>alert')
      expect(body).not.toContain('<img src=x')
      expect(body).not.toMatch(/<img[^>]*onerror/i)
    }
    const recipientPage = await (await get(`/admin/recipients/${ids['lms-x-42']}`)).text()
    expect(recipientPage).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')
    expect(recipientPage).toContain('&lt;img src=x onerror=alert(3)&gt;')
  })
})
