// Protects issue 3's promise end to end, as a mail provider would exercise
// it: the List-Unsubscribe URL from a real email, posted one-click, opts the
// learner out of discussions — later discussion posts are skipped with reason
// `preference` and never reach the inbox, other categories still do, and a
// new enrollment (which upserts the learner again) does not re-subscribe them.

import { afterAll, beforeAll, beforeEach, expect, test } from 'bun:test'
import { and, eq } from 'drizzle-orm'
import { preferences } from '../../src/db/schema/index.ts'
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

// No timezone: quiet hours never hold mail for a learner whose clock we do not know.
const learner = { id: 'u-opt', email: 'opt@learner.test', name: 'Olu' }
const course = { id: 'c-1', title: 'Algebra', url: 'https://lms.test/c-1' }
const newCourse = { id: 'c-2', title: 'Geometry', url: 'https://lms.test/c-2' }

function discussionPost(id: string, inCourse = course) {
  return {
    course: inCourse,
    thread: { id: `t-${id}`, title: `Thread ${id}`, url: `https://lms.test/t/${id}` },
    post: { id: `p-${id}`, author: { id: 'u-teacher', name: 'Teacher' }, excerpt: 'A new post' },
    recipients: [learner],
  }
}

/** Waits until the discussion post's outbox row is settled and returns it. */
async function settledRow(threadId: string) {
  return eventually(
    async () => {
      const row = (await allMessages(t.service.database.db)).find(
        (m) => (m.variables.thread as { id?: string } | undefined)?.id === threadId,
      )
      return row && !['queued', 'sending', 'retrying'].includes(row.state) && row
    },
    10_000,
    `the row for ${threadId}`,
  )
}

async function discussionsPreference() {
  const recipientId = (await findRecipientId(t.service.database.db, learner.id))!
  const [row] = await t.service.database.db
    .select()
    .from(preferences)
    .where(and(eq(preferences.recipientId, recipientId), eq(preferences.category, 'discussions')))
  return row?.frequency
}

test('one-click opt-out of discussions holds: skipped as `preference`, other mail arrives, a new enrollment changes nothing', async () => {
  // 1. A discussion email arrives, with both RFC 8058 headers.
  await t.post('discussion.post_created', discussionPost('1'))
  const [first] = await sink.waitFor(1, 10_000)
  const listUnsubscribe = header(first!, 'List-Unsubscribe')
  expect(header(first!, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
  const url = /^<(https:\/\/notify\.school\.test\/u\/[^>]+)>$/.exec(listUnsubscribe ?? '')?.[1]
  expect(url).toBeDefined()

  // 2. The mailbox provider's one-click POST: the exact body RFC 8058 prescribes, no cookies.
  const oneClick = () =>
    t.send(
      new Request(url!, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'List-Unsubscribe=One-Click',
      }),
    )
  const answer = await oneClick()
  expect(answer.status).toBe(200)
  expect(answer.headers.get('location')).toBeNull()
  expect(await discussionsPreference()).toBe('off')
  expect((await oneClick()).status).toBe(200)
  sink.reset()

  // 3. The next discussion post is skipped with its reason; nothing reaches the inbox.
  await t.post('discussion.post_created', discussionPost('2'))
  const skipped = await settledRow('t-2')
  expect(skipped.state).toBe('skipped')
  expect(skipped.reason).toBe('preference')

  // 4. Other categories still arrive.
  await t.post('course.completed', { user: learner, course, completion: { completed_at: '2026-12-01T10:00:00Z' } })
  const [completed] = await sink.waitFor(1, 10_000)
  expect(completed!.parsed.subject).toContain('Algebra')

  // 5. A new enrollment upserts the learner again: it arrives, and the opt-out still holds.
  await t.post('enrollment.created', { user: { ...learner, name: 'Olu B.' }, course: newCourse, enrollment: { id: 'e-2' } })
  await t.post('user.updated', { user: { ...learner, locale: 'pt-PT' } })
  const received = await sink.waitFor(2, 10_000)
  expect(received[1]!.parsed.subject).toContain('Geometry')
  expect(await discussionsPreference()).toBe('off')
  await t.post('discussion.post_created', discussionPost('3', newCourse))
  const stillSkipped = await settledRow('t-3')
  expect(stillSkipped.state).toBe('skipped')
  expect(stillSkipped.reason).toBe('preference')

  await Bun.sleep(200)
  expect(sink.messages.map((m) => m.parsed.subject)).toEqual([completed!.parsed.subject, received[1]!.parsed.subject])
  expect(sink.messages.some((m) => m.parsed.subject?.includes('Thread'))).toBe(false)
})
