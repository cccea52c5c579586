// A deadline's reminders from scheduling to sending, through a real SMTP
// server: they move with the deadline, leave with a learner removed from
// it, and stop for work handed in — at ingest when the order of events
// allows, and at the moment of sending when it does not. The clock is
// driven by moving a reminder's run_at to now, never by sleeping.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { allMessages, eventually } from '../support/outbox.ts'
import { createTestDatabase, onPostgres } from '../support/db.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

const HOUR = 3_600_000
let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})
beforeEach(() => sink.reset())

const ada = { id: 'r-ada', email: 'ada@learner.test', name: 'Ada', timezone: 'Europe/Paris' }
const bo = { id: 'r-bo', email: 'bo@learner.test', name: 'Bo', timezone: 'Europe/Paris' }
const course = { id: 'c-1', title: 'Statistics' }

async function remindersOf(itemId: string) {
  return (await allMessages(t.service.database.db)).filter((m) => m.subjectRef === `deadline:${itemId}`)
}

/** "Time passes": the reminder falls due now, and the worker is told. */
async function makeDue(id: string) {
  await t.service.database.db.execute(sql`update messages set run_at = now() where id = ${id}`)
  t.service.worker?.wake()
}

async function settled(id: string) {
  return eventually(async () => {
    const row = (await allMessages(t.service.database.db)).find((m) => m.id === id)
    return row && !['scheduled', 'queued', 'sending', 'retrying'].includes(row.state) ? row : undefined
  }, 10_000, `message ${id} to settle`)
}

describe('deadline reminders', () => {
  test('50 h ahead: -48 h and -2 h; moved by a day, both move; handed in between, the second is cancelled as submitted', async () => {
    const due = new Date(Date.now() + 50 * HOUR)
    const item = { id: 'essay', kind: 'assignment', title: 'Essay', due_at: due.toISOString() }
    expect((await t.post('deadline.scheduled', { users: [ada], course, item })).status).toBe(202)
    let rows = await remindersOf('essay')
    expect(rows.map((m) => [m.state, m.runAt.getTime()])).toEqual([
      ['scheduled', due.getTime() - 48 * HOUR],
      ['scheduled', due.getTime() - 2 * HOUR],
    ])

    const moved = new Date(due.getTime() + 24 * HOUR)
    await t.post('deadline.scheduled', { users: [ada], course, item: { ...item, due_at: moved.toISOString() } })
    rows = await remindersOf('essay')
    expect(rows.filter((m) => m.state === 'cancelled').map((m) => m.reason)).toEqual(['rescheduled', 'rescheduled'])
    const live = rows.filter((m) => m.state === 'scheduled').sort((a, b) => a.runAt.getTime() - b.runAt.getTime())
    expect(live.map((m) => m.runAt.getTime())).toEqual([moved.getTime() - 48 * HOUR, moved.getTime() - 2 * HOUR])

    // 48 hours before the moved deadline: the first reminder goes, for the moved date.
    await makeDue(live[0]!.id)
    const [first] = await sink.waitFor(1, 10_000)
    expect(first!.parsed.subject).toBe('Due in 3 days: Essay')
    expect((await settled(live[0]!.id)).state).toBe('sent')

    await t.post('assignment.submitted', {
      user: ada,
      course,
      assignment: { id: 'essay', title: 'Essay' },
      submission: { id: 'sub-1', submitted_at: new Date().toISOString() },
    })
    const second = (await remindersOf('essay')).find((m) => m.id === live[1]!.id)!
    expect([second.state, second.reason]).toEqual(['cancelled', 'submitted'])
    await sink.waitFor(2, 10_000) // the submission receipt
    expect(sink.messages.map((m) => m.parsed.subject)).toEqual(['Due in 3 days: Essay', 'Submitted: Essay'])
  })

  test('checked again when sending: a reminder written after the learner handed the work in never goes', async () => {
    const item = { id: 'lab', kind: 'assignment', title: 'Lab', due_at: new Date(Date.now() + 72 * HOUR).toISOString() }
    await t.post('assignment.submitted', {
      user: ada,
      course,
      assignment: { id: 'lab', title: 'Lab' },
      submission: { id: 'sub-2', submitted_at: new Date().toISOString() },
    })
    await sink.waitFor(1, 10_000)
    // The LMS re-sends the deadline afterwards (a teacher edited its title): Ada's reminders are
    // written like everyone's, and stopped at the moment they would have gone out.
    await t.post('deadline.scheduled', { users: [ada, bo], course, item: { ...item, title: 'Lab (revised)' } })
    const rows = (await remindersOf('lab')).filter((m) => m.state === 'scheduled')
    expect(rows).toHaveLength(4)
    for (const row of rows) await makeDue(row.id)
    const ended = await Promise.all(rows.map((row) => settled(row.id)))
    expect(ended.filter((m) => m.toAddress === ada.email).map((m) => [m.state, m.reason])).toEqual([
      ['cancelled', 'submitted'],
      ['cancelled', 'submitted'],
    ])
    expect(ended.filter((m) => m.toAddress === bo.email).map((m) => m.state)).toEqual(['sent', 'sent'])
    await sink.waitFor(3, 10_000)
    expect(sink.messages.filter((m) => m.envelope.to[0] === ada.email).map((m) => m.parsed.subject)).toEqual(['Submitted: Lab'])
  })

  test('a learner left out of a rescheduled deadline loses their reminders; one cancelled alone and named again gets them back', async () => {
    const item = { id: 'quiz', kind: 'quiz', title: 'Quiz', due_at: new Date(Date.now() + 72 * HOUR).toISOString() }
    await t.post('deadline.scheduled', { users: [ada, bo], course, item })
    await t.post('deadline.scheduled', { users: [ada], course, item })
    let rows = await remindersOf('quiz')
    expect(rows.filter((m) => m.toAddress === bo.email).map((m) => [m.state, m.reason])).toEqual([
      ['cancelled', 'removed'],
      ['cancelled', 'removed'],
    ])

    await t.post('deadline.cancelled', { item: { id: 'quiz' }, users: [{ id: ada.id }] })
    rows = await remindersOf('quiz')
    expect(rows.filter((m) => m.state === 'scheduled')).toHaveLength(0)
    expect(rows.filter((m) => m.toAddress === ada.email && m.reason === 'cancelled')).toHaveLength(2)

    await t.post('deadline.scheduled', { users: [ada], course, item })
    const back = (await remindersOf('quiz')).filter((m) => m.state === 'scheduled')
    expect(back.map((m) => m.toAddress)).toEqual([ada.email, ada.email])
    await makeDue(back[0]!.id)
    expect((await settled(back[0]!.id)).state).toBe('sent')
  })
})

describe('two processes on one database', () => {
  test('each reminder is sent exactly once', async () => {
    const testDb = await createTestDatabase()
    // On Postgres each service has its own pool, as two processes would; PGlite is one session, shared.
    const a = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { testDb })
    const b = await startTestService(
      { MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url },
      { testDb: onPostgres ? { ...testDb, database: await testDb.openAnother() } : testDb },
    )
    try {
      const users = Array.from({ length: 40 }, (_, i) => ({ id: `two-${i}`, email: `two${i}@learner.test`, timezone: 'Europe/Paris' }))
      const item = { id: 'twice', kind: 'assignment', title: 'Twice', due_at: new Date(Date.now() + 50 * HOUR).toISOString() }
      expect((await a.post('deadline.scheduled', { users, course, item })).status).toBe(202)
      // Both reminders of every learner fall due at once, with both workers polling.
      await a.service.database.db.execute(sql`update messages set run_at = now() where subject_ref = 'deadline:twice'`)
      a.service.worker?.wake()
      b.service.worker?.wake()
      await sink.waitFor(80, 20_000)
      await Bun.sleep(300)
      expect(sink.messages).toHaveLength(80)
      expect(new Set(sink.messages.map((m) => m.parsed.messageId)).size).toBe(80)
      const [sent] = await rows<{ sent: number; attempts: number }>(
        a.service.database.db,
        sql`select (select count(*)::int from messages where state = 'sent') as sent,
                   (select count(*)::int from delivery_attempts) as attempts`,
      )
      expect(sent).toEqual({ sent: 80, attempts: 80 })
    } finally {
      await b.stop()
      await a.stop()
      await testDb.drop()
    }
  }, 60_000)
})
