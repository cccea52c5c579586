// While the database cannot be reached, POST /v1/events answers 503 with
// Retry-After (an LMS retries those) and stores nothing; once it is back,
// the same request is accepted. The database "goes away" behind a TCP
// proxy this test owns: cut, every connection through it is dropped and new
// ones are refused. (Postgres only: PGlite lives inside the process.)

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { isDatabaseUnavailable, openDatabase, rows } from '../../src/db/client.ts'
import { createTestDatabase, onPostgres, type TestDatabase } from '../support/db.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { cuttableProxy } from '../support/proxy.ts'
import { eventRequest } from '../support/webhooks.ts'

const user = { id: 'db-down-1', email: 'ada@learner.test', name: 'Ada' }
const data = { user, course: { id: 'c-1', title: 'Resilience' }, completion: { completed_at: '2026-12-01T10:00:00Z' } }

describe.skipIf(!onPostgres)('the database goes away', () => {
  let testDb: TestDatabase
  let proxy: ReturnType<typeof cuttableProxy>
  let t: TestService
  beforeAll(async () => {
    testDb = await createTestDatabase()
    const url = new URL(testDb.url!)
    proxy = cuttableProxy({ hostname: url.hostname, port: Number(url.port || 5432) })
    url.host = `127.0.0.1:${proxy.port}`
    const throughProxy = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', poolSize: 4 })
    t = await startTestService({ ROLE: 'api' }, { testDb: { ...testDb, database: throughProxy } })
  }, 30_000)
  afterAll(async () => {
    await t.stop()
    await t.testDb.database.close()
    proxy.close()
    await testDb.drop()
  })

  test('503 with Retry-After while it is away, nothing stored; accepted once it is back', async () => {
    const request = () => t.send(eventRequest('course.completed', data, { id: 'msg_db_down' }))
    proxy.cut()
    const away = await request()
    expect(away.status).toBe(503)
    expect(away.headers.get('retry-after')).toBe('5')
    expect(((await away.json()) as { error: string }).error).toBe('not_ready')

    proxy.mend()
    // The pool reconnects by itself: the LMS's retry of the same delivery is accepted, once.
    let back: Response | undefined
    for (let i = 0; i < 50 && back?.status !== 202; i++) {
      back = await request()
      if (back.status !== 202) await Bun.sleep(100)
    }
    expect(back!.status).toBe(202)
    const [counts] = await rows<{ events: number; messages: number }>(
      testDb.database.db,
      sql`select (select count(*)::int from events) as events, (select count(*)::int from messages) as messages`,
    )
    expect(counts).toEqual({ events: 1, messages: 1 })
  })
})

test('isDatabaseUnavailable: lost connections and a server going away, not a bad query', () => {
  const wrapped = (cause: unknown) => Object.assign(new Error('Failed query: insert … params: …'), { cause })
  expect(isDatabaseUnavailable(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(true)
  expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' })))).toBe(true)
  expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('terminating connection'), { code: '57P01' })))).toBe(true)
  expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('the database system is starting up'), { code: '57P03' })))).toBe(true)
  expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('connection failure'), { code: '08006' })))).toBe(true)
  expect(isDatabaseUnavailable(wrapped(Object.assign(new Error('duplicate key'), { code: '23505' })))).toBe(false)
  expect(isDatabaseUnavailable(new Error('plain'))).toBe(false)
})
