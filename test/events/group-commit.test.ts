// Requests that arrive together are stored together (IngestBatcher), and
// still each get the answer DESIGN.md's table gives them: a batch mixing new
// events, replays, a conflict and an invalid body answers each on its own,
// and an event the database refuses fails alone, never its batch-mates.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { onPostgres } from '../support/db.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { signedRequest } from '../support/webhooks.ts'

let t: TestService
beforeAll(async () => {
  t = await startTestService({ ROLE: 'api', RATE_LIMIT_PER_ADDRESS: 'off' })
}, 30_000)
afterAll(() => t.stop())

const completed = (id: string, name = `Learner ${id}`) =>
  JSON.stringify({
    type: 'course.completed',
    data: {
      user: { id, email: `${id}@learner.test`, name },
      course: { id: 'c-9', title: 'Group Commit' },
      completion: { completed_at: '2026-12-01T10:00:00Z' },
    },
  })

const post = (body: string, id?: string) => t.send(signedRequest(body, id ? { id } : {}))

describe('POST /v1/events, many at once', () => {
  test('a burst of new events, a replay, a conflict and an invalid body: each its own answer, every new one stored', async () => {
    const before = await t.counts()
    const fresh = Array.from({ length: 60 }, (_, i) => completed(`burst-${i}`))
    const responses = await Promise.all([
      ...fresh.map((body) => post(body)),
      // The same id twice with one body: one stores, the other replays it.
      post(completed('twice'), 'msg_same_twice'),
      post(completed('twice'), 'msg_same_twice'),
      // The same id with two bodies: one stores, the other is a conflict.
      post(completed('clash-a'), 'msg_clash'),
      post(completed('clash-b'), 'msg_clash'),
      post(JSON.stringify({ type: 'course.completed', data: { user: { id: 'no-email' } } })),
    ])
    const statuses = responses.map((response) => response.status)
    expect(statuses.slice(0, 60)).toEqual(Array(60).fill(202))
    expect(statuses.slice(60, 62).sort()).toEqual([200, 202])
    expect(statuses.slice(62, 64).sort()).toEqual([202, 409])
    expect(statuses[64]).toBe(422)

    const [replayA, replayB] = (await Promise.all(responses.slice(60, 62).map((r) => r.json()))) as { event_id: string }[]
    expect(replayA!.event_id).toBe(replayB!.event_id)
    // 60 + one "twice" + one of the clashing pair: one event, one message and one recipient each.
    expect(await t.counts()).toEqual({
      events: before.events + 62,
      messages: before.messages + 62,
      recipients: before.recipients + 62,
    })
    const [row] = await rows<{ n: number }>(
      t.testDb.database.db,
      sql`select count(*)::int as n from messages m join events e on e.id = m.event_id
          where m.to_address like 'burst-%' and m.state = 'queued' and e.message_count = 1`,
    )
    expect(row!.n).toBe(60)
  })

  test('an event the database refuses fails on its own; the others in its batch are stored', async () => {
    const db = t.testDb.database.db
    // A stand-in for any failure a single event can cause inside the shared transaction.
    await db.execute(sql`
      create function refuse_poison() returns trigger language plpgsql as $$
      begin
        if new.data->'user'->>'id' = 'poison' then raise exception 'poisoned event'; end if;
        return new;
      end $$`)
    await db.execute(sql`create trigger refuse_poison before insert on events for each row execute function refuse_poison()`)
    try {
      const before = await t.counts()
      const bodies = [...Array.from({ length: 20 }, (_, i) => completed(`mate-${i}`)), completed('poison')]
      const responses = await Promise.all(bodies.map((body) => post(body)))
      expect(responses.slice(0, 20).map((r) => r.status)).toEqual(Array(20).fill(202))
      expect(responses[20]!.status).toBeGreaterThanOrEqual(500)
      expect((await t.counts()).events).toBe(before.events + 20)
    } finally {
      await db.execute(sql`drop trigger refuse_poison on events`)
      await db.execute(sql`drop function refuse_poison()`)
    }
  })
})

describe('POST /v1/events, the same ids at two API processes at once', () => {
  test('each id is stored once: one process answers 202, the other a replay of it, and no message is written twice', async () => {
    // Two pools on Postgres, as two processes would have; PGlite is one session, so both share it there.
    const database = onPostgres ? await t.testDb.openAnother() : t.testDb.database
    const other = await startTestService({ ROLE: 'api', RATE_LIMIT_PER_ADDRESS: 'off' }, { testDb: { ...t.testDb, database } })
    try {
      const before = await t.counts()
      const bodies = Array.from({ length: 40 }, (_, i) => completed(`both-${i}`))
      const request = (body: string, i: number) => signedRequest(body, { id: `msg_both_${i}` })
      const responses = await Promise.all(bodies.flatMap((body, i) => [t.send(request(body, i)), other.send(request(body, i))]))
      const answers = await Promise.all(responses.map(async (response) => ({ status: response.status, ...((await response.json()) as { event_id: string }) })))
      for (let i = 0; i < bodies.length; i++) {
        const pair = [answers[2 * i]!, answers[2 * i + 1]!]
        expect(pair.map((a) => a.status).sort()).toEqual([200, 202])
        expect(pair[0]!.event_id).toBe(pair[1]!.event_id)
      }
      expect(await t.counts()).toEqual({
        events: before.events + 40,
        messages: before.messages + 40,
        recipients: before.recipients + 40,
      })
    } finally {
      await other.stop()
      if (database !== t.testDb.database) await database.close()
    }
  })
})
