// Protects admin alerts: an LMS's system.error folded by fingerprint, and
// Belfry's own alerts (dead-letter bursts, a failing transport, a stuck
// queue) raised once, folded the same way, and never about themselves.
// Through a real SMTP server; the clock is driven by moving rows' times.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { healthAlerts, DEFAULT_HEALTH_THRESHOLDS } from '../../src/jobs/health.ts'
import { loadHealthFacts, type HealthFacts } from '../../src/jobs/queries.ts'
import { allMessages, eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

const MINUTE = 60_000
let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, MAX_ATTEMPTS: '1', DEAD_LETTER_ALERT: '10' })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})
beforeEach(async () => {
  sink.reset()
  sink.acceptAll()
  // Each test starts from an empty outbox: what the health check counts is what the test made.
  await t.service.database.db.execute(sql`truncate messages, events cascade`)
})

const thresholds = { ...DEFAULT_HEALTH_THRESHOLDS, deadLetters: 10 }
const now = new Date('2026-12-10T12:00:00Z')
const ago = (ms: number) => new Date(now.getTime() - ms)
const quiet: HealthFacts = { deadLast5m: 0, oldestDueSince: null, waiting: 0, failing: [] }

describe('healthAlerts', () => {
  test('nothing wrong, nothing raised', () => {
    expect(healthAlerts(quiet, thresholds, now)).toEqual([])
  })

  test('dead letters: at the threshold, not below it, never when the check is off', () => {
    expect(healthAlerts({ ...quiet, deadLast5m: 9 }, thresholds, now)).toEqual([])
    expect(healthAlerts({ ...quiet, deadLast5m: 10 }, thresholds, now).map((a) => a.fingerprint)).toEqual(['belfry:dead-letters'])
    expect(healthAlerts({ ...quiet, deadLast5m: 500 }, { ...thresholds, deadLetters: 0 }, now)).toEqual([])
  })

  test('a transport: failing for 5 minutes and still failing raises; 4 minutes, or silent since, does not', () => {
    const failing = (since: number, last: number) => ({
      ...quiet,
      failing: [{ transport: 'smtp', since: ago(since), lastFailure: ago(last), failures: 12, lastError: '421 try later' }],
    })
    expect(healthAlerts(failing(4 * MINUTE, 10_000), thresholds, now)).toEqual([])
    expect(healthAlerts(failing(30 * MINUTE, 3 * MINUTE), thresholds, now)).toEqual([])
    const [alert] = healthAlerts(failing(6 * MINUTE, 10_000), thresholds, now)
    expect(alert?.fingerprint).toBe('belfry:transport:smtp')
    expect(alert?.message).toBe('Every attempt through the smtp transport has failed for 6 minutes (12 failures, none sent). Last error: 421 try later')
  })

  test('a queue whose oldest due message has waited 10 minutes', () => {
    expect(healthAlerts({ ...quiet, oldestDueSince: ago(9 * MINUTE), waiting: 3 }, thresholds, now)).toEqual([])
    const [alert] = healthAlerts({ ...quiet, oldestDueSince: ago(12 * MINUTE), waiting: 1204 }, thresholds, now)
    expect(alert?.message).toBe('The oldest message waiting to be sent has waited 12 minutes; 1204 are waiting.')
  })
})

async function alertsFor(fingerprint: string) {
  return (await allMessages(t.service.database.db)).filter((m) => m.foldKey === `system_error:${fingerprint}`)
}

describe('system.error from the LMS', () => {
  test('50 with one fingerprint in 5 minutes: one alert, then one follow-up with the count', async () => {
    const error = { source: 'moodle-cron', message: 'Backup failed: disk full', severity: 'error', fingerprint: 'disk' }
    await t.post('system.error', { error })
    await eventually(async () => (await alertsFor('disk'))[0]?.state === 'sent' || undefined)
    for (let i = 0; i < 49; i++) expect((await t.post('system.error', { error })).status).toBe(202)

    const [first, followUp, ...more] = await alertsFor('disk')
    expect(more).toEqual([])
    expect([first!.state, first!.variables.count]).toEqual(['sent', 1])
    expect([followUp!.state, followUp!.variables.count]).toEqual(['scheduled', 49])
    expect(followUp!.runAt.getTime() - first!.runAt.getTime()).toBe(15 * MINUTE)

    // The window closes: the follow-up goes, once, with the count.
    await t.service.database.db.execute(sql`update messages set run_at = now() where id = ${followUp!.id}`)
    t.service.worker?.wake()
    const [, second] = await sink.waitFor(2, 10_000)
    expect(second!.envelope.to).toEqual([ADMIN])
    expect(second!.parsed.text).toContain('Seen:        49 times')
    await Bun.sleep(200)
    expect(sink.messages).toHaveLength(2)
  })
})

describe("Belfry's own alerts", () => {
  const learner = (i: number) => ({ id: `dl-${i}`, email: `dl${i}@learner.test` })

  test('a burst of dead letters: one alert; the next minute it folds instead of mailing again', async () => {
    sink.failAlways(550, '5.1.1 No such user')
    for (let i = 0; i < 12; i++) {
      await t.post('password_reset.requested', { user: learner(i), reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
    }
    await eventually(async () => (await allMessages(t.service.database.db)).filter((m) => m.state === 'dead').length === 12 || undefined)
    sink.acceptAll()

    expect(await t.service.jobs!.trigger('health')).toBe('ran')
    const [mail] = await sink.waitFor(1, 10_000)
    expect(mail!.envelope.to).toEqual([ADMIN])
    expect(mail!.parsed.subject).toStartWith('[critical] Belfry: 12 messages went to the dead-letter queue in the last 5 minutes.')
    expect(mail!.parsed.text).toContain("each one's reason is on the dead letters page")

    await eventually(async () => (await alertsFor('belfry:dead-letters'))[0]?.state === 'sent' || undefined)
    expect(await t.service.jobs!.trigger('health', new Date(Date.now() + MINUTE))).toBe('ran')
    const alerts = await alertsFor('belfry:dead-letters')
    expect(alerts.map((m) => [m.state, m.variables.count])).toEqual([
      ['sent', 1],
      ['scheduled', 1],
    ])
    await Bun.sleep(200)
    expect(sink.messages).toHaveLength(1)
  })

  test('never about themselves: alerts that cannot be delivered raise no alert', async () => {
    sink.failRecipient(ADMIN, 550, '5.7.1 refused by policy')
    for (let i = 0; i < 12; i++) {
      await t.post('system.error', { error: { source: 'lms', message: `error ${i}`, severity: 'error', fingerprint: `f-${i}` } })
    }
    await eventually(async () => (await allMessages(t.service.database.db)).filter((m) => m.state === 'dead').length === 12 || undefined)
    await t.service.jobs!.trigger('health')
    expect(await alertsFor('belfry:dead-letters')).toEqual([])
    expect(await rows(t.service.database.db, sql`select 1 from events where data->'error'->>'source' = 'Belfry'`)).toEqual([])
  })

  test('a transport failing and a queue standing still, read from the outbox', async () => {
    const db = t.service.database.db
    // A message that waited 12 minutes, and an smtp transport that failed for 7 of them.
    await t.post('password_reset.requested', { user: learner(99), reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
    const message = await eventually(async () => (await allMessages(db)).find((m) => m.state === 'sent'))
    await t.service.worker?.stop()
    try {
      // It was sent 20 minutes ago; since then, nothing has got through.
      await db.execute(sql`update delivery_attempts set finished_at = now() - interval '20 minutes' where message_id = ${message.id}`)
      await db.execute(sql`update messages set state = 'retrying', run_at = now() - interval '12 minutes' where id = ${message.id}`)
      for (const minutesAgo of [7, 5, 3, 1]) {
        await db.execute(sql`
          insert into delivery_attempts (message_id, attempt, transport, outcome, code, response, started_at, finished_at)
          values (${message.id}, 1, 'smtp', 'transient', '421', '421 4.3.2 Service not available',
                  now() - ${minutesAgo} * interval '1 minute', now() - ${minutesAgo} * interval '1 minute')`)
      }
      const facts = await loadHealthFacts(db)
      expect(facts.waiting).toBe(1)
      const alerts = healthAlerts(facts, thresholds, new Date())
      expect(alerts.map((a) => a.fingerprint)).toEqual(['belfry:transport:smtp', 'belfry:queue-age'])
      expect(alerts[0]!.message).toContain('for 7 minutes (4 failures, none sent). Last error: 421 4.3.2 Service not available')
      expect(alerts[1]!.message).toBe('The oldest message waiting to be sent has waited 12 minutes; 1 are waiting.')
    } finally {
      await t.service.worker?.start()
    }
  })
})
