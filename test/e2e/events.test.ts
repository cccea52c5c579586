// Protects DESIGN.md's event table end to end: each of the 12 event types,
// posted signed over HTTP, ends as exactly the emails the table lists in a
// real SMTP server's inbox — right recipients, subject, links, text part,
// and the Message-ID its outbox row was given.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { eq, sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { messages, recipients } from '../../src/db/schema/index.ts'
import { allMessages } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../support/smtp-sink.ts'
import { linkTargets } from '../support/mail.ts'

let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ORG_POSTAL_ADDRESS: '1 Campus Way, Springfield' })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})
beforeEach(() => sink.reset())

const ada = { id: 'u-ada', email: 'ada@learner.test', name: 'Ada Lovelace', locale: 'en-GB', timezone: 'Europe/London' }
const bo = { id: 'u-bo', email: 'bo@learner.test', name: 'Bo Chen', timezone: 'Asia/Shanghai' }
const course = { id: 'c-42', title: 'R&D <Intro>', url: 'https://lms.test/courses/42' }

/** Posts one event, expects `count` emails, and returns them by recipient address. */
async function deliver(type: string, data: unknown, count: number): Promise<Map<string, ReceivedMessage>> {
  const response = await t.post(type, data)
  expect(response.status).toBe(202)
  const answer = (await response.json()) as { event_id: string; messages: number }
  const received = await sink.waitFor(count, 10_000)
  await Bun.sleep(150) // nothing beyond `count` may follow
  expect(sink.messages).toHaveLength(count)
  const byAddress = new Map(received.map((m) => [m.envelope.to[0]!, m]))
  expect(byAddress.size).toBe(count)
  // Each email carries the Message-ID its outbox row was given.
  const stored = await t.service.database.db
    .select({ to: messages.toAddress, header: messages.messageIdHeader, state: messages.state })
    .from(messages)
    .where(eq(messages.eventId, answer.event_id))
  for (const [address, mail] of byAddress) {
    const row = stored.find((r) => r.to === address && r.header === mail.parsed.messageId)
    expect(row).toBeDefined()
  }
  return byAddress
}

function expectMail(mail: ReceivedMessage | undefined, subject: string | RegExp, mustLink: string[] = []) {
  expect(mail).toBeDefined()
  const { parsed } = mail!
  if (typeof subject === 'string') expect(parsed.subject).toBe(subject)
  else expect(parsed.subject).toMatch(subject)
  expect(parsed.from?.text).toContain('notify@belfry.test')
  expect(parsed.html).toBeString()
  expect(String(parsed.html)).toContain('lang="en')
  expect(parsed.text?.length ?? 0).toBeGreaterThan(40)
  for (const url of mustLink) {
    // Learner links go through click tracking (issue 7); each must still lead to its URL.
    expect(linkTargets(mail!, t.service.signer)).toContain(url)
    expect(parsed.text).toContain(url) // the text part spells every link out
  }
}

describe('each event type, end to end', () => {
  test('user.registered: the learner is welcomed, the admin told', async () => {
    const mails = await deliver('user.registered', { user: ada }, 2)
    expectMail(mails.get(ada.email), 'Welcome to Belfry Academy', ['http://belfry.test'])
    expectMail(mails.get(ADMIN), 'New user: Ada Lovelace')
    expect(mails.get(ada.email)!.parsed.text).toContain('Ada')
    expect(mails.get(ada.email)!.parsed.text).toContain('1 Campus Way, Springfield')
  })

  test('enrollment.created (paid): confirmation with the course link, and the admin alert with the amount', async () => {
    const mails = await deliver(
      'enrollment.created',
      { user: ada, course, enrollment: { id: 'e-1', paid: { amount: 49.5, currency: 'GBP' } } },
      2,
    )
    // The course title has HTML in it: plain in the subject, escaped in the HTML.
    expectMail(mails.get(ada.email), "You're enrolled in R&D <Intro>", [course.url])
    expect(String(mails.get(ada.email)!.parsed.html)).toContain('R&amp;D &lt;Intro&gt;')
    expect(String(mails.get(ada.email)!.parsed.html)).not.toContain('<Intro>')
    expectMail(mails.get(ADMIN), /^New enrollment: Ada Lovelace in R&D <Intro> \(£49\.50\)$/)
  })

  test('enrollment.created (free): only the learner hears', async () => {
    const mails = await deliver('enrollment.created', { user: bo, course, enrollment: { id: 'e-2' } }, 1)
    expectMail(mails.get(bo.email), "You're enrolled in R&D <Intro>", [course.url])
  })

  test('course.completed: congratulations with the certificate link', async () => {
    const certificate = 'https://lms.test/certificates/abc'
    const mails = await deliver(
      'course.completed',
      { user: ada, course, completion: { completed_at: '2026-12-01T10:00:00Z', certificate_url: certificate, grade: 'A' } },
      1,
    )
    expectMail(mails.get(ada.email), 'Congratulations! You completed R&D <Intro>', [certificate])
  })

  test('password_reset.requested: the reset link, prominent and spelled out', async () => {
    const url = 'https://lms.test/reset?token=xyz&u=1'
    const mails = await deliver('password_reset.requested', { user: bo, reset: { url, expires_at: '2030-01-01T00:00:00Z' } }, 1)
    expectMail(mails.get(bo.email), 'Reset your Belfry Academy password', [url])
  })

  test('deadline.scheduled: a reminder at each offset; a later one waits for its time', async () => {
    const due = new Date(Date.now() + 48 * 3_600_000 + 1500)
    const item = { id: 'a-7', kind: 'assignment', title: 'Essay 1', url: 'https://lms.test/a/7', due_at: due.toISOString() }
    const response = await t.post('deadline.scheduled', { users: [ada, bo], course, item })
    expect(((await response.json()) as { messages: number }).messages).toBe(4)
    const received = await sink.waitFor(2, 10_000)
    expect(received.map((m) => m.envelope.to[0]).sort()).toEqual([ada.email, bo.email])
    for (const mail of received) expectMail(mail, /^Due in (2 days|48 hours): Essay 1$/, [item.url])
    const pending = (await allMessages(t.service.database.db)).filter((m) => m.subjectRef === 'deadline:a-7' && m.state === 'scheduled')
    expect(pending).toHaveLength(2)
    expect(pending.every((m) => m.runAt.getTime() === due.getTime() - 2 * 3_600_000)).toBe(true)
  })

  test('deadline.scheduled again for the same item reschedules; deadline.cancelled cancels', async () => {
    const item = { id: 'a-8', kind: 'quiz', title: 'Quiz 2', due_at: new Date(Date.now() + 72 * 3_600_000).toISOString() }
    await t.post('deadline.scheduled', { users: [ada, bo], course, item })
    const moved = { ...item, due_at: new Date(Date.now() + 96 * 3_600_000).toISOString() }
    await t.post('deadline.scheduled', { users: [ada, bo], course, item: moved })
    const rowsFor = async () => (await allMessages(t.service.database.db)).filter((m) => m.subjectRef === 'deadline:a-8')
    let all = await rowsFor()
    expect(all.filter((m) => m.state === 'cancelled')).toHaveLength(4)
    const live = all.filter((m) => m.state === 'scheduled')
    expect(live).toHaveLength(4)
    expect(Math.min(...live.map((m) => m.runAt.getTime()))).toBe(new Date(moved.due_at).getTime() - 48 * 3_600_000)

    const response = await t.post('deadline.cancelled', { item: { id: 'a-8' }, users: [{ id: bo.id }] })
    expect(((await response.json()) as { messages: number }).messages).toBe(0)
    all = await rowsFor()
    expect(all.filter((m) => m.state === 'scheduled').map((m) => m.toAddress)).toEqual([ada.email, ada.email])
    await t.post('deadline.cancelled', { item: { id: 'a-8' } })
    expect((await rowsFor()).filter((m) => m.state === 'scheduled')).toHaveLength(0)
    expect(sink.messages).toHaveLength(0)
  })

  test('session.scheduled: a reminder with the join link', async () => {
    const session = {
      id: 's-1',
      title: 'Live Q&A',
      starts_at: new Date(Date.now() + 24 * 3_600_000 + 1500).toISOString(),
      join_url: 'https://meet.test/s-1',
    }
    await t.post('session.scheduled', { users: [ada], course, session })
    const [mail] = await sink.waitFor(1, 10_000)
    expectMail(mail, /^Starting in (1 day|24 hours|tomorrow): Live Q&A$/, [session.join_url])
  })

  test('assignment.submitted: a receipt, and that learner\'s reminders for it are cancelled', async () => {
    const item = { id: 'a-9', kind: 'assignment', title: 'Lab 3', due_at: new Date(Date.now() + 72 * 3_600_000).toISOString() }
    await t.post('deadline.scheduled', { users: [ada, bo], course, item })
    const mails = await deliver(
      'assignment.submitted',
      {
        user: ada,
        course,
        assignment: { id: 'a-9', title: 'Lab 3', url: 'https://lms.test/a/9' },
        submission: { id: 'sub-1', submitted_at: new Date().toISOString() },
      },
      1,
    )
    expectMail(mails.get(ada.email), 'Submitted: Lab 3', ['https://lms.test/a/9'])
    const left = (await allMessages(t.service.database.db)).filter((m) => m.subjectRef === 'deadline:a-9' && m.state === 'scheduled')
    expect(left.map((m) => m.toAddress)).toEqual([bo.email, bo.email])
  })

  test('discussion.post_created: every recipient but the author, with the thread link', async () => {
    const thread = { id: 't-1', title: 'Week 1 questions', url: 'https://lms.test/t/1' }
    const mails = await deliver(
      'discussion.post_created',
      { course, thread, post: { id: 'p-1', author: { id: ada.id, name: 'Ada Lovelace' }, excerpt: 'Has anyone tried <b>this</b>?' }, recipients: [ada, bo] },
      1,
    )
    expectMail(mails.get(bo.email), 'Ada Lovelace replied in "Week 1 questions"', [thread.url])
    expect(mails.get(bo.email)!.parsed.text).toContain('Has anyone tried <b>this</b>?')
    expect(String(mails.get(bo.email)!.parsed.html)).toContain('&lt;b&gt;this&lt;/b&gt;')
  })

  test('system.error: the admins are alerted; repeats within 15 minutes fold into one follow-up with a count', async () => {
    const error = { source: 'moodle-cron', message: 'Course backup failed: disk full', severity: 'critical', fingerprint: 'backup-disk' }
    const mails = await deliver('system.error', { error }, 1)
    expectMail(mails.get(ADMIN), '[critical] moodle-cron: Course backup failed: disk full')

    for (let i = 0; i < 3; i++) await t.post('system.error', { error })
    const folded = (await allMessages(t.service.database.db)).filter((m) => m.foldKey === 'system_error:backup-disk')
    expect(folded.map((m) => m.state)).toEqual(['sent', 'scheduled'])
    const followUp = folded[1]!
    expect(followUp.variables.count).toBe(3)
    expect(followUp.runAt.getTime() - folded[0]!.runAt.getTime()).toBe(15 * 60_000)
    expect(sink.messages).toHaveLength(1)

    // Move the clock: the follow-up went out 10 minutes ago. A repeat now is still inside its
    // window, so it waits for the window's end; the window counts from the follow-up's send time.
    const db = t.service.database.db
    await db.execute(sql`update messages set state = 'sent', run_at = now() - interval '10 minutes' where id = ${followUp.id}`)
    await db.execute(sql`update messages set run_at = now() - interval '25 minutes' where id = ${folded[0]!.id}`)
    await t.post('system.error', { error })
    const [next] = await rows<{ state: string; wait_s: number }>(
      db,
      sql`select state, extract(epoch from run_at - now())::int as wait_s from messages
          where fold_key = 'system_error:backup-disk' order by created_at desc limit 1`,
    )
    expect(next?.state).toBe('scheduled')
    expect(next!.wait_s).toBeGreaterThan(4 * 60 - 5)
    expect(next!.wait_s).toBeLessThanOrEqual(5 * 60)
  })

  test('user.updated: no email, the profile changes', async () => {
    const response = await t.post('user.updated', { user: { ...bo, name: 'Bo C.', locale: 'fr' } })
    expect(((await response.json()) as { messages: number }).messages).toBe(0)
    const [row] = await t.service.database.db.select().from(recipients).where(eq(recipients.lmsUserId, bo.id))
    expect([row?.name, row?.locale, row?.timezone]).toEqual(['Bo C.', 'fr', 'Asia/Shanghai'])
    await Bun.sleep(150)
    expect(sink.messages).toHaveLength(0)
  })

  test('user.deleted: no email; the person is erased from recipients, messages, admin alerts and stored events', async () => {
    const carol = { id: 'u-carol', email: 'carol@learner.test', name: 'Carol Danvers' }
    const item = { id: 'a-10', kind: 'assignment', title: 'Final', due_at: new Date(Date.now() + 72 * 3_600_000).toISOString() }
    await deliver('user.registered', { user: carol }, 2) // her welcome, and an admin alert naming her
    await t.post('deadline.scheduled', { users: [carol, ada], course, item })
    const response = await t.post('user.deleted', { user: { id: carol.id } })
    expect(((await response.json()) as { messages: number }).messages).toBe(0)
    const db = t.service.database.db
    expect(await db.select().from(recipients).where(eq(recipients.lmsUserId, carol.id))).toHaveLength(0)
    for (const needle of [carol.email, carol.name]) {
      const [left] = await rows<{ messages: number; events: number }>(
        db,
        sql`select (select count(*)::int from messages where to_address = ${needle} or variables::text like ${'%' + needle + '%'}
                      or subject like ${'%' + needle + '%'}) as messages,
                   (select count(*)::int from events where data::text like ${'%' + needle + '%'}) as events`,
      )
      expect(left).toEqual({ messages: 0, events: 0 })
    }
    const reminders = (await allMessages(db)).filter((m) => m.subjectRef === 'deadline:a-10')
    expect(reminders.filter((m) => m.toAddress === 'erased').map((m) => m.state)).toEqual(['cancelled', 'cancelled'])
    // Ada's reminders for the same item are untouched.
    expect(reminders.filter((m) => m.toAddress === ada.email).map((m) => m.state)).toEqual(['scheduled', 'scheduled'])
  })
})

describe('graceful stop', () => {
  test('stop() finishes every message in flight and claims nothing new', async () => {
    const local = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, WORKER_CONCURRENCY: '4' })
    try {
      for (let i = 0; i < 20; i++) {
        await local.post('password_reset.requested', {
          user: { id: `g-${i}`, email: `g${i}@learner.test` },
          reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' },
        })
      }
      await sink.waitFor(1, 10_000)
      await local.service.worker!.stop()
      const states = (await allMessages(local.service.database.db)).map((m) => m.state)
      expect(states).not.toContain('sending')
      expect(states.filter((s) => s === 'sent').length).toBe(sink.messages.length)
      await Bun.sleep(200)
      expect(sink.messages.length).toBe(states.filter((s) => s === 'sent').length)
    } finally {
      await local.stop()
    }
  })
})

test('a ready service answers /healthz and /readyz', async () => {
  const health = await t.send(new Request('http://belfry.test/healthz'))
  expect(health.status).toBe(200)
  const ready = await t.send(new Request('http://belfry.test/readyz'))
  expect(ready.status).toBe(200)
  expect(await ready.json()).toEqual({ status: 'ready', database: 'ok', migrations: 'applied' })
})

test('robots.txt keeps learner pages out of search engines', async () => {
  const response = await t.send(new Request('http://belfry.test/robots.txt'))
  expect(response.status).toBe(200)
  expect(await response.text()).toContain('Disallow: /')
})
