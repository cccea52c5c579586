// Protects issue 12's "pause, resume and cancel at any point without losing
// or duplicating a recipient; a restart in the middle carries on where it
// stopped": an announcement to 1,000 learners is paused mid-send, the
// service is stopped and a new one started on the same database, and after
// resuming there every learner has exactly one email at a real SMTP server.
// Each email carries List-Unsubscribe (RFC 8058) and the postal address, and
// a one-click unsubscribe from it turns off announcements only.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { ADMIN_PASSWORD, signIn } from '../support/admin.ts'
import { createTestDatabase, type TestDatabase } from '../support/db.ts'
import { header } from '../support/mail.ts'
import { eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { adminPost, announcementRow, createAnnouncement, learnerAddress, rowsByState, seedLearners, sendToTheEnd } from './support.ts'

const LEARNERS = 1000
const POSTAL = 'Northwind Academy, 1 Harbour Street, Leith'

let sink: SmtpSink
let testDb: TestDatabase
let t: TestService | undefined
let id: string
let sentAtPause: number
let heldAtPause: Record<string, number>
let expandedAtPause: number
/** Sent after the pause answered: rows a worker had claimed before it (at most its claim window, 100) go out. */
let sentAfterPause: number
/** Sent between the restart and the resume: nothing. */
let sentAfterRestart: number

const env = () => ({
  ADMIN_PASSWORD,
  MAIL_TRANSPORT: 'smtp',
  SMTP_URL: sink.url,
  ANNOUNCE_BATCH: '100',
  ORG_POSTAL_ADDRESS: POSTAL,
  WORKER_CONCURRENCY: '4',
})

beforeAll(async () => {
  sink = await startSmtpSink()
  testDb = await createTestDatabase()
  t = await startTestService(env(), { testDb, pollMs: 20 })
  await seedLearners(t.service.database.db, LEARNERS)
  const cookie = await signIn(t, ADMIN)
  id = await createAnnouncement(t, cookie)
  expect((await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'now' })).status).toBe(303)

  // The job expands while the worker sends; pause once a few batches are out.
  const running = t.service.jobs!.trigger('announcements')
  await eventually(async () => (await announcementRow(t!.service.database.db, id)).batches >= 3, 20_000, 'three batches')
  const paused = await adminPost(t, cookie, `/admin/announcements/${id}/pause`, {})
  expect(paused.status).toBe(200)
  expect(await paused.text()).toContain('Paused;')
  await running
  sentAtPause = sink.messages.length
  const row = await announcementRow(t.service.database.db, id)
  expandedAtPause = row.expanded
  heldAtPause = await rowsByState(t.service.database.db, id)

  // The restart: this service stops (finishing what it holds), a new one starts on the same database.
  await t.stop()
  sentAfterPause = sink.messages.length - sentAtPause
  t = await startTestService(env(), { testDb, pollMs: 20 })
  await t.service.jobs!.trigger('announcements')
  await Bun.sleep(300)
  sentAfterRestart = sink.messages.length - sentAtPause - sentAfterPause
  expect((await announcementRow(t.service.database.db, id)).state).toBe('paused')

  const resumed = await adminPost(t, await signIn(t, ADMIN), `/admin/announcements/${id}/resume`, {})
  expect(await resumed.text()).toContain('Resumed;')
  await sendToTheEnd(t, id, 60_000)
}, 120_000)

afterAll(async () => {
  await t?.stop()
  await testDb?.drop()
  await sink?.close()
})

describe('pause, restart, resume', () => {
  test('the pause came mid-way and held what was not sent', () => {
    expect(expandedAtPause).toBeGreaterThanOrEqual(300)
    expect(expandedAtPause).toBeLessThan(LEARNERS)
    expect(heldAtPause['scheduled:paused']).toBeGreaterThan(0)
    // What a worker had already claimed may finish; nothing else goes out while paused, across the restart too.
    expect(sentAfterPause).toBeLessThanOrEqual(100)
    expect(sentAfterRestart).toBe(0)
  })

  test('every learner still gets exactly one email', async () => {
    const counts = new Map<string, number>()
    for (const message of sink.messages) for (const to of message.envelope.to) counts.set(to, (counts.get(to) ?? 0) + 1)
    expect(counts.size).toBe(LEARNERS)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    for (let n = 1; n <= LEARNERS; n++) expect(counts.get(learnerAddress(n))).toBe(1)
    expect(await rowsByState(t!.service.database.db, id)).toEqual({ sent: LEARNERS })
  })

  test('each email has List-Unsubscribe, one-click, and the postal address in its footer', () => {
    for (const message of sink.messages.slice(0, 50)) {
      expect(header(message, 'List-Unsubscribe')).toMatch(/^<http:\/\/belfry\.test\/u\/[^>]+>$/)
      expect(header(message, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
      expect(String(message.parsed.html)).toContain(POSTAL)
      expect(message.parsed.text).toContain(POSTAL)
      expect(message.parsed.subject).toBe('Maintenance on Saturday')
    }
  })

  test('a one-click unsubscribe from an announcement turns off announcements only', async () => {
    const message = sink.messages.find((m) => m.envelope.to[0] === learnerAddress(7))!
    const url = header(message, 'List-Unsubscribe')!.slice(1, -1)
    const response = await t!.send(
      new Request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' }),
    )
    expect(response.status).toBe(200)
    const db = t!.service.database.db
    const choices = await rows<{ category: string; frequency: string }>(
      db,
      sql`select p.category, p.frequency::text from preferences p join recipients r on r.id = p.recipient_id where r.lms_user_id = 'u7'`,
    )
    expect(choices).toEqual([{ category: 'announcements', frequency: 'off' }])
    const [learner] = await rows<{ unsubscribed_at: string | null }>(db, sql`select unsubscribed_at from recipients where lms_user_id = 'u7'`)
    expect(learner!.unsubscribed_at).toBeNull()
  })
})
