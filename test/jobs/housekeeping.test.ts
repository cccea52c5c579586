// Protects retention: after RETENTION_DAYS, stored events, finished
// messages and their attempts are deleted, in batches, while dead letters,
// pending mail and anything recent stay. The clock is driven by ageing rows.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { runHousekeeping } from '../../src/jobs/housekeeping.ts'
import { allMessages, eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, MAX_ATTEMPTS: '1', RETENTION_DAYS: '30' })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})

const reset = (i: number) => ({ user: { id: `hk-${i}`, email: `hk${i}@learner.test` }, reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })

async function tally() {
  const [row] = await rows<{ events: number; sent: number; dead: number; scheduled: number; attempts: number }>(
    t.service.database.db,
    sql`select (select count(*)::int from events) as events,
               (select count(*)::int from messages where state = 'sent') as sent,
               (select count(*)::int from messages where state = 'dead') as dead,
               (select count(*)::int from messages where state = 'scheduled') as scheduled,
               (select count(*)::int from delivery_attempts) as attempts`,
  )
  return row!
}

describe('housekeeping', () => {
  test('old events, finished mail and attempts go; dead letters, pending and recent mail stay', async () => {
    const db = t.service.database.db
    for (let i = 0; i < 5; i++) await t.post('password_reset.requested', reset(i))
    sink.failRecipient('hk5@learner.test', 550, '5.1.1 No such user')
    await t.post('password_reset.requested', reset(5))
    const due = new Date(Date.now() + 60 * 86_400_000).toISOString()
    await t.post('deadline.scheduled', { users: [reset(6).user], course: { id: 'c', title: 'C' }, item: { id: 'far', kind: 'exam', title: 'Exam', due_at: due } })
    await eventually(async () => {
      const c = await tally()
      return c.sent === 5 && c.dead === 1 || undefined
    })
    // Everything so far is 31 days old; then one more, today.
    await db.execute(sql`update events set received_at = now() - interval '31 days'`)
    await db.execute(sql`update messages set updated_at = now() - interval '31 days', created_at = now() - interval '31 days'`)
    await db.execute(sql`update delivery_attempts set finished_at = now() - interval '31 days'`)
    await t.post('password_reset.requested', reset(7))
    await eventually(async () => (await tally()).sent === 6 || undefined)
    expect(await tally()).toEqual({ events: 8, sent: 6, dead: 1, scheduled: 2, attempts: 7 })

    expect(await t.service.jobs!.trigger('housekeeping')).toBe('ran')
    // Left: today's event and its sent mail with its attempt; the dead letter (its old attempt
    // goes, its reason stays on the row); the far-off reminders, which keep their own data.
    expect(await tally()).toEqual({ events: 1, sent: 1, dead: 1, scheduled: 2, attempts: 1 })
    const dead = (await allMessages(db)).find((m) => m.state === 'dead')!
    expect(dead.lastError).toContain('No such user')
    expect((await allMessages(db)).filter((m) => m.state === 'scheduled').every((m) => m.eventId === null)).toBe(true)
  })

  test('in small batches until nothing old is left', async () => {
    const db = t.service.database.db
    for (let i = 10; i < 17; i++) await t.post('password_reset.requested', reset(i))
    await eventually(async () => (await tally()).sent === 8 || undefined)
    await db.execute(sql`update events set received_at = now() - interval '31 days'`)
    await db.execute(sql`update messages set updated_at = now() - interval '31 days' where state = 'sent'`)
    // A run stops after its batch budget and leaves the rest for the next run.
    expect(await runHousekeeping({ db, retentionDays: 30, batch: 2, maxBatches: 2 }, new Date())).toEqual({ messages: 4, attempts: 0, events: 4 })
    expect(await runHousekeeping({ db, retentionDays: 30, batch: 2 }, new Date())).toEqual({ messages: 4, attempts: 0, events: 4 })
    expect(await tally()).toEqual({ events: 0, sent: 0, dead: 1, scheduled: 2, attempts: 0 })
  })
})
