// Protects an A/B test end to end: a template declares two subjects; each
// new learner gets one by hash and keeps it; opens by people (through the
// real tracking pixel) are counted per variant; with auto_promote, the job
// promotes the clear winner and from then on every learner gets it.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { assignVariant } from '../../src/experiments/assign.ts'
import { loadDecisions } from '../../src/experiments/queries.ts'
import { experimentResults } from '../../src/experiments/results.ts'
import { eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../support/smtp-sink.ts'
import { open, sendsAMinuteAgo, SUBJECT_A, SUBJECT_B, templatesWithExperiment } from './support.ts'

let sink: SmtpSink
let t: TestService
let templates: Awaited<ReturnType<typeof templatesWithExperiment>>

beforeAll(async () => {
  sink = await startSmtpSink()
  templates = await templatesWithExperiment('\nauto_promote: true')
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { templatesDir: templates.dir })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
  await templates.remove()
})

const learner = (i: number) => ({ id: `ab-${i}`, email: `ab${i}@learner.test`, name: `Learner ${i}` })

/** Welcome emails sent so far in this file. */
let welcomed = 0

async function welcomes(count: number, from: number): Promise<ReceivedMessage[]> {
  sink.reset()
  for (let i = from; i < from + count; i++) expect((await t.post('user.registered', { user: learner(i) })).status).toBe(202)
  // Each registration also alerts the admin.
  const received = await sink.waitFor(count * 2, 30_000)
  // The server has each email a moment before the worker records it as sent.
  welcomed += count
  await eventually(async () => {
    const [row] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from messages where state = 'sent' and notification = 'welcome'`)
    return row!.n >= welcomed || undefined
  }, 10_000, 'the welcomes to be recorded as sent')
  return received.filter((m) => m.envelope.to[0]!.endsWith('@learner.test'))
}

describe('a subject A/B test with auto_promote', () => {
  test('split by hash, counted by human opens, and the clear winner promoted', async () => {
    const mails = await welcomes(260, 0)
    const bySubject = (subject: string) => mails.filter((m) => m.parsed.subject === subject)
    const [a, b] = [bySubject(SUBJECT_A), bySubject(SUBJECT_B)]
    expect(a.length + b.length).toBe(260)
    // Who got which is the hash's choice, the same as assignVariant gives for that learner.
    const [row] = await rows<{ id: string; variant: string }>(
      t.service.database.db,
      sql`select r.id, m.variant from messages m join recipients r on r.id = m.recipient_id where r.lms_user_id = 'ab-7' and m.notification = 'welcome'`,
    )
    expect(row!.variant).toBe(assignVariant('welcome-subject', row!.id, [{ name: 'a', weight: 50 }, { name: 'b', weight: 50 }]))
    expect(a.length).toBeGreaterThan(100)
    expect(b.length).toBeGreaterThan(100)

    // People open one in two of B and one in ten of A.
    await sendsAMinuteAgo(t)
    for (const [i, mail] of b.entries()) if (i % 2 === 0) await open(t, mail)
    for (const [i, mail] of a.entries()) if (i % 10 === 0) await open(t, mail)

    const experiment = t.service.templates.experiments().find((e) => e.id === 'welcome-subject')!
    const results = await experimentResults(t.service.database.db, experiment)
    const variant = (name: string) => results.variants.find((v) => v.variant === name)!
    expect([variant('a').sent, variant('b').sent]).toEqual([a.length, b.length])
    expect(variant('b').humanOpens).toBe(Math.ceil(b.length / 2))
    expect(results.winner).toBe('b')

    expect(await t.service.jobs!.trigger('experiments')).toBe('ran')
    expect((await loadDecisions(t.service.database.db)).get('welcome-subject')).toMatchObject({ status: 'promoted', variant: 'b', by: 'auto' })

    // Every process picks the decision up from settings; from then on, everyone gets B.
    await t.service.experiments.refresh()
    const after = await welcomes(20, 1000)
    expect(new Set(after.map((m) => m.parsed.subject))).toEqual(new Set([SUBJECT_B]))
  }, 90_000)
})
