// Protects what learners see of their choices in the inbox: unsubscribe
// headers on every non-essential email and none on a password reset, and
// the send-time check skipping muted courses and suppressed addresses with
// their reasons kept.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { addSuppression, setCourseMuted } from '../../src/preferences/queries.ts'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { allMessages, eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { header } from '../support/mail.ts'

let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, PUBLIC_URL: 'https://notify.school.test' })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})
beforeEach(() => sink.reset())

const learner = { id: 'u-h1', email: 'h1@learner.test', name: 'Hana', timezone: 'Asia/Tokyo' }
const course = { id: 'c-h', title: 'Headers 101', url: 'https://lms.test/c-h' }

describe('unsubscribe headers', () => {
  test('every non-essential email carries both RFC 8058 headers on PUBLIC_URL, and a footer link to preferences', async () => {
    await t.post('enrollment.created', { user: learner, course, enrollment: { id: 'e' } })
    await t.post('course.completed', { user: learner, course, completion: { completed_at: '2026-12-01T00:00:00Z' } })
    await t.post('discussion.post_created', {
      course,
      thread: { id: 't', title: 'Hello', url: 'https://lms.test/t' },
      post: { id: 'p', author: { id: 'someone', name: 'Sam' }, excerpt: 'Hi' },
      recipients: [learner],
    })
    const mails = await sink.waitFor(3, 10_000)
    for (const mail of mails) {
      const listUnsubscribe = header(mail, 'List-Unsubscribe')
      expect(listUnsubscribe).toMatch(/^<https:\/\/notify\.school\.test\/u\/[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+>$/)
      expect(header(mail, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
      expect(String(mail.parsed.html)).toContain('https://notify.school.test/preferences/')
      expect(mail.parsed.text).toContain('https://notify.school.test/preferences/')
    }
  })

  test('a password reset has neither header', async () => {
    await t.post('password_reset.requested', { user: learner, reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
    const [mail] = await sink.waitFor(1, 10_000)
    expect(header(mail!, 'List-Unsubscribe')).toBeUndefined()
    expect(header(mail!, 'List-Unsubscribe-Post')).toBeUndefined()
  })

  test('admin alerts have no learner links', async () => {
    await t.post('user.registered', { user: { id: 'u-h2', email: 'h2@learner.test' } })
    const mails = await sink.waitFor(2, 10_000)
    const admin = mails.find((m) => m.envelope.to[0] === 'ops@school.test')!
    expect(header(admin, 'List-Unsubscribe')).toBeUndefined()
    expect(String(admin.parsed.html)).not.toContain('/preferences/')
  })
})

describe('the send-time check', () => {
  test('a muted course is skipped with reason course_muted; other courses still arrive', async () => {
    const muted = { ...course, id: 'c-muted', title: 'Muted course' }
    await t.post('enrollment.created', { user: learner, course: muted, enrollment: { id: 'e2' } })
    await sink.waitFor(1, 10_000)
    sink.reset()
    const recipientId = (await findRecipientId(t.service.database.db, learner.id))!
    await setCourseMuted(t.service.database.db, recipientId, 'c-muted', true)

    const thread = (id: string, c: typeof course) => ({
      course: c,
      thread: { id, title: `Thread ${id}`, url: `https://lms.test/${id}` },
      post: { id: `p-${id}`, author: { id: 'x', name: 'X' }, excerpt: '...' },
      recipients: [learner],
    })
    await t.post('discussion.post_created', thread('m1', muted))
    await t.post('discussion.post_created', thread('m2', course))
    const [received] = await sink.waitFor(1, 10_000)
    expect(received!.parsed.subject).toContain('Thread m2')
    const skipped = await eventually(async () => {
      const row = (await allMessages(t.service.database.db)).find((m) => m.variables.thread && (m.variables.thread as { id: string }).id === 'm1')
      return row?.state === 'skipped' && row
    })
    expect(skipped.reason).toBe('course_muted')
    expect(sink.messages).toHaveLength(1)
  })

  test('a suppressed address gets nothing at all, not even a password reset', async () => {
    await addSuppression(t.service.database.db, 'BOUNCED@learner.test', 'hard_bounce', '550 5.1.1 user unknown')
    await t.post('password_reset.requested', {
      user: { id: 'u-b', email: 'bounced@learner.test' },
      reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' },
    })
    const row = await eventually(async () => {
      const m = (await allMessages(t.service.database.db)).find((x) => x.toAddress === 'bounced@learner.test')
      return m?.state === 'skipped' && m
    })
    expect(row.reason).toBe('suppressed')
    expect(row.attempts).toBe(0)
    await Bun.sleep(100)
    expect(sink.messages).toHaveLength(0)
  })
})
