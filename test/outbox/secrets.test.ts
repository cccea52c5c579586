// Values a template marks secret (password_reset: `secret: reset.url`) go
// out in the email and nowhere else: once the email is accepted they are
// overwritten in the stored message and event, a message still waiting (or
// dead, to be retried) keeps them so its link works, and admin pages show
// a mark in their place from the start.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { events, messages } from '../../src/db/schema/index.ts'
import { maskSecrets, REDACTED } from '../../src/render/secrets.ts'
import { ADMIN_PASSWORD, signIn } from '../support/admin.ts'
import { eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

let sink: SmtpSink
beforeAll(async () => {
  sink = await startSmtpSink()
})
afterAll(() => sink.close())
afterEach(() => sink.reset())

const reset = (id: string) => ({
  user: { id, email: `${id}@learner.test`, name: 'Ada' },
  reset: { url: `https://lms.test/reset/${id}-s3cr3t-token`, expires_at: '2030-01-01T00:00:00Z' },
})

async function stored(t: TestService, eventId: string) {
  const db = t.service.database.db
  const [event] = await db.select().from(events).where(eq(events.id, eventId))
  const [message] = await db.select().from(messages).where(eq(messages.eventId, eventId))
  return { event: event!, message: message! }
}

describe('a password reset', () => {
  test('the email carries the link; once it is accepted, the stored message and event do not', async () => {
    const t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
    try {
      const data = reset('sent-1')
      const answer = (await (await t.post('password_reset.requested', data)).json()) as { event_id: string }
      const [mail] = await sink.waitFor(1, 10_000)
      expect(mail!.parsed.text).toContain(data.reset.url)
      const after = await eventually(async () => {
        const rows = await stored(t, answer.event_id)
        return rows.message.state === 'sent' && (rows.message.variables as typeof data).reset.url === REDACTED && rows
      })
      expect((after.event.data as typeof data).reset).toEqual({ url: REDACTED, expires_at: data.reset.expires_at })
      expect((after.message.variables as typeof data).user).toEqual(data.user)
      expect(JSON.stringify(after)).not.toContain('s3cr3t')
    } finally {
      await t.stop()
    }
  })

  test('a dead one keeps its link, so a retry from the dead letters still works', async () => {
    const t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
    try {
      sink.failAlways(550, '5.7.1 rejected for policy reasons')
      const data = reset('dead-1')
      const answer = (await (await t.post('password_reset.requested', data)).json()) as { event_id: string }
      const dead = await eventually(async () => {
        const rows = await stored(t, answer.event_id)
        return rows.message.state === 'dead' && rows
      })
      expect((dead.message.variables as typeof data).reset.url).toBe(data.reset.url)
    } finally {
      await t.stop()
    }
  })

  test('admin pages show the mark, never the link, while the message waits', async () => {
    // No worker: the message stays queued with its link stored.
    const t = await startTestService({ ROLE: 'api', ADMIN_PASSWORD })
    try {
      const data = reset('waiting-1')
      const answer = (await (await t.post('password_reset.requested', data)).json()) as { event_id: string }
      const { message } = await stored(t, answer.event_id)
      expect((message.variables as typeof data).reset.url).toBe(data.reset.url)
      const cookie = await signIn(t, ADMIN)
      for (const path of [`/admin/messages/${message.id}`, `/admin/messages/${message.id}/preview`]) {
        const response = await t.send(new Request(`http://belfry.test${path}`, { headers: { cookie } }))
        expect(response.status).toBe(200)
        const page = await response.text()
        expect(page).not.toContain('s3cr3t')
        expect(page).toContain(REDACTED)
      }
    } finally {
      await t.stop()
    }
  })
})

test('maskSecrets: each path that exists, on a copy; other values and the original untouched', () => {
  const original = { reset: { url: 'https://x', expires_at: 'soon' }, list: [{ url: 'kept' }], user: { id: '1' } }
  const masked = maskSecrets(original, ['reset.url', 'list.url', 'missing.path', 'user.id.deeper'])
  expect(masked).toEqual({ reset: { url: REDACTED, expires_at: 'soon' }, list: [{ url: 'kept' }], user: { id: '1' } })
  expect(original.reset.url).toBe('https://x')
})
