// A learner who takes announcements as a daily digest finds the
// announcement in it under its own subject, as they would have seen it in
// their inbox, even though this process never compiled the announcement's
// body before the digest was built (the worker only folded the row).

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { ADMIN_PASSWORD, signIn } from '../support/admin.ts'
import { eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { adminPost, BODY, createAnnouncement, learnerAddress, seedLearners } from './support.ts'

let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { pollMs: 20 })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})

test('an announcement taken as a daily digest is listed under its subject', async () => {
  const db = t.service.database.db
  await seedLearners(db, 1)
  await db.execute(sql`insert into preferences (recipient_id, category, frequency) select id, 'announcements', 'daily' from recipients`)
  const cookie = await signIn(t, ADMIN)
  const id = await createAnnouncement(t, cookie)
  expect((await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'now' })).status).toBe(303)

  const [folded] = await eventually(async () => {
    await t.service.jobs!.trigger('announcements')
    const found = await rows<{ state: string; run_at: Date }>(db, sql`select state::text, run_at from messages where subject_ref = ${`announcement:${id}`}`)
    return found[0]?.state === 'digested' && found
  }, 10_000, 'the announcement folded into the digest')
  expect(sink.messages).toHaveLength(0)

  expect(await t.service.jobs!.runDigests(new Date(folded!.run_at))).toMatchObject({ digests: 1, items: 1 })
  const [mail] = await sink.waitFor(1, 10_000)
  expect(mail!.envelope.to).toEqual([learnerAddress(1)])
  expect(mail!.parsed.text).toContain(BODY.subject)
})
