// Protects the management API: keys made and revoked in the admin settings
// (CSRF-checked, audited, stored hashed, shown once), Bearer auth on every
// route, the message and recipient reads, preference changes, the GDPR
// export and erasure — whose opt-out outlives the person as an HMAC — and
// the OpenAPI document and page.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { hashKey } from '../../src/api/keys.ts'
import { eventTypes } from '../../src/events/model.ts'
import { eventually } from '../support/outbox.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'

let t: TestService
let cookie: string
let csrf: string

beforeAll(async () => {
  t = await startTestService({ ADMIN_PASSWORD, TRACKING: 'off' })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
}, 30_000)
afterAll(() => t?.stop())

function adminPost(path: string, form: Record<string, string>, withCsrf = true): Promise<Response> {
  return t.send(
    new Request(`http://belfry.test${path}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(withCsrf ? { ...form, _csrf: csrf } : form).toString(),
    }),
  )
}

/** Makes a key through the settings form and returns it, read from the one page that shows it. */
async function makeKey(name: string): Promise<string> {
  const response = await adminPost('/admin/settings/api-keys', { name })
  expect(response.status).toBe(200)
  const page = await response.text()
  const key = /id="new-api-key"[^>]*value="(bfk_[A-Za-z0-9_-]+)"/.exec(page)?.[1]
  expect(key).toBeDefined()
  return key!
}

function api(key: string | null, method: string, path: string, body?: unknown): Promise<Response> {
  const headers: Record<string, string> = {}
  if (key) headers.authorization = `Bearer ${key}`
  if (body !== undefined) headers['content-type'] = 'application/json'
  return t.send(
    new Request(`http://belfry.test${path}`, { method, headers, ...(body !== undefined ? { body: typeof body === 'string' ? body : JSON.stringify(body) } : {}) }),
  )
}

const ada = { id: 'lms-7', email: 'Ada@Learner.test', name: 'Ada <b>Lovelace</b>', locale: 'en', timezone: 'Europe/London' }
const course = { id: 'c-1', title: 'Engines', url: 'https://lms.test/c-1' }

describe('API keys in the admin settings', () => {
  test('a key is shown once, stored only as its hash, listed by prefix, and the creation is audited', async () => {
    const key = await makeKey('Reporting <script>')
    expect(key).toMatch(/^bfk_[A-Za-z0-9_-]{43}$/)
    const [stored] = await rows<{ key_hash: string; prefix: string; name: string }>(t.service.database.db, sql`select key_hash, prefix, name from api_keys where name like 'Reporting%'`)
    expect(stored!.key_hash).toBe(hashKey(key))
    expect(JSON.stringify(stored)).not.toContain(key)
    const page = await (await t.send(new Request('http://belfry.test/admin/settings', { headers: { cookie } }))).text()
    expect(page).not.toContain(key)
    expect(page).toContain(`${stored!.prefix}…`)
    expect(page).toContain('Reporting &lt;script&gt;')
    expect(page).toContain('<a href="#api-keys-panel">API keys</a>')
    const [audit] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from audit_log where action = 'settings.api_key.create'`)
    expect(audit!.n).toBeGreaterThanOrEqual(1)
  })

  test('making or revoking a key without the CSRF token is refused', async () => {
    const before = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from api_keys`)
    expect((await adminPost('/admin/settings/api-keys', { name: 'forged' }, false)).status).toBe(403)
    const after = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from api_keys`)
    expect(after[0]!.n).toBe(before[0]!.n)
  })

  test('a revoked key stops working at once', async () => {
    const key = await makeKey('short-lived')
    expect((await api(key, 'GET', '/v1/recipients/nobody')).status).toBe(404)
    const [row] = await rows<{ id: string }>(t.service.database.db, sql`select id from api_keys where name = 'short-lived'`)
    const revoked = await adminPost(`/admin/settings/api-keys/${row!.id}/revoke`, {})
    expect(revoked.status).toBe(303)
    expect(revoked.headers.get('location')).toBe('/admin/settings#api-keys-panel')
    expect((await api(key, 'GET', '/v1/recipients/nobody')).status).toBe(401)
  })
})

describe('Bearer auth', () => {
  test('no key, a malformed one, or an unknown one: 401 with WWW-Authenticate and a JSON error', async () => {
    for (const key of [null, 'nonsense', 'bfk_unknownunknownunknownunknownunknownunknown1']) {
      const response = await api(key, 'GET', '/v1/messages/00000000-0000-0000-0000-000000000000')
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer')
      expect(((await response.json()) as { error: string }).error).toBe('unauthorized')
    }
    const basic = await t.send(new Request('http://belfry.test/v1/recipients/x', { headers: { authorization: 'Basic Zm9vOmJhcg==' } }))
    expect(basic.status).toBe(401)
  })
})

describe('messages and recipients', () => {
  let key: string
  beforeAll(async () => {
    key = await makeKey('integration')
    expect((await t.post('enrollment.created', { user: ada, course, enrollment: { id: 'e-1' } })).status).toBe(202)
  })

  test('GET /v1/messages/:id: state and attempts; an unknown or malformed id is a 404', async () => {
    const [message] = await rows<{ id: string }>(t.service.database.db, sql`select id from messages where to_address = ${ada.email} limit 1`)
    await eventually(async () => {
      const body = (await (await api(key, 'GET', `/v1/messages/${message!.id}`)).json()) as { state: string }
      return body.state === 'sent'
    })
    const response = await api(key, 'GET', `/v1/messages/${message!.id}`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as { state: string; attempts: { attempt: number; outcome: string; transport: string }[]; message_id: string }
    expect(body.state).toBe('sent')
    expect(body.attempts).toEqual([expect.objectContaining({ attempt: 1, outcome: 'sent', transport: 'file' })])
    expect(body.message_id).toMatch(/^<.+@belfry\.test>$/)
    expect((await api(key, 'GET', '/v1/messages/00000000-0000-0000-0000-000000000000')).status).toBe(404)
    expect((await api(key, 'GET', "/v1/messages/1' or '1'='1")).status).toBe(404)
  })

  test('GET /v1/recipients/:id takes the LMS user id', async () => {
    const response = await api(key, 'GET', `/v1/recipients/${ada.id}`)
    expect(response.status).toBe(200)
    const body = (await response.json()) as Record<string, unknown>
    expect(body).toMatchObject({ id: 'lms-7', email: ada.email, name: ada.name, suppressed: false, muted_courses: [] })
    expect(body.preferences).toMatchObject({ reminders: 'immediately', discussions: 'immediately' })
    expect((await api(key, 'GET', '/v1/recipients/someone-else')).status).toBe(404)
  })

  test('PUT /v1/recipients/:id/preferences changes them; a bad body is a 400 naming the problem', async () => {
    const response = await api(key, 'PUT', `/v1/recipients/${ada.id}/preferences`, {
      preferences: { reminders: 'daily', discussions: 'off' },
      muted_courses: ['c-9'],
    })
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ preferences: { reminders: 'daily', discussions: 'off' }, muted_courses: ['c-9'] })
    const again = await api(key, 'PUT', `/v1/recipients/${ada.id}/preferences`, { muted_courses: [] })
    expect(await again.json()).toMatchObject({ preferences: { reminders: 'daily' }, muted_courses: [] })

    for (const bad of [{ preferences: { reminders: 'hourly' } }, { preferences: { admin: 'off' } }, { unsubscribed: 'yes' }, { extra: 1 }]) {
      const refused = await api(key, 'PUT', `/v1/recipients/${ada.id}/preferences`, bad)
      expect(refused.status).toBe(400)
      const error = (await refused.json()) as { error: string; details: unknown[] }
      expect(error.error).toBe('bad_request')
      expect(error.details.length).toBeGreaterThan(0)
    }
    expect((await api(key, 'PUT', `/v1/recipients/${ada.id}/preferences`, '{not json')).status).toBe(400)
    expect((await api(key, 'PUT', '/v1/recipients/nobody/preferences', { unsubscribed: true })).status).toBe(404)
  })

  test('GET /v1/recipients/:id/export holds the recipient, preferences, messages, attempts and events about them', async () => {
    const response = await api(key, 'GET', `/v1/recipients/${ada.id}/export`)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-disposition')).toContain('attachment')
    const body = (await response.json()) as Record<string, unknown[]> & { recipient: { email: string } }
    expect(body.recipient.email).toBe(ada.email)
    expect(body.preferences).toEqual(expect.arrayContaining([expect.objectContaining({ category: 'reminders', frequency: 'daily' })]))
    expect(body.messages!.length).toBeGreaterThanOrEqual(1)
    expect(body.attempts!.length).toBeGreaterThanOrEqual(1)
    expect(body.events).toEqual([expect.objectContaining({ type: 'enrollment.created' })])
    expect((await api(key, 'GET', '/v1/recipients/never-seen/export')).status).toBe(404)
  })
})

describe('erasure (GDPR Art. 17)', () => {
  let key: string
  beforeAll(async () => {
    key = await makeKey('erasure')
  })

  test('cancels pending mail, erases the person everywhere, and keeps a suppressed address only as an HMAC that still stops mail', async () => {
    const grace = { id: 'lms-8', email: 'grace@learner.test', name: 'Grace', timezone: 'UTC' }
    const due = new Date(Date.now() + 7 * 86_400_000).toISOString()
    expect((await t.post('deadline.scheduled', { users: [grace], course, item: { id: 'q-1', kind: 'quiz', title: 'Quiz', due_at: due } })).status).toBe(202)
    await t.service.database.db.execute(sql`insert into suppressions (email, reason) values (${grace.email}, 'complaint')`)

    const response = await api(key, 'DELETE', `/v1/recipients/${grace.id}`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ erased: true, recipient_found: true, cancelled_messages: 2, opt_out_kept: true })

    const db = t.service.database.db
    expect(await rows(db, sql`select 1 from recipients where lms_user_id = ${grace.id}`)).toEqual([])
    expect(await rows(db, sql`select 1 from suppressions where email = ${grace.email}`)).toEqual([])
    const kept = await rows<{ email: string; reason: string }>(db, sql`select email, reason from suppressions where email like 'hmac-sha256:%'`)
    expect(kept).toEqual([{ email: expect.stringMatching(/^hmac-sha256:[0-9a-f]{64}$/), reason: 'complaint' }])
    const leftovers = await rows<{ n: number }>(
      db,
      sql`select count(*)::int as n from messages where to_address = ${grace.email} or variables::text like '%grace@%' or state in ('scheduled')`,
    )
    expect(leftovers[0]!.n).toBe(0)
    const events = await rows<{ data: string }>(db, sql`select data::text as data from events where type = 'deadline.scheduled'`)
    expect(events.every((e) => !e.data.includes('grace'))).toBe(true)
    expect((await api(key, 'GET', `/v1/recipients/${grace.id}`)).status).toBe(404)

    // The LMS sends them again (a retry, a new account with the same address): the opt-out still holds.
    expect((await t.post('user.registered', { user: { ...grace, email: 'GRACE@learner.test' } })).status).toBe(202)
    await eventually(async () => {
      const [welcome] = await rows<{ state: string; reason: string | null }>(
        db,
        sql`select state, reason from messages where notification = 'welcome' and lower(to_address) = 'grace@learner.test'`,
      )
      return welcome?.state === 'skipped' && welcome.reason === 'suppressed'
    })
  }, 30_000)

  test('someone who never opted out leaves nothing behind, and erasing twice is harmless', async () => {
    const lin = { id: 'lms-9', email: 'lin@learner.test' }
    expect((await t.post('user.updated', { user: lin })).status).toBe(202)
    const first = await api(key, 'DELETE', `/v1/recipients/${lin.id}`)
    expect(await first.json()).toEqual({ erased: true, recipient_found: true, cancelled_messages: 0, opt_out_kept: false })
    const second = await api(key, 'DELETE', `/v1/recipients/${lin.id}`)
    expect(await second.json()).toEqual({ erased: true, recipient_found: false, cancelled_messages: 0, opt_out_kept: false })
  })

  test('a user.deleted webhook erases the same way: the suppression survives as an HMAC', async () => {
    const ida = { id: 'lms-11', email: 'ida@learner.test', name: 'Ida' }
    expect((await t.post('user.updated', { user: ida })).status).toBe(202)
    const db = t.service.database.db
    await db.execute(sql`insert into suppressions (email, reason) values (${ida.email}, 'hard_bounce')`)
    expect((await t.post('user.deleted', { user: { id: ida.id } })).status).toBe(202)
    expect(await rows(db, sql`select 1 from recipients where lms_user_id = ${ida.id}`)).toEqual([])
    expect(await rows(db, sql`select 1 from suppressions where email = ${ida.email}`)).toEqual([])
    expect(await rows(db, sql`select reason from suppressions where detail like 'kept after erasure (hard_bounce)'`)).toEqual([{ reason: 'hard_bounce' }])
  })

  test('unsubscribed from everything: the opt-out is kept as a suppression', async () => {
    const max = { id: 'lms-10', email: 'max@learner.test' }
    expect((await t.post('user.updated', { user: max })).status).toBe(202)
    expect((await api(key, 'PUT', `/v1/recipients/${max.id}/preferences`, { unsubscribed: true })).status).toBe(200)
    expect(await (await api(key, 'DELETE', `/v1/recipients/${max.id}`)).json()).toMatchObject({ opt_out_kept: true })
  })
})

describe('OpenAPI', () => {
  test('GET /v1/openapi.json documents every /v1 route and every webhook event type, from the t schemas', async () => {
    const response = await t.send(new Request('http://belfry.test/v1/openapi.json'))
    expect(response.status).toBe(200)
    const doc = (await response.json()) as { openapi: string; paths: Record<string, Record<string, unknown>>; components: { schemas: Record<string, { properties?: Record<string, unknown> }> } }
    expect(doc.openapi).toBe('3.1.0')
    for (const path of ['/v1/events', '/v1/messages/{id}', '/v1/recipients/{id}', '/v1/recipients/{id}/preferences', '/v1/recipients/{id}/export']) {
      expect(doc.paths[path]).toBeDefined()
    }
    expect(Object.keys(doc.paths['/v1/recipients/{id}']!).sort()).toEqual(['delete', 'get'])
    for (const type of eventTypes) expect(doc.components.schemas[`Event.${type}`]).toBeDefined()
    const enrollment = doc.components.schemas['Event.enrollment.created']!
    expect(JSON.stringify(enrollment)).toContain('"format":"belfry-email"')
    expect(JSON.stringify(doc)).not.toContain('Symbol')
  })

  test('GET /docs/api renders the routes and schemas on the server, with nothing from elsewhere', async () => {
    const response = await t.send(new Request('http://belfry.test/docs/api'))
    expect(response.status).toBe(200)
    const page = await response.text()
    expect(page).toContain('/v1/recipients/{id}/export')
    expect(page).toContain('Event.discussion.post_created')
    expect(page).not.toMatch(/<script|https?:\/\/(?!belfry\.test)[a-z]/i)
  })
})

describe('hostile input to the management API', () => {
  test('odd ids and bodies get a 4xx, never a 5xx', async () => {
    const key = await makeKey('hostile')
    const ids = ['%00', 'a%00b', '%ED%A0%80', '%FF', '..%2F..%2Fetc', 'x'.repeat(300), '__proto__', 'constructor', '%0d%0aX: y', "1'--"]
    for (const id of ids) {
      for (const [method, suffix] of [['GET', ''], ['GET', '/export'], ['DELETE', ''], ['PUT', '/preferences']] as const) {
        const response = await api(key, method, `/v1/recipients/${id}${suffix}`, method === 'PUT' ? { unsubscribed: true } : undefined)
        expect({ id, method, suffix, status: response.status }).toEqual({ id, method, suffix, status: expect.any(Number) })
        expect(response.status).toBeLessThan(500)
      }
      expect((await api(key, 'GET', `/v1/messages/${id}`)).status).toBe(404)
    }
    const bodies = ['[]', 'null', '1', '"x"', '{"preferences":null}', '{"muted_courses":[1]}', '{"__proto__":{"unsubscribed":true}}', '{"preferences":{"__proto__":"off"}}', '\u0000', '{"muted_courses":["a\\u0000"]}']
    for (const body of bodies) {
      const response = await api(key, 'PUT', `/v1/recipients/${ada.id}/preferences`, body)
      expect({ body, status: response.status }).toEqual({ body, status: expect.any(Number) })
      expect(response.status).toBeGreaterThanOrEqual(400)
      expect(response.status).toBeLessThan(500)
    }
    expect(({} as Record<string, unknown>).unsubscribed).toBeUndefined()
  })
})
