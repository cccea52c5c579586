// Protects SMTP_MAX_PER_SECOND / SES_MAX_PER_SECOND: the limit holds for
// all processes together, measured where it matters — at the receiving
// server — and the shared count is taken in chunks, not per message.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { rateShape, SendRateLimiter, windowCapacity } from '../../src/transport/rate-limit.ts'
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.ts'
import { startTestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

describe('rateShape', () => {
  test('quarter-second windows once the rate fills them, whole seconds below that, longer windows below one a second', () => {
    expect(rateShape(20)).toEqual({ windowMs: 250, perSecond: 20, chunk: 3 })
    expect(rateShape(2)).toEqual({ windowMs: 1000, perSecond: 2, chunk: 1 })
    expect(rateShape(0.5)).toEqual({ windowMs: 2000, perSecond: 0.5, chunk: 1 })
  })

  test('windows of a fractional rate add up to it exactly', () => {
    const shape = rateShape(14.5)
    const second = (start: number) => [0, 250, 500, 750].reduce((sum, at) => sum + windowCapacity(shape, start + at), 0)
    expect([0, 250, 500, 750].map((at) => windowCapacity(shape, at))).toEqual([3, 4, 3, 4])
    expect(second(0) + second(1000)).toBe(29)
    expect(windowCapacity(rateShape(0.5), 0)).toBe(1)
  })
})

describe('SendRateLimiter', () => {
  let testDb: TestDatabase
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(async () => {
    await testDb.drop()
  })

  test('two limiters on one database share one window: together they get exactly its share of the rate', async () => {
    // A clock stopped in one window: nothing beyond its capacity may be granted, whoever asks.
    const now = () => 5_000_500
    const other = onPostgres ? await testDb.openAnother() : testDb.database
    const a = new SendRateLimiter(testDb.database.db, { smtp: 40 }, now)
    const b = new SendRateLimiter(other.db, { smtp: 40 }, now)
    let granted = 0
    const race = (limiter: SendRateLimiter) =>
      Array.from({ length: 15 }, () => Promise.race([limiter.acquire('smtp').then(() => granted++), Bun.sleep(300)]))
    await Promise.all([...race(a), ...race(b)])
    expect(granted).toBe(10)
    if (onPostgres) await other.close()
  })

  test('a transport without a limit is never held', async () => {
    const limiter = new SendRateLimiter(testDb.database.db, { ses: 1 })
    for (let i = 0; i < 50; i++) await limiter.acquire('smtp')
    expect(limiter.limits('smtp')).toBe(false)
  })
})

// Two processes means two database sessions: PGlite is one in-process session, and sharing it (and
// this thread's time) between two services measures the embedding, not the limiter.
describe.skipIf(!onPostgres)('across two processes (real Postgres only)', () => {
  let sink: SmtpSink
  beforeAll(async () => {
    sink = await startSmtpSink()
  })
  afterAll(async () => {
    await sink.close()
  })

  test('SMTP_MAX_PER_SECOND=20: 200 messages take no less than about 10 s at the server, never over 20 in a second', async () => {
    const testDb = await createTestDatabase()
    const env = { MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, SMTP_MAX_PER_SECOND: '20', WORKER_CONCURRENCY: '16' }
    const a = await startTestService(env, { testDb })
    const b = await startTestService(env, { testDb: { ...testDb, database: await testDb.openAnother() } })
    try {
      const user = (i: number) => ({ id: `rl-${i}`, email: `rl${i}@learner.test` })
      // Each process opens its SMTP connections first: the handshake of a cold pool would hold the
      // first window's sends back and land them on the server together with the next ones.
      for (const [i, t] of [a, b].entries()) {
        await t.post('password_reset.requested', { user: user(1000 + i), reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
      }
      await sink.waitFor(2, 10_000)
      await Bun.sleep(1000)
      sink.reset()
      for (let i = 0; i < 200; i++) {
        const service = i % 2 === 0 ? a : b
        await service.post('password_reset.requested', { user: user(i), reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
      }
      const received = await sink.waitFor(200, 30_000)
      const times = received.map((m) => m.receivedAt.getTime()).sort((x, y) => x - y)
      // 40 quarter-second windows of 5: the first may be used up at its very end and the last as
      // soon as it opens, so the span is at least 38 whole windows.
      const span = times[199]! - times[0]!
      const perSecond = new Map<number, number>()
      for (const at of times) perSecond.set(Math.floor(at / 1000), (perSecond.get(Math.floor(at / 1000)) ?? 0) + 1)
      // Measured at the server, a send granted at the end of one window can land in the next: a
      // calendar second may hold its 20 and a quarter second's 5 from the one before.
      expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(25)
      expect(span).toBeGreaterThanOrEqual(9_500)
    } finally {
      await b.stop()
      await a.stop()
      await testDb.drop()
    }
  }, 60_000)
})
