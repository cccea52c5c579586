// Protects the admin settings page: the admin-alert list and what each admin
// gets decide the next fan-out; "send test email" really sends through the
// active transport (here to the SMTP sink) and is audited; the webhook
// secret is shown once, rotates with an overlap during which the old secret
// still verifies (and not after), and stays read-only when WEBHOOK_SECRET is
// set; the file transport's mailbox lists and opens what it wrote and
// refuses any other name; hostile values show as text; no session → sign-in;
// a wrong CSRF token → 403.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { and, eq } from 'drizzle-orm'
import { auditLog, messages } from '../../src/db/schema/index.ts'
import { getSetting, putSetting } from '../../src/settings/queries.ts'
import { SETTING, WebhookSecretStore, type WebhookSecretState } from '../../src/settings/runtime.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { TEST_SECRET } from '../support/webhooks.ts'

// Bun's 5 s default is too short for the services this file boots when run without `--timeout` (plain `bun test`).
setDefaultTimeout(30_000)

const HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'

let t: TestService
let cookie: string
let csrf: string

beforeAll(async () => {
  // No WEBHOOK_SECRET: the secret lives in settings and can be rotated here.
  t = await startTestService({ ADMIN_PASSWORD, WEBHOOK_SECRET: '' })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
})
afterAll(() => t?.stop())

const get = (path: string, headers: Record<string, string> = { cookie }) =>
  t.send(new Request(`http://belfry.test${path}`, { headers }))
const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = {}) =>
  t.send(
    new Request(`http://belfry.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
  )

async function storedSecret(): Promise<WebhookSecretState> {
  const value = await getSetting<unknown>(t.service.database.db, SETTING.webhookSecret)
  return typeof value === 'string' ? { current: value, previous: null, previousUntil: null } : (value as WebhookSecretState)
}

/** Posts an event signed with the secret stored now (this service has no WEBHOOK_SECRET). */
const event = async (type: string, data: unknown) => t.post(type, data, { secret: (await storedSecret()).current })

/** Posts a `user.updated` (no mail) signed with `secret`; its status says whether the secret verified. */
const signedWith = async (secret: string) =>
  (await t.post('user.updated', { user: { id: 'u-sig', email: 'sig@learner.test' } }, { secret })).status

async function adminMail(notification: string, userId: string): Promise<string[]> {
  const rows = await t.service.database.db
    .select({ to: messages.toAddress, variables: messages.variables })
    .from(messages)
    .where(eq(messages.notification, notification))
  return rows
    .filter((r) => String((r.variables.user as { id: string } | undefined)?.id) === userId)
    .map((r) => r.to)
    .sort()
}

describe('admin alerts', () => {
  test('the list starts with ADMIN_EMAIL; adding an admin reaches the next user.registered fan-out', async () => {
    expect(await (await get('/admin/settings')).text()).toContain(`<legend>${ADMIN}</legend>`)
    const added = await post('/admin/settings/alerts', {
      _csrf: csrf,
      action: 'add',
      email: 'Dean@School.test',
      enrollment: 'all',
      registrations: 'on',
      errors: 'on',
    })
    expect(added.status).toBe(200)
    expect(await added.text()).toContain('dean@school.test now gets admin alerts.')
    expect((await event('user.registered', { user: { id: 'r1', email: 'r1@learner.test' } })).status).toBe(202)
    expect(await adminMail('admin_user_registered', 'r1')).toEqual(['dean@school.test', ADMIN])

    const audit = await t.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'settings.admin_alerts.add'))
    expect(audit[0]).toMatchObject({ adminEmail: ADMIN, target: 'dean@school.test' })
  })

  test('per admin: registrations off, enrollments all vs paid, removal', async () => {
    // Dean stops getting registrations; the form sends no `registrations` field when unticked.
    const saved = await post('/admin/settings/alerts', { _csrf: csrf, action: 'save', email: 'dean@school.test', enrollment: 'all', errors: 'on' })
    expect(await saved.text()).toContain('Saved what dean@school.test gets.')
    await event('user.registered', { user: { id: 'r2', email: 'r2@learner.test' } })
    expect(await adminMail('admin_user_registered', 'r2')).toEqual([ADMIN])

    // A free enrollment: only Dean (all) hears; ADMIN is on the default, paid only.
    await event('enrollment.created', { user: { id: 'r2', email: 'r2@learner.test' }, course: { id: 'c', title: 'C' }, enrollment: { id: 'e-free' } })
    expect(await adminMail('admin_enrollment', 'r2')).toEqual(['dean@school.test'])

    const removed = await post('/admin/settings/alerts', { _csrf: csrf, action: 'remove', email: 'dean@school.test' })
    expect(await removed.text()).toContain('dean@school.test no longer gets admin alerts.')
    await event('enrollment.created', {
      user: { id: 'r3', email: 'r3@learner.test' },
      course: { id: 'c', title: 'C' },
      enrollment: { id: 'e-paid', paid: { amount: 10, currency: 'EUR' } },
    })
    expect(await adminMail('admin_enrollment', 'r3')).toEqual([ADMIN])
  })

  test('a bad address or a duplicate is refused with a message and nothing changes', async () => {
    const bad = await post('/admin/settings/alerts', { _csrf: csrf, action: 'add', email: 'nope' })
    expect(bad.status).toBe(422)
    expect(await bad.text()).toContain('Enter an email address')
    const dup = await post('/admin/settings/alerts', { _csrf: csrf, action: 'add', email: ADMIN })
    expect(dup.status).toBe(409)
    const list = await getSetting<unknown[]>(t.service.database.db, SETTING.adminAlertEmails)
    expect(list).toHaveLength(1)
  })
})

describe('transport and test email', () => {
  test('the settings page names the transport; a test email through SMTP arrives at the sink and is audited', async () => {
    const sink: SmtpSink = await startSmtpSink()
    const smtp = await startTestService({
      ADMIN_PASSWORD,
      ROLE: 'api',
      MAIL_TRANSPORT: 'smtp',
      SMTP_URL: sink.url.replace('smtp://', 'smtp://mailer:hunter2secret@'),
    })
    try {
      const smtpCookie = await signIn(smtp, ADMIN)
      const smtpCsrf = await csrfOf(smtp, smtpCookie)
      const page = await (await smtp.send(new Request('http://belfry.test/admin/settings', { headers: { cookie: smtpCookie } }))).text()
      expect(page).toContain(`smtp://127.0.0.1:${sink.port}`)
      expect(page).not.toContain('hunter2secret')
      expect(page).not.toContain('mailer:')

      const response = await smtp.send(
        new Request('http://belfry.test/admin/settings/test-email', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: smtpCookie, 'x-csrf-token': smtpCsrf },
          body: new URLSearchParams({ to: 'probe@school.test' }).toString(),
        }),
      )
      expect(response.status).toBe(200)
      const result = await response.text()
      expect(result).toContain('Sent to probe@school.test.')
      expect(result).toMatch(/<dd>250<\/dd>/)
      const [mail] = await sink.waitFor(1)
      expect(mail!.envelope.to).toEqual(['probe@school.test'])
      expect(mail!.parsed.subject).toBe('Belfry Academy: test email')
      expect(mail!.parsed.text).toContain('This is a test email')
      const [audit] = await smtp.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'settings.test_email'))
      expect(audit).toMatchObject({ target: 'probe@school.test', adminEmail: ADMIN })
      expect(audit!.detail).toMatchObject({ ok: true, code: '250' })

      // A refusal is shown with its code and text.
      sink.failNext(1, 550, '5.1.1 no such user')
      const refused = await smtp.send(
        new Request('http://belfry.test/admin/settings/test-email', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: smtpCookie, 'x-csrf-token': smtpCsrf },
          body: new URLSearchParams({ to: 'gone@school.test' }).toString(),
        }),
      )
      expect(refused.status).toBe(502)
      const text = await refused.text()
      expect(text).toContain('Sending to gone@school.test failed.')
      expect(text).toContain('no such user')
    } finally {
      await smtp.stop()
      await sink.close()
    }
  }, 30_000)
})

describe('webhook secret', () => {
  test('only a fingerprint is shown; a rotation shows the new secret once, and the old one verifies during the overlap only', async () => {
    const first = (await storedSecret()).current
    const page = await (await get('/admin/settings')).text()
    expect(page).not.toContain(first)
    expect(page).toContain(`whsec_…${first.slice(-4)}`)
    expect(await signedWith(first)).toBe(202)
    expect(await signedWith(TEST_SECRET)).toBe(401)

    const rotated = await post('/admin/settings/webhook-secret/rotate', { _csrf: csrf, overlap_hours: '24' })
    expect(rotated.status).toBe(200)
    const answer = await rotated.text()
    const state = await storedSecret()
    expect(state.current).not.toBe(first)
    expect(state.previous).toBe(first)
    expect(Date.parse(state.previousUntil!) - Date.now()).toBeGreaterThan(23 * 3_600_000)
    expect(answer).toContain(`value="${state.current}"`)
    expect(answer).toContain('will not be shown again')
    // Never again: the next page load has only fingerprints.
    const after = await (await get('/admin/settings')).text()
    expect(after).not.toContain(state.current)
    expect(after).toContain(`whsec_…${state.current.slice(-4)}`)
    expect(after).toContain(`whsec_…${first.slice(-4)}</code> still accepted until`)

    // Both verify during the overlap, in this process and in another one reading settings.
    expect(await signedWith(state.current)).toBe(202)
    expect(await signedWith(first)).toBe(202)
    const other = new WebhookSecretStore(t.service.database.db, undefined)
    expect(await other.accepted()).toEqual([state.current, first])

    // The overlap ends (moved into the past): the old secret stops verifying, the new one goes on.
    await putSetting(t.service.database.db, SETTING.webhookSecret, { ...state, previousUntil: new Date(Date.now() - 1000).toISOString() })
    t.service.secrets.webhook.invalidate()
    expect(await signedWith(first)).toBe(401)
    expect(await signedWith(state.current)).toBe(202)

    const [audit] = await t.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'settings.webhook_secret.rotate'))
    expect(JSON.stringify(audit)).not.toContain(state.current)
  })

  test('another process picks a rotation up within its short cache', async () => {
    const other = new WebhookSecretStore(t.service.database.db, undefined, 50)
    const before = await other.accepted()
    await post('/admin/settings/webhook-secret/rotate', { _csrf: csrf, overlap_hours: '0' })
    const now = (await storedSecret()).current
    expect(now).not.toBe(before[0])
    await Bun.sleep(60)
    expect(await other.accepted()).toEqual([now])
    // With no overlap the old secret stops at once.
    expect(await signedWith(before[0]!)).toBe(401)
  }, 30_000)

  test('with WEBHOOK_SECRET in the environment the page says so and rotation is refused', async () => {
    const env = await startTestService({ ADMIN_PASSWORD, ROLE: 'api' })
    try {
      const envCookie = await signIn(env, ADMIN)
      const page = await (await env.send(new Request('http://belfry.test/admin/settings', { headers: { cookie: envCookie } }))).text()
      expect(page).toContain('WEBHOOK_SECRET is set in the environment')
      expect(page).not.toContain('/admin/settings/webhook-secret/rotate')
      expect(page).not.toContain(TEST_SECRET)
      const refused = await env.send(
        new Request('http://belfry.test/admin/settings/webhook-secret/rotate', {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: envCookie, 'x-csrf-token': await csrfOf(env, envCookie) },
          body: 'overlap_hours=24',
        }),
      )
      expect(refused.status).toBe(409)
      expect((await env.post('user.updated', { user: { id: 'u', email: 'u@learner.test' } })).status).toBe(202)
    } finally {
      await env.stop()
    }
  }, 30_000)
})

describe('mailbox', () => {
  test('lists the .eml files the file transport wrote and opens one: headers, text, sandboxed HTML', async () => {
    await event('user.registered', { user: { id: 'mb', email: 'mb@learner.test', name: HOSTILE } })
    const db = t.service.database.db
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      const rows = await db.select().from(messages).where(and(eq(messages.notification, 'admin_user_registered'), eq(messages.state, 'sent')))
      if (rows.some((r) => (r.variables.user as { id: string }).id === 'mb')) break
      await Bun.sleep(50)
    }
    const list = await (await get('/admin/settings/mailbox')).text()
    const names = [...list.matchAll(/href="\/admin\/settings\/mailbox\/([^"]+\.eml)"/g)].map((m) => decodeURIComponent(m[1]!))
    expect(names.length).toBeGreaterThan(0)
    expect([...names].sort().reverse()).toEqual(names) // newest first
    for (const name of names) expect(existsSync(join(t.dataDir, 'mail', name))).toBe(true)

    // Find the admin alert about the hostile name and open it.
    let opened = ''
    let name = ''
    for (const candidate of names) {
      const page = await (await get(`/admin/settings/mailbox/${encodeURIComponent(candidate)}`)).text()
      if (page.includes('New user: ')) {
        opened = page
        name = candidate
        break
      }
    }
    expect(opened).toContain('Message-ID')
    expect(opened).toContain('New user: &lt;script&gt;alert(1)&lt;/script&gt;')
    expect(opened).toContain('<iframe')
    expect(opened).toContain('sandbox=""')
    expect(opened.replace(/="[^"]*"/g, '=""')).not.toMatch(/<script>alert|<img[^>]*onerror/)

    const frame = await get(`/admin/settings/mailbox/${encodeURIComponent(name)}/html`)
    expect(frame.status).toBe(200)
    expect(frame.headers.get('content-security-policy')).toStartWith('sandbox;')
    expect(frame.headers.get('content-security-policy')).toContain("default-src 'none'")
    expect(await frame.text()).toContain('New user registered')
  })

  test('refuses any name the listing would not show, traversal included', async () => {
    for (const bad of ['..%2F..%2Fetc%2Fpasswd', '..%2Fmail.eml', '%2E%2E%2Fx.eml', 'nothere.eml', '.hidden.eml', 'x.txt']) {
      expect((await get(`/admin/settings/mailbox/${bad}`)).status).toBe(404)
      expect((await get(`/admin/settings/mailbox/${bad}/html`)).status).toBe(404)
    }
  })
})

describe('security', () => {
  test('without a session every settings page and action sends to sign-in', async () => {
    for (const path of ['/admin/settings', '/admin/settings/mailbox', '/admin/settings/mailbox/x.eml', '/admin/settings/mailbox/x.eml/html']) {
      const response = await get(path, {})
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toStartWith('/admin/login')
    }
    const before = await storedSecret()
    const anonymous = await t.send(
      new Request('http://belfry.test/admin/settings/webhook-secret/rotate', {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'overlap_hours=24',
      }),
    )
    expect(anonymous.status).toBe(303)
    expect((await storedSecret()).current).toBe(before.current)
  })

  test('a wrong CSRF token is refused with 403 and changes nothing', async () => {
    const before = await storedSecret()
    expect((await post('/admin/settings/webhook-secret/rotate', { _csrf: 'forged', overlap_hours: '24' })).status).toBe(403)
    expect((await post('/admin/settings/alerts', { action: 'add', email: 'evil@example.org' })).status).toBe(403)
    expect((await post('/admin/settings/test-email', { to: 'x@example.org' }, { 'x-csrf-token': 'forged' })).status).toBe(403)
    expect((await storedSecret()).current).toBe(before.current)
    expect(await getSetting<unknown[]>(t.service.database.db, SETTING.adminAlertEmails)).toHaveLength(1)
  })
})
