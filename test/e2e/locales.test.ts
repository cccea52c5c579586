// A learner's language and time zone, end to end through a real SMTP
// server: a Quebec learner gets a French reminder with the deadline in
// Montreal time written the French way; an Arabic reader gets a
// right-to-left email; the learner pages speak the reader's language.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { links } from '../support/mail.ts'
import { allMessages } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

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

const course = { id: 'c-fr', title: 'Statistique 101' }

describe('in the reader\'s language', () => {
  test('fr-CA in America/Montreal: a French reminder, the deadline in Montreal time, the French way', async () => {
    const learner = { id: 'u-qc', email: 'camille@learner.test', name: 'Camille', locale: 'fr-CA', timezone: 'America/Montreal' }
    // Friday 15 March 2030, 16:00 UTC: noon in Montreal (daylight time since the 10th).
    const item = { id: 'qc-1', kind: 'assignment', title: 'Devoir 3', due_at: '2030-03-15T16:00:00Z' }
    expect((await t.post('deadline.scheduled', { users: [learner], course, item })).status).toBe(202)
    // Time passes: the 48-hour reminder falls due now.
    const [first] = (await allMessages(t.service.database.db)).filter((m) => m.subjectRef === 'deadline:qc-1')
    await t.service.database.db.execute(sql`update messages set run_at = now() where id = ${first!.id}`)
    t.service.worker?.wake()
    const [mail] = await sink.waitFor(1, 10_000)
    expect(mail!.parsed.headers.get('content-language')).toBe('fr')
    expect(String(mail!.parsed.html)).toContain('<html lang="fr" dir="ltr"')
    expect(mail!.parsed.text).toContain('vendredi 15 mars 2030, 12 h 00 (America/Montreal)')
    // The LMS says "assignment"; a French reader reads "devoir".
    expect(mail!.parsed.text).toContain('(devoir)')
    expect(mail!.parsed.subject).toContain('Devoir 3')
    expect(mail!.parsed.subject).not.toMatch(/\bDue\b/)
  })

  test('Arabic: right to left, in Arabic', async () => {
    sink.reset()
    const learner = { id: 'u-ar', email: 'amal@learner.test', name: 'أمل', locale: 'ar', timezone: 'Asia/Riyadh' }
    await t.post('user.registered', { user: learner })
    const mails = await sink.waitFor(2, 10_000)
    const mail = mails.find((m) => m.envelope.to[0] === learner.email)!
    expect(String(mail.parsed.html)).toContain('<html lang="ar" dir="rtl"')
    expect(mail.parsed.subject).toMatch(/[\u0600-\u06FF]/)
    expect(mail.parsed.text).toMatch(/[\u0600-\u06FF]/)

    // Their preference page, from the link in that email, speaks Arabic too, right to left.
    const link = links(mail).find((url) => url.includes('/preferences/'))!
    const page = await (await t.send(new Request(link))).text()
    expect(page).toContain('<html lang="ar" dir="rtl">')
    expect(page).toMatch(/<h1>[\u0600-\u06FF][^<]*<\/h1>/)
  })

  test('a German learner\'s preference page is in German; an unknown language falls back to English', async () => {
    const preferences = (recipientId: string) => `http://belfry.test/preferences/${t.service.signer.sign('preferences', { recipientId })}`
    for (const [id, locale, lang] of [['u-de', 'de-AT', 'de-AT'], ['u-ja', 'ja', 'en']] as const) {
      await t.post('user.updated', { user: { id, email: `${id}@learner.test`, locale } })
      const recipientId = (await findRecipientId(t.service.database.db, id))!
      const page = await (await t.send(new Request(preferences(recipientId)))).text()
      expect(page).toContain(`<html lang="${lang}" dir="ltr">`)
      expect(page.includes('<h1>Email preferences</h1>')).toBe(lang === 'en')
    }
  })
})
