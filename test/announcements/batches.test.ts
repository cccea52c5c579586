// Protects issue 12's send: a 5,000-learner announcement is expanded into
// the outbox in transactions of at most ANNOUNCE_BATCH rows (here 500),
// every learner gets exactly one email (the file transport's .eml files,
// counted by their To header), and learners who opted out of announcements
// or of everything, or whose address is suppressed, get none and their rows
// say why. A learner who turned off another category still gets it.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { ADMIN_PASSWORD, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { adminPost, announcementRow, createAnnouncement, everyHundredth, learnerAddress, rowsByState, seedLearners, sendToTheEnd } from './support.ts'

const LEARNERS = 5000
const BATCH = 500

let t: TestService
let id: string
let expansionMs: number
let sendMs: number

beforeAll(async () => {
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORT: 'file', ANNOUNCE_BATCH: String(BATCH) }, { pollMs: 20 })
  const db = t.service.database.db
  await seedLearners(db, LEARNERS)
  // 50 turned announcements off, 50 unsubscribed from everything, 50 suppressed, 50 turned only reminders off.
  await db.execute(sql`insert into preferences (recipient_id, category, frequency) select id, 'announcements', 'off' from recipients where ${everyHundredth(1)}`)
  await db.execute(sql`update recipients set unsubscribed_at = now() where ${everyHundredth(2)}`)
  await db.execute(sql`insert into suppressions (email, reason) select lower(email), 'hard_bounce' from recipients where ${everyHundredth(3)}`)
  await db.execute(sql`insert into preferences (recipient_id, category, frequency) select id, 'reminders', 'off' from recipients where ${everyHundredth(4)}`)
  const cookie = await signIn(t, ADMIN)
  id = await createAnnouncement(t, cookie)
  const started = Date.now()
  expect((await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'now' })).status).toBe(303)
  await sendToTheEnd(t, id, 120_000)
  sendMs = Date.now() - started
  const [span] = await rows<{ ms: number }>(
    db,
    sql`select (extract(epoch from max(created_at) - min(created_at)) * 1000)::float8 as ms from messages where subject_ref = ${`announcement:${id}`}`,
  )
  expansionMs = span!.ms
}, 180_000)

afterAll(async () => {
  await t?.stop()
})

describe('a 5,000-learner announcement', () => {
  test('is expanded in transactions of at most ANNOUNCE_BATCH rows', async () => {
    const db = t.service.database.db
    // Rows written in one transaction share its now(): created_at tells the transactions apart.
    const perTransaction = await rows<{ n: number; batches: number }>(
      db,
      sql`select count(*)::int as n, count(distinct variables->'announcement'->>'batch')::int as batches from messages
          where subject_ref = ${`announcement:${id}`} group by created_at order by min(variables->'announcement'->>'batch')`,
    )
    expect(perTransaction.length).toBe(LEARNERS / BATCH)
    for (const transaction of perTransaction) {
      expect(transaction.n).toBe(BATCH)
      expect(transaction.batches).toBe(1)
    }
    expect(await announcementRow(db, id)).toEqual({ state: 'done', expanded: LEARNERS, batches: LEARNERS / BATCH, total: LEARNERS })
    console.log(`5,000 learners: written over ${Math.round(expansionMs)} ms, all sent or skipped in ${sendMs} ms`)
  })

  test('every learner gets exactly one email; opted-out and suppressed ones none, with the reason', async () => {
    const dir = join(t.dataDir, 'mail')
    const to = readdirSync(dir)
      .filter((name) => name.endsWith('.eml'))
      .map((name) => /^To: (?:.*<)?([^>\r\n]+)>?\r?$/m.exec(readFileSync(join(dir, name), 'utf8'))?.[1])
    const counts = new Map<string, number>()
    for (const address of to) counts.set(address!, (counts.get(address!) ?? 0) + 1)
    expect([...counts.values()].every((n) => n === 1)).toBe(true)
    const expected = new Set<string>()
    for (let n = 1; n <= LEARNERS; n++) if (![1, 2, 3].includes(n % 100)) expected.add(learnerAddress(n))
    expect(counts.size).toBe(expected.size)
    expect([...counts.keys()].every((address) => expected.has(address))).toBe(true)
    // A learner who only turned reminders off is among them.
    expect(counts.get(learnerAddress(104))).toBe(1)

    expect(await rowsByState(t.service.database.db, id)).toEqual({
      sent: LEARNERS - 150,
      'skipped:preference': 100,
      'skipped:suppressed': 50,
    })
  })

  test('the admin page shows the results and the reasons', async () => {
    const cookie = await signIn(t, ADMIN)
    const page = await (await t.send(new Request(`http://belfry.test/admin/announcements/${id}`, { headers: { cookie } }))).text()
    expect(page).toContain('value="100"')
    expect(page).toContain('skipped: preference: 100')
    expect(page).toContain('skipped: suppressed: 50')
    expect(page).toContain(`<td>${LEARNERS - 150}</td>`)
  })
})
