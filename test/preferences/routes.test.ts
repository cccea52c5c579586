// Protects the learner routes (app.handle, real service and database):
// every bad token gets the very same 404 bytes; GET /u/:token never changes
// anything; the RFC 8058 one-click POST works urlencoded and multipart, is
// idempotent and refuses a body without `List-Unsubscribe=One-Click`; the
// preference page saves with and without htmx and escapes whatever the LMS
// sent; and every page carries its no-store / no-referrer / noindex / CSP
// headers.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import { courseMutes, preferences, recipients } from '../../src/db/schema/index.ts'
import { setFrequency, setUnsubscribedAll } from '../../src/preferences/queries.ts'
import { TokenSigner } from '../../src/preferences/tokens.ts'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { startTestService, type TestService } from '../support/service.ts'

let t: TestService
const ids: Record<string, string> = {}

const hostileName = '<script>alert("name")</script> Ada'
const hostileCourse = { id: 'c-evil', title: 'R&D <img src=x onerror=alert(1)>' }
const plainCourse = { id: 'c-plain', title: 'Statistics 101' }

beforeAll(async () => {
  t = await startTestService()
  const users = {
    ada: { id: 'u-ada', email: 'ada@learner.test', name: hostileName, locale: 'en-GB' },
    bo: { id: 'u-bo', email: 'bo@learner.test', name: 'Bo' },
    cy: { id: 'u-cy', email: 'cy@learner.test', name: 'Cy', locale: 'pt-BR' },
  }
  for (const [key, user] of Object.entries(users)) {
    for (const course of [hostileCourse, plainCourse]) {
      const response = await t.post('enrollment.created', { user, course, enrollment: { id: `e-${key}-${course.id}` } })
      expect(response.status).toBe(202)
    }
    ids[key] = (await findRecipientId(t.service.database.db, user.id))!
  }
}, 30_000)
afterAll(() => t.stop())

const signer = () => t.service.signer
const prefsToken = (recipientId: string) => signer().sign('preferences', { recipientId })
const unsubToken = (recipientId: string, category: string) => signer().sign('unsubscribe', { recipientId, category })

function get(path: string, headers: Record<string, string> = {}) {
  return t.send(new Request(`http://belfry.test${path}`, { headers }))
}

function postForm(path: string, body: string | FormData | null, headers: Record<string, string> = {}) {
  const init: RequestInit = { method: 'POST', headers: { ...headers }, redirect: 'manual' }
  if (typeof body === 'string') {
    ;(init.headers as Record<string, string>)['content-type'] = 'application/x-www-form-urlencoded'
    init.body = body
  } else if (body) {
    init.body = body // multipart/form-data with its boundary
  }
  return t.send(new Request(`http://belfry.test${path}`, init))
}

/**
 * Changes one character of the payload (`part` 1) or the MAC (`part` 2), away
 * from the end: a base64url string's last character has bits no byte uses.
 */
function changeOneByte(token: string, part: 1 | 2 = 1): string {
  const parts = token.split('.')
  const text = parts[part]!
  const i = Math.floor(text.length / 2)
  parts[part] = text.slice(0, i) + (text[i] === 'A' ? 'B' : 'A') + text.slice(i + 1)
  return parts.join('.')
}

function headerList(headers: Headers): [string, string][] {
  const list: [string, string][] = []
  headers.forEach((value, name) => list.push([name, value]))
  return list
}

async function learnerState(recipientId: string) {
  const db = t.service.database.db
  const [recipient] = await db.select({ unsubscribedAt: recipients.unsubscribedAt }).from(recipients).where(eq(recipients.id, recipientId))
  const chosen = await db.select().from(preferences).where(eq(preferences.recipientId, recipientId))
  const mutes = await db.select().from(courseMutes).where(eq(courseMutes.recipientId, recipientId))
  return {
    unsubscribedAt: recipient?.unsubscribedAt ?? null,
    preferences: Object.fromEntries(chosen.map((p) => [p.category, p.frequency])),
    mutes: mutes.map((m) => m.courseId).sort(),
  }
}

function expectPageHeaders(response: Response) {
  expect(response.headers.get('content-type')).toBe('text/html; charset=utf-8')
  expect(response.headers.get('cache-control')).toBe('no-store')
  expect(response.headers.get('referrer-policy')).toBe('no-referrer')
  expect(response.headers.get('x-robots-tag')).toContain('noindex')
  const csp = response.headers.get('content-security-policy') ?? ''
  expect(csp).toContain("default-src 'none'")
  expect(csp).toContain("script-src 'self'")
  expect(csp).toContain("style-src 'self'")
  expect(csp).not.toContain('unsafe')
  expect(response.headers.get('set-cookie')).toBeNull()
}

describe('security: bad tokens', () => {
  const otherSecret = 'another-app-secret-'.repeat(3)

  test('forged, foreign, mismatched and unknown tokens all get the same 404 page, byte for byte', async () => {
    const other = new TokenSigner([otherSecret])
    const preferenceCases: Record<string, string> = {
      'a changed byte': changeOneByte(prefsToken(ids.ada!)),
      'a changed byte in the MAC': changeOneByte(prefsToken(ids.ada!), 2),
      "another recipient's id signed with another secret": other.sign('preferences', { recipientId: ids.bo! }),
      'signed with another APP_SECRET': other.sign('preferences', { recipientId: ids.ada! }),
      'an unsubscribe token on /preferences': unsubToken(ids.ada!, 'discussions'),
      'a recipient that does not exist': prefsToken(randomUUID()),
      garbage: 'not-a-token',
      'very long': 'x'.repeat(400),
      'not valid percent-encoding': '%FF',
    }
    const unsubscribeCases: Record<string, string> = {
      'a changed byte': changeOneByte(unsubToken(ids.ada!, 'discussions')),
      'a changed byte in the MAC': changeOneByte(unsubToken(ids.ada!, 'discussions'), 2),
      "another recipient's id signed with another secret": other.sign('unsubscribe', { recipientId: ids.bo!, category: 'discussions' }),
      'signed with another APP_SECRET': other.sign('unsubscribe', { recipientId: ids.ada!, category: 'discussions' }),
      'a preferences token on /u': prefsToken(ids.ada!),
      'a recipient that does not exist': unsubToken(randomUUID(), 'discussions'),
      'a category learners do not control': unsubToken(ids.ada!, 'admin'),
      garbage: 'a.b.c',
      'not valid percent-encoding': '%FF',
    }
    const before = await learnerState(ids.ada!)
    const reference = await get('/u/nothing')
    expect(reference.status).toBe(404)
    const referenceBody = await reference.text()
    expect(referenceBody).toContain('<!doctype html>')
    expectPageHeaders(reference)

    expect(Object.keys(preferenceCases).length + Object.keys(unsubscribeCases).length).toBe(18)
    const answers: { label: string; token: string; response: Response }[] = []
    for (const [label, token] of Object.entries(preferenceCases)) {
      answers.push({ label: `GET /preferences: ${label}`, token, response: await get(`/preferences/${token}`) })
      answers.push({ label: `POST /preferences: ${label}`, token, response: await postForm(`/preferences/${token}`, 'action=unsubscribe_all') })
      answers.push({
        label: `htmx POST /preferences: ${label}`,
        token,
        response: await postForm(`/preferences/${token}`, 'action=unsubscribe_all', { 'hx-request': 'true' }),
      })
    }
    for (const [label, token] of Object.entries(unsubscribeCases)) {
      answers.push({ label: `GET /u: ${label}`, token, response: await get(`/u/${token}`) })
      answers.push({ label: `POST /u: ${label}`, token, response: await postForm(`/u/${token}`, 'List-Unsubscribe=One-Click') })
      answers.push({ label: `POST /u without body: ${label}`, token, response: await postForm(`/u/${token}`, null) })
    }
    for (const { label, token, response } of answers) {
      const body = await response.text()
      expect({ label, status: response.status }).toEqual({ label, status: 404 })
      expect({ label, same: body === referenceBody }).toEqual({ label, same: true })
      expect(headerList(response.headers)).toEqual(headerList(reference.headers))
      expect(body).not.toContain(token)
    }
    // Nothing was unsubscribed by any of them.
    expect(await learnerState(ids.ada!)).toEqual(before)
  })
})

describe('GET /u/:token', () => {
  test('only asks: a form that posts the one-click body, a link to the preference page, and no change at all', async () => {
    const token = unsubToken(ids.bo!, 'discussions')
    const before = await learnerState(ids.bo!)
    for (let i = 0; i < 3; i++) {
      const response = await get(`/u/${token}`)
      expect(response.status).toBe(200)
      expectPageHeaders(response)
      const html = await response.text()
      expect(html).toContain('Unsubscribe from discussion emails?')
      expect(html).toContain(`<form method="post" action="/u/${token}">`)
      expect(html).toContain('<input type="hidden" name="List-Unsubscribe" value="One-Click"/>')
      const link = /href="(\/preferences\/[^"]+)"/.exec(html)?.[1]
      expect(link).toBeDefined()
      expect((await get(link!)).status).toBe(200)
    }
    expect(await learnerState(ids.bo!)).toEqual(before)
    expect(before.preferences.discussions).toBeUndefined()
  })
})

describe('POST /u/:token (RFC 8058 one-click)', () => {
  test('urlencoded: 200 without a redirect, the category is off, and a repeat answers 200 again', async () => {
    const token = unsubToken(ids.bo!, 'discussions')
    for (let i = 0; i < 2; i++) {
      const response = await postForm(`/u/${token}`, 'List-Unsubscribe=One-Click')
      expect(response.status).toBe(200)
      expect(response.headers.get('location')).toBeNull()
      expectPageHeaders(response)
      expect(await response.text()).toContain('You will not get discussion emails from Belfry Academy any more.')
      expect((await learnerState(ids.bo!)).preferences.discussions).toBe('off')
    }
    // Only that category.
    expect((await learnerState(ids.bo!)).preferences).toEqual({ discussions: 'off' })
  })

  test('multipart/form-data works the same', async () => {
    const token = unsubToken(ids.bo!, 'reminders')
    const form = new FormData()
    form.append('List-Unsubscribe', 'One-Click')
    const response = await postForm(`/u/${token}`, form)
    expect(response.status).toBe(200)
    expect((await learnerState(ids.bo!)).preferences.reminders).toBe('off')
  })

  test('without the one-click body: 400, the question again, nothing changed', async () => {
    const token = unsubToken(ids.bo!, 'progress')
    const before = await learnerState(ids.bo!)
    for (const body of [null, '', 'List-Unsubscribe=Yes', 'something=else']) {
      const response = await postForm(`/u/${token}`, body)
      expect(response.status).toBe(400)
      expectPageHeaders(response)
      expect(await response.text()).toContain('Unsubscribe from progress emails?')
    }
    const form = new FormData()
    form.append('List-Unsubscribe', 'Maybe')
    expect((await postForm(`/u/${token}`, form)).status).toBe(400)
    expect(await learnerState(ids.bo!)).toEqual(before)
  })

  test("a digest's one-click turns off every category the learner gets as a digest, and only those", async () => {
    const db = t.service.database.db
    await setFrequency(db, ids.cy!, 'discussions', 'daily')
    await setFrequency(db, ids.cy!, 'progress', 'weekly')
    await setFrequency(db, ids.cy!, 'reminders', 'immediately')
    const response = await postForm(`/u/${unsubToken(ids.cy!, 'digest')}`, 'List-Unsubscribe=One-Click')
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('You will not get digest emails')
    expect((await learnerState(ids.cy!)).preferences).toEqual({ discussions: 'off', progress: 'off', reminders: 'immediately' })
  })
})

describe('the preference page', () => {
  test('shows every topic with its frequency, the courses the learner has mail from, and the account note', async () => {
    const response = await get(`/preferences/${prefsToken(ids.cy!)}`)
    expect(response.status).toBe(200)
    expectPageHeaders(response)
    const html = await response.text()
    // pt-BR has no catalogue: English, and the page says so.
    expect(html).toContain('<html lang="en" dir="ltr">')
    for (const legend of ['Account', 'Enrollments', 'Progress', 'Reminders', 'Discussions', 'Announcements']) {
      expect(html).toContain(`<legend>${legend}</legend>`)
    }
    expect(html).toContain('Password reset emails are always sent')
    expect(html).toContain('Statistics 101')
    expect(html).toMatch(/id="f-discussions-off"[^>]*checked/)
    expect(html).toMatch(/id="f-enrollment-immediately"[^>]*checked/)
  })

  test("the learner's own name and the LMS's course titles are escaped, never markup", async () => {
    const token = prefsToken(ids.ada!)
    const pages = [
      await (await get(`/preferences/${token}`)).text(),
      await (await postForm(`/preferences/${token}`, 'action=save', { 'hx-request': 'true' })).text(),
    ]
    for (const html of pages) {
      expect(html).not.toContain('<script>alert')
      expect(html).not.toContain('<img src=x')
      expect(html).toContain('R&amp;D &lt;img src=x onerror=alert(1)&gt;')
    }
    expect(pages[0]).toContain('&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt; Ada')
    expect(pages[0]).toContain('<html lang="en-GB" dir="ltr">')
    // The only scripts are our own file.
    expect(pages[0]!.match(/<script/g)).toHaveLength(1)
  })

  test('a plain form post saves, redirects to the page, and the page shows it kept', async () => {
    const token = prefsToken(ids.ada!)
    const body = new URLSearchParams([
      ['frequency.account', 'immediately'],
      ['frequency.discussions', 'weekly'],
      ['frequency.reminders', 'daily'],
      ['course', hostileCourse.id],
      ['course', plainCourse.id],
      ['muted', plainCourse.id],
      ['action', 'save'],
    ])
    const response = await postForm(`/preferences/${token}`, body.toString())
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe(`/preferences/${token}?saved=saved#save-status`)
    const state = await learnerState(ids.ada!)
    // Unchanged choices write nothing: account stays without a row.
    expect(state.preferences).toEqual({ discussions: 'weekly', reminders: 'daily' })
    expect(state.mutes).toEqual([plainCourse.id])

    const page = await (await get(`/preferences/${token}?saved=saved`)).text()
    expect(page).toContain('Saved. Your choices apply from the next email.')
    expect(page).toMatch(/id="f-discussions-weekly"[^>]*checked/)
    expect(page).toMatch(/id="f-reminders-daily"[^>]*checked/)
    expect(page).toMatch(new RegExp(`name="muted" value="${plainCourse.id}" checked`))
    expect(page).toMatch(new RegExp(`name="muted" value="${hostileCourse.id}"/>`))
    // Without ?saved there is no message; an unknown flag shows none either.
    expect(await (await get(`/preferences/${token}`)).text()).not.toContain('Saved.')
    expect(await (await get(`/preferences/${token}?saved=<b>`)).text()).not.toContain('Saved.')

    // Unticking a listed course unmutes it.
    const unmute = new URLSearchParams([['course', plainCourse.id], ['action', 'save']])
    expect((await postForm(`/preferences/${token}`, unmute.toString())).status).toBe(303)
    expect((await learnerState(ids.ada!)).mutes).toEqual([])
  })

  test('with htmx: the panel fragment with a status message, no redirect', async () => {
    const token = prefsToken(ids.bo!)
    const body = 'frequency.announcements=off&course=c-plain&muted=c-plain&action=save'
    const response = await postForm(`/preferences/${token}`, body, { 'hx-request': 'true' })
    expect(response.status).toBe(200)
    expectPageHeaders(response)
    expect(response.headers.get('vary')).toBe('HX-Request')
    const html = await response.text()
    expect(html.startsWith('<div id="preferences"')).toBe(true)
    expect(html).not.toContain('<html')
    expect(html).toContain('role="status">Saved. Your choices apply from the next email.</p>')
    expect(html).toMatch(/id="f-announcements-off"[^>]*checked/)
    const state = await learnerState(ids.bo!)
    expect(state.preferences.announcements).toBe('off')
    expect(state.mutes).toEqual(['c-plain'])
  })

  test('a value the page does not offer: 400, the page with an error message, nothing written', async () => {
    const token = prefsToken(ids.bo!)
    const before = await learnerState(ids.bo!)
    const bad = 'frequency.discussions=hourly&frequency.progress=off&action=save'
    const response = await postForm(`/preferences/${token}`, bad)
    expect(response.status).toBe(400)
    expectPageHeaders(response)
    expect(await response.text()).toContain('That could not be saved.')
    const viaHtmx = await postForm(`/preferences/${token}`, bad, { 'hx-request': 'true' })
    expect(viaHtmx.status).toBe(400)
    expect(await viaHtmx.text()).toContain('That could not be saved.')
    // A course the learner has no mail from is not muted either.
    await postForm(`/preferences/${token}`, 'course=c-other&muted=c-other&action=save')
    expect(await learnerState(ids.bo!)).toEqual(before)
  })

  test('unsubscribe from everything non-essential, then undo it', async () => {
    const token = prefsToken(ids.cy!)
    const off = await postForm(`/preferences/${token}`, 'action=unsubscribe_all')
    expect(off.status).toBe(303)
    expect(off.headers.get('location')).toBe(`/preferences/${token}?saved=unsubscribed#all-status`)
    expect((await learnerState(ids.cy!)).unsubscribedAt).toBeInstanceOf(Date)
    const page = await (await get(`/preferences/${token}?saved=unsubscribed`)).text()
    expect(page).toContain('You are unsubscribed from all non-essential emails.')
    expect(page).toContain('value="resubscribe"')

    const on = await postForm(`/preferences/${token}`, 'action=resubscribe', { 'hx-request': 'true' })
    expect(on.status).toBe(200)
    expect(await on.text()).toContain('Emails are back on')
    expect((await learnerState(ids.cy!)).unsubscribedAt).toBeNull()
    // The topic choices made before are untouched by both.
    expect((await learnerState(ids.cy!)).preferences.discussions).toBe('off')
    await setUnsubscribedAll(t.service.database.db, ids.cy!, false)
  })
})

describe('static files', () => {
  test('the stylesheet and htmx are served from this origin and cached for a year under a hashed URL', async () => {
    const html = await (await get(`/preferences/${prefsToken(ids.bo!)}`)).text()
    const css = /href="(\/public\/belfry\.css\?v=[\w-]+)"/.exec(html)?.[1]
    const htmx = /src="(\/public\/htmx\.min\.js\?v=[\w-]+)"/.exec(html)?.[1]
    expect(css).toBeDefined()
    expect(htmx).toBeDefined()
    for (const [url, type] of [
      [css!, 'text/css'],
      [htmx!, 'text/javascript'],
    ] as const) {
      const response = await get(url)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-type')).toStartWith(type)
      expect(response.headers.get('cache-control')).toContain('max-age=31536000')
      expect((await response.text()).length).toBeGreaterThan(1000)
    }
  })
})
