// Protects delivery through a real SMTP server: transient failures retry
// with the same Message-ID and every attempt is recorded; permanent ones and
// exhausted retries end dead; a crashed sender's row is sent after its lease
// runs out; two workers never send one row twice.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { messages } from '../../src/db/schema/index.ts'
import { createLogger } from '../../src/log.ts'
import { claimDue, markSent } from '../../src/outbox/queries.ts'
import { allMessages, attemptsOf, eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.ts'

let sink: SmtpSink
beforeAll(async () => {
  sink = await startSmtpSink()
})
afterAll(() => sink.close())

const running: TestService[] = []
async function start(env: Record<string, string> = {}, testDb?: TestDatabase) {
  const t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ...env }, testDb ? { testDb } : {})
  running.push(t)
  return t
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.stop()))
  sink.reset()
})

const learner = (id: string) => ({ id, email: `${id}@learner.test`, name: `Learner ${id}` })
// password_reset: one learner email, no admin alert; the simplest single message.
const reset = (id: string) => ({
  user: learner(id),
  reset: { url: `https://lms.test/reset/${id}`, expires_at: '2030-01-01T00:00:00Z' },
})

describe('outbox delivery over SMTP', () => {
  test('451 twice, then accepted: delivered on the third attempt, three attempts recorded, one Message-ID', async () => {
    const t = await start()
    sink.failNext(2, 451, '4.3.0 mailbox busy, try later')
    expect((await t.post('password_reset.requested', reset('r1'))).status).toBe(202)
    const [received] = await sink.waitFor(1, 10_000)
    const [row] = await eventually(async () => {
      const rows = await allMessages(t.service.database.db)
      return rows[0]?.state === 'sent' && rows
    })
    expect(row!.attempts).toBe(3)
    expect(received!.parsed.messageId).toBe(row!.messageIdHeader)
    expect(received!.envelope.to).toEqual(['r1@learner.test'])
    const attempts = await attemptsOf(t.service.database.db, row!.id)
    expect(attempts.map((a) => [a.attempt, a.outcome, a.code])).toEqual([
      [1, 'transient', '451'],
      [2, 'transient', '451'],
      [3, 'sent', '250'],
    ])
    expect(attempts[0]!.response).toContain('mailbox busy')
    expect(attempts.every((a) => a.transport === 'smtp')).toBe(true)
    expect(sink.rejected).toBe(2)
  })

  test('550: dead after one attempt, with the server\'s answer kept', async () => {
    const t = await start()
    sink.failAlways(550, '5.1.1 no such user here', { at: 'rcpt' })
    await t.post('password_reset.requested', reset('r2'))
    const row = await eventually(async () => {
      const [m] = await allMessages(t.service.database.db)
      return m?.state === 'dead' && m
    })
    expect(row.attempts).toBe(1)
    expect(row.lastError).toContain('no such user')
    const attempts = await attemptsOf(t.service.database.db, row.id)
    expect(attempts.map((a) => [a.outcome, a.code])).toEqual([['permanent', '550']])
  })

  test('a server that keeps answering 4xx: dead once MAX_ATTEMPTS is used up', async () => {
    const t = await start({ MAX_ATTEMPTS: '3' })
    sink.failAlways(421, '4.7.0 too many connections')
    await t.post('password_reset.requested', reset('r3'))
    const row = await eventually(async () => {
      const [m] = await allMessages(t.service.database.db)
      return m?.state === 'dead' && m
    })
    expect(row.attempts).toBe(3)
    expect(row.lastError).toContain('gave up after 3 attempts')
    expect((await attemptsOf(t.service.database.db, row.id)).map((a) => a.outcome)).toEqual([
      'transient',
      'transient',
      'transient',
    ])
    expect(sink.messages).toHaveLength(0)
  })

  test('a sender that stopped mid-send: its row is sent once the lease runs out, with the same Message-ID', async () => {
    const api = await start({ ROLE: 'api' })
    await api.post('password_reset.requested', reset('r4'))
    // A process claims the row and dies before finishing: its lease is all that is left.
    const [claimed] = await claimDue(api.service.database.db, 'crashed-process', 10, 300)
    expect(claimed).toBeDefined()
    expect((await allMessages(api.service.database.db))[0]?.state).toBe('sending')

    const worker = await start({}, api.testDb)
    const [received] = await sink.waitFor(1, 10_000)
    expect(received!.parsed.messageId).toBe(claimed!.messageIdHeader)
    const row = await eventually(async () => {
      const [m] = await allMessages(worker.service.database.db)
      return m?.state === 'sent' && m
    })
    const attempts = await attemptsOf(worker.service.database.db, row.id)
    expect(attempts.map((a) => [a.attempt, a.outcome])).toEqual([
      [1, 'interrupted'],
      [2, 'sent'],
    ])
  })

  test('a row leased by a live sender is not taken by another worker, which still sends the rest', async () => {
    const api = await start({ ROLE: 'api' })
    await api.post('password_reset.requested', reset('r5'))
    await claimDue(api.service.database.db, 'busy-process', 10, 60_000)
    await api.post('password_reset.requested', reset('r6'))
    await start({}, api.testDb)
    const [received] = await sink.waitFor(1, 10_000)
    await Bun.sleep(300)
    expect(sink.messages).toHaveLength(1)
    expect(received!.envelope.to).toEqual(['r6@learner.test'])
    const leased = (await allMessages(api.service.database.db)).find((m) => m.toAddress === 'r5@learner.test')
    expect([leased?.state, leased?.leaseOwner]).toEqual(['sending', 'busy-process'])
  })

  test('a message whose template cannot render is dead at once, with the reason', async () => {
    const api = await start({ ROLE: 'api' })
    await api.post('password_reset.requested', reset('r7'))
    const db = api.service.database.db
    await db.update(messages).set({ notification: 'no_such_notification' })
    await start({}, api.testDb)
    const row = await eventually(async () => {
      const [m] = await allMessages(db)
      return m?.state === 'dead' && m
    })
    expect(row.lastError).toContain('render failed')
    expect((await attemptsOf(db, row.id)).map((a) => [a.outcome, a.code])).toEqual([['permanent', 'render']])
    expect(sink.messages).toHaveLength(0)
  })

  test('a message that crashed its sender MAX_ATTEMPTS times is dead, with no attempt invented', async () => {
    const api = await start({ ROLE: 'api', MAX_ATTEMPTS: '2' })
    await api.post('password_reset.requested', reset('r8'))
    const db = api.service.database.db
    for (const owner of ['crash-1', 'crash-2']) {
      expect(await claimDue(db, owner, 10, 1)).toHaveLength(1)
      await Bun.sleep(10)
    }
    await start({ MAX_ATTEMPTS: '2' }, api.testDb)
    const row = await eventually(async () => {
      const [m] = await allMessages(db)
      return m?.state === 'dead' && m
    })
    expect(row.lastError).toContain('interrupted')
    // The second crash is recorded when the row is taken over; nothing after it.
    expect((await attemptsOf(db, row.id)).map((a) => [a.attempt, a.outcome])).toEqual([[2, 'interrupted']])
    expect(sink.messages).toHaveLength(0)
  })

  test('a sender whose lease was taken over cannot settle the newer claim', async () => {
    const api = await start({ ROLE: 'api' })
    await api.post('password_reset.requested', reset('r9'))
    const db = api.service.database.db
    const [first] = await claimDue(db, 'slow-process', 10, 1)
    await Bun.sleep(10)
    const [second] = await claimDue(db, 'slow-process', 10, 60_000) // the same process, claiming it again
    const record = { transport: 'smtp', outcome: 'sent' as const, code: '250', response: 'ok', startedAt: new Date() }
    expect(await markSent(db, first!.id, 'slow-process', { subject: 'subject', providerMessageId: null, experiment: null, variant: null }, { ...record, attempt: first!.attempts })).toBe(false)
    expect((await allMessages(db))[0]?.state).toBe('sending')
    expect(await markSent(db, second!.id, 'slow-process', { subject: 'subject', providerMessageId: null, experiment: null, variant: null }, { ...record, attempt: second!.attempts })).toBe(true)
    expect((await allMessages(db))[0]?.state).toBe('sent')
    // Both sends happened, so both are on record.
    expect((await attemptsOf(db, first!.id)).map((a) => a.attempt)).toEqual([1, 2])
  })

  test('two workers on one database never send the same row twice', async () => {
    const testDb = await createTestDatabase()
    try {
      // On Postgres the second worker has its own connection pool (another session);
      // PGlite is one session, so there both workers share it.
      const second = onPostgres ? await testDb.openAnother() : testDb.database
      const a = await start({ WORKER_CONCURRENCY: '8' }, testDb)
      const b = await start({ WORKER_CONCURRENCY: '8' }, { ...testDb, database: second })
      const count = 120
      await Promise.all(
        Array.from({ length: count }, (_, i) => (i % 2 ? a : b).post('password_reset.requested', reset(`p${i}`))),
      )
      const received = await sink.waitFor(count, 20_000)
      await Bun.sleep(200)
      const ids = sink.messages.map((m) => m.parsed.messageId)
      expect(new Set(ids).size).toBe(count)
      expect(ids).toHaveLength(count)
      expect(received.length).toBe(count)
      const rows = await allMessages(testDb.database.db)
      expect(rows.every((r) => r.state === 'sent' && r.attempts === 1)).toBe(true)
    } finally {
      await Promise.all(running.splice(0).map((t) => t.stop()))
      await testDb.drop()
    }
  }, 60_000)
})

describe('send slots', () => {
  test('a stalled server holds the only slot: the waiting message goes back to the queue unsent, then is sent once', async () => {
    const lines: string[] = []
    const log = createLogger('warn', {}, (line) => lines.push(line))
    // LEASE_MS 1500: a third of it (500 ms) is how long a claimed message may wait for a slot;
    // the stalled send itself gives up at two thirds (990 ms) and is retried.
    const t = await startTestService(
      { MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, WORKER_CONCURRENCY: '1', LEASE_MS: '1500' },
      { log },
    )
    running.push(t)
    sink.hangNext(1)
    await t.post('password_reset.requested', reset('slot-1'))
    await t.post('password_reset.requested', reset('slot-2'))
    const received = await sink.waitFor(2, 15_000)
    expect(received.map((m) => m.envelope.to[0]).sort()).toEqual(['slot-1@learner.test', 'slot-2@learner.test'])
    expect(lines.some((line) => line.includes('no send slot came free in time'))).toBe(true)
    const rows = await eventually(async () => {
      const all = await allMessages(t.service.database.db)
      return all.every((m) => m.state === 'sent') && all
    })
    // The requeue gave its attempt back: only real tries count.
    for (const row of rows) {
      const attempts = await attemptsOf(t.service.database.db, row.id)
      expect(row.attempts).toBe(attempts.length)
    }
    await Bun.sleep(200)
    expect(sink.messages.length).toBe(2)
  })
})
