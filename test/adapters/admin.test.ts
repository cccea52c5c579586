// Protects /admin/adapters: an admin turns an adapter on and sets its base
// URL, tokens and JWKS URL (CSRF required, audited, tokens never echoed —
// only their last four characters, and not in the audit log); the page lists
// the last native events with how each was mapped or why not, and a dead
// one can be retried. Every value from outside is escaped.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { loadAdapterSettings } from '../../src/adapters/queries.ts'
import { rows } from '../../src/db/client.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'

let t: TestService
let cookie: string
let csrf: string

beforeAll(async () => {
  t = await startTestService({ ADMIN_PASSWORD, CANVAS_JWKS_URL: 'https://canvas.example.org/api/lti/security/jwks' })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
}, 30_000)
afterAll(() => t.stop())

const page = async () => (await t.send(new Request('http://belfry.test/admin/adapters', { headers: { cookie } }))).text()
const save = (name: string, fields: Record<string, string>) =>
  t.send(
    new Request(`http://belfry.test/admin/adapters/${name}`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields).toString(),
    }),
  )

test('signed out: sent to sign in', async () => {
  const response = await t.send(new Request('http://belfry.test/admin/adapters'))
  expect(response.status).toBe(303)
  expect(response.headers.get('location')).toContain('/admin/login')
})

test('the page shows each adapter, its endpoint, and CANVAS_JWKS_URL as the default', async () => {
  const html = await page()
  expect(html).toContain('http://belfry.test/v1/adapters/canvas')
  expect(html).toContain('http://belfry.test/v1/adapters/moodle')
  expect(html).toContain('http://belfry.test/v1/adapters/openedx')
  expect(html).toContain('From CANVAS_JWKS_URL: <span>https://canvas.example.org/api/lti/security/jwks</span>')
  expect(html).toContain('href="/admin/adapters"')
})

test('saving needs the CSRF token', async () => {
  expect((await save('moodle', { enabled: 'yes' })).status).toBe(403)
  expect((await loadAdapterSettings(t.service.database.db, 'moodle'))?.enabled ?? false).toBe(false)
})

test('saved settings apply; tokens are masked and kept when left blank; the audit says a token changed, not what', async () => {
  const response = await save('moodle', { _csrf: csrf, enabled: 'yes', baseUrl: 'https://moodle.example.org', apiToken: 'ws-token-abcdefgh1234', inboundToken: 'inbound-secret-9876' })
  expect(response.status).toBe(303)
  let stored = await loadAdapterSettings(t.service.database.db, 'moodle')
  expect(stored).toMatchObject({ enabled: true, baseUrl: 'https://moodle.example.org', apiToken: 'ws-token-abcdefgh1234', inboundToken: 'inbound-secret-9876' })
  const html = await page()
  expect(html).toContain('••••1234')
  expect(html).not.toContain('ws-token-abcdefgh1234')
  expect(html).not.toContain('inbound-secret-9876')

  await save('moodle', { _csrf: csrf, enabled: 'yes', baseUrl: 'https://moodle.example.org', apiToken: '', inboundToken: '' })
  stored = await loadAdapterSettings(t.service.database.db, 'moodle')
  expect(stored).toMatchObject({ apiToken: 'ws-token-abcdefgh1234', inboundToken: 'inbound-secret-9876' })

  const audit = await rows<{ action: string; detail: unknown }>(t.service.database.db, sql`select action, detail from audit_log where action = 'adapter.saved'`)
  expect(audit.length).toBe(2)
  expect(JSON.stringify(audit)).not.toContain('ws-token')
  expect(JSON.stringify(audit)).not.toContain('inbound-secret')
})

test('a URL that is not http(s) is refused', async () => {
  const response = await save('canvas', { _csrf: csrf, enabled: 'yes', baseUrl: 'javascript:alert(1)' })
  expect(response.headers.get('location')).toBe('/admin/adapters?status=bad-url')
  expect(await loadAdapterSettings(t.service.database.db, 'canvas')).toBeUndefined()
})

test('the last events: how each was mapped or why not, escaped, and a dead one retried', async () => {
  const post = (body: unknown) =>
    t.send(new Request('http://belfry.test/v1/adapters/moodle', { method: 'POST', headers: { 'content-type': 'application/json', 'x-belfry-token': 'inbound-secret-9876' }, body: JSON.stringify(body) }))
  expect((await post({ eventname: '\\core\\event\\<img src=x onerror=alert(1)>', objectid: 7, timecreated: 1433946701 })).status).toBe(202)
  // A course_completed without relateduserid can never be mapped: dead at once.
  const dead = (await (await post({ eventname: '\\core\\event\\course_completed', objectid: 8, courseid: 2, timecreated: 1433946702 })).json()) as { native_event_id: string; state: string }
  expect(dead.state).toBe('dead')
  const html = await page()
  expect(html).toContain('Belfry does not map \\core\\event\\&lt;img src=x onerror=alert(1)&gt;')
  expect(html).not.toContain('<img src=x')
  expect(html).toContain('the event has no relateduserid')
  expect(html).toContain(`/admin/adapters/events/${dead.native_event_id}/retry`)
  const canvasOnly = await (await t.send(new Request('http://belfry.test/admin/adapters?adapter=canvas', { headers: { cookie } }))).text()
  expect(canvasOnly).toContain('No native event has arrived yet.')

  const retried = await t.send(
    new Request(`http://belfry.test/admin/adapters/events/${dead.native_event_id}/retry`, {
      method: 'POST',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: csrf }).toString(),
    }),
  )
  expect(retried.headers.get('location')).toBe('/admin/adapters?status=retried')
  const [row] = await rows<{ state: string }>(t.service.database.db, sql`select state from native_events where id = ${dead.native_event_id}`)
  expect(row!.state).toBe('enriching')
})
