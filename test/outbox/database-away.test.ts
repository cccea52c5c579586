// The database goes away between a send and its settlement: the mail server
// has accepted the message, the worker cannot write that down. It must keep
// trying while the database is away rather than give the row up, or the row's
// lease runs out and the message is sent a second time. The database "goes
// away" behind a TCP proxy this test owns, cut by the SMTP sink just before
// it answers 250. (Postgres only: PGlite lives inside the process.)

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { openDatabase } from '../../src/db/client.ts'
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.ts'
import { allMessages, attemptsOf, eventually } from '../support/outbox.ts'
import { cuttableProxy } from '../support/proxy.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

// Longer than the database driver needs to connect again once the server is
// back (its backoff is capped at 2 s, src/db/client.ts), shorter than a test should wait.
const LEASE_MS = 5000
const AWAY_MS = 500

describe.skipIf(!onPostgres)('the database goes away after the mail server accepted a message', () => {
  let testDb: TestDatabase
  let proxy: ReturnType<typeof cuttableProxy>
  let sink: SmtpSink
  let t: TestService
  let cutOnce = false

  beforeAll(async () => {
    testDb = await createTestDatabase()
    const url = new URL(testDb.url!)
    proxy = cuttableProxy({ hostname: url.hostname, port: Number(url.port || 5432) })
    url.host = `127.0.0.1:${proxy.port}`
    sink = await startSmtpSink({
      beforeAccept() {
        if (cutOnce) return
        cutOnce = true
        proxy.cut()
        setTimeout(() => proxy.mend(), AWAY_MS)
      },
    })
    const throughProxy = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', poolSize: 4 })
    t = await startTestService(
      { MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, LEASE_MS: String(LEASE_MS) },
      { testDb: { ...testDb, database: throughProxy } },
    )
  }, 30_000)
  afterAll(async () => {
    await t.stop()
    await t.testDb.database.close()
    proxy.close()
    await sink.close()
    await testDb.drop()
  })

  test('the settlement is written once it is back: sent once, not again after the lease', async () => {
    const accepted = await t.post('course.completed', {
      user: { id: 'away-1', email: 'ada@learner.test', name: 'Ada' },
      course: { id: 'c-1', title: 'Resilience' },
      completion: { completed_at: '2026-12-01T10:00:00Z' },
    })
    expect(accepted.status).toBe(202)
    await sink.waitFor(1)
    expect(cutOnce).toBe(true)

    // Read through our own connection, not the proxy the service uses.
    const [message] = await eventually(async () => {
      const all = await allMessages(testDb.database.db)
      return all[0]?.state === 'sent' && all
    }, 10_000, 'the message settled as sent')
    // Past the lease: a row given up would have been claimed and sent again by now.
    await Bun.sleep(LEASE_MS + 500)
    expect(sink.messages).toHaveLength(1)
    const [after] = await allMessages(testDb.database.db)
    expect(after!.state).toBe('sent')
    expect(after!.attempts).toBe(1)
    const attempts = await attemptsOf(testDb.database.db, message!.id)
    expect(attempts.map((a) => a.outcome)).toEqual(['sent'])
  }, 20_000)
})
