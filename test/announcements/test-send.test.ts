// "Send a test" on the compose page: the saved version goes to the one
// address the admin typed, marked as a test, through the real transport
// (here an SMTP sink), and nothing is sent to the segment.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { ADMIN_PASSWORD, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { adminPost, announcementRow, BODY, createAnnouncement, seedLearners } from './support.ts'

let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ORG_POSTAL_ADDRESS: '1 Campus Way, Springfield' })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})

test('a test goes to the typed address only, marked as a test, in the layout', async () => {
  await seedLearners(t.service.database.db, 3)
  const cookie = await signIn(t, ADMIN)
  const id = await createAnnouncement(t, cookie)

  const refused = await adminPost(t, cookie, `/admin/announcements/${id}/test`, { ...BODY, segment: 'everyone', test_to: 'not an address' })
  expect(refused.status).toBe(422)
  expect(sink.messages).toHaveLength(0)

  const sent = await adminPost(t, cookie, `/admin/announcements/${id}/test`, { ...BODY, segment: 'everyone', test_to: 'editor@school.test' })
  expect(sent.status).toBe(200)
  expect(await sent.text()).toContain('Test sent to editor@school.test')
  const [mail] = await sink.waitFor(1)
  expect(mail!.envelope.to).toEqual(['editor@school.test'])
  expect(mail!.parsed.subject).toBe(`[Test] ${BODY.subject}`)
  expect(mail!.parsed.text).toContain('the platform is down from 08:00 to 10:00 UTC')
  expect(String(mail!.parsed.html)).toContain('1 Campus Way, Springfield')

  // Still a draft; no learner's email was written.
  expect((await announcementRow(t.service.database.db, id)).state).toBe('draft')
  const [outbox] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from messages`)
  expect(outbox!.n).toBe(0)
  await Bun.sleep(200)
  expect(sink.messages).toHaveLength(1)
})
