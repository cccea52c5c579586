// Protects switching transports at runtime from the admin settings: the
// routing form shows each configured transport with its state; saving a new
// split sends the next email the new way (here: SMTP taken out, the file
// transport in), is stored for every process and audited; a bad share is
// refused with the reason; "back to the environment's" restores
// MAIL_TRANSPORTS; a wrong CSRF token changes nothing.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { eq } from 'drizzle-orm'
import { auditLog, deliveryAttempts, messages } from '../../src/db/schema/index.ts'
import { loadMailRouting } from '../../src/settings/runtime.ts'
import { mailDirectory } from '../../src/transport/index.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

let sink: SmtpSink
let t: TestService
let cookie: string
let csrf: string

beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORTS: 'smtp:1', MAIL_FALLBACK: 'file', SMTP_URL: sink.url })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
}, 30_000)
afterAll(async () => {
  await t?.stop()
  await sink?.close()
})

const post = (fields: Record<string, string>) =>
  t.send(
    new Request('http://belfry.test/admin/settings/transport', {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      body: new URLSearchParams(fields).toString(),
    }),
  )

async function sendOne(email: string) {
  await t.post('password_reset.requested', { user: { id: email, email }, reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
  const row = await eventually(async () => {
    const [m] = await t.service.database.db.select().from(messages).where(eq(messages.toAddress, email))
    return m?.state === 'sent' ? m : undefined
  })
  const [attempt] = await t.service.database.db.select().from(deliveryAttempts).where(eq(deliveryAttempts.messageId, row.id))
  return attempt!.transport
}

describe('transport routing in the settings', () => {
  test('the form lists each configured transport, its share, its state and the fallback', async () => {
    const html = await (await t.send(new Request('http://belfry.test/admin/settings', { headers: { cookie } }))).text()
    expect(html).toContain('name="weight_smtp" min="0" max="1000" step="1" required value="1"')
    expect(html).toContain('name="weight_file" min="0" max="1000" step="1" required value="0"')
    expect(html).toMatch(/<input type="radio" name="fallback" value="file" checked/)
    expect(html).toContain('Taking mail')
  })

  test('saving a new split changes where the next email goes, for every process, audited', async () => {
    expect(await sendOne('before@learner.test')).toBe('smtp')
    const response = await post({ _csrf: csrf, action: 'save', weight_smtp: '0', weight_file: '1', fallback: '' })
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('Saved: smtp:0, file:1.')
    expect(await loadMailRouting(t.service.database.db)).toEqual({
      split: [
        { name: 'smtp', weight: 0 },
        { name: 'file', weight: 1 },
      ],
      fallback: null,
    })
    expect(await sendOne('after@learner.test')).toBe('file')
    expect(readdirSync(mailDirectory(t.dataDir)).length).toBe(1)
    const [audit] = await t.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'settings.transport_routing'))
    expect(audit?.adminEmail).toBe(ADMIN)
  })

  test('a share that is not a whole number from 0 to 1000, or no share at all, is refused with the reason', async () => {
    const bad = await post({ _csrf: csrf, action: 'save', weight_smtp: '-1', weight_file: '1' })
    expect(bad.status).toBe(422)
    expect(await bad.text()).toContain('The share for smtp must be a whole number from 0 to 1000.')
    const none = await post({ _csrf: csrf, action: 'save', weight_smtp: '0', weight_file: '0' })
    expect(none.status).toBe(422)
    expect(await none.text()).toContain('Not saved: at least one transport needs a weight above zero.')
    expect(t.service.transport.routing.split.map((s) => s.weight)).toEqual([0, 1])
  })

  test('a wrong CSRF token changes nothing; "back to the environment\'s" restores MAIL_TRANSPORTS', async () => {
    expect((await post({ _csrf: 'forged', action: 'reset' })).status).toBe(403)
    expect(t.service.transport.routing.split.map((s) => s.weight)).toEqual([0, 1])
    const page = await (await t.send(new Request('http://belfry.test/admin/settings', { headers: { cookie } }))).text()
    expect(page).toContain("Back to the environment&#x27;s (smtp:1, fallback file)")
    expect((await post({ _csrf: csrf, action: 'reset' })).status).toBe(200)
    expect(t.service.transport.routing).toEqual({ split: [{ name: 'smtp', weight: 1 }], fallback: 'file' })
    expect(await loadMailRouting(t.service.database.db)).toBeUndefined()
    expect(await sendOne('reset@learner.test')).toBe('smtp')
  })
})
