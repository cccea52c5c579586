// Protects every row of DESIGN.md's webhook answer table, and that a
// rejected request stores nothing at all.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { randomSecret, signedRequest } from '../support/webhooks.ts'
import { startTestService, type TestService } from '../support/service.ts'

let t: TestService
beforeAll(async () => {
  // No worker: these tests look at what ingest stores, not at delivery.
  t = await startTestService({ ROLE: 'api' })
}, 30_000)
afterAll(() => t.stop())

const ada = { id: 'u-1', email: 'ada@learner.test', name: 'Ada Lovelace', locale: 'en-GB', timezone: 'Europe/London' }
const paidEnrollment = {
  user: ada,
  course: { id: 'c-1', title: 'Analytical Engines', url: 'https://lms.test/c-1' },
  enrollment: { id: 'e-1', paid: { amount: 120, currency: 'GBP' } },
}

/** Runs `request` and checks that no table gained a row. */
async function expectNothingStored(request: () => Promise<Response>): Promise<Response> {
  const before = await t.counts()
  const response = await request()
  expect(await t.counts()).toEqual(before)
  return response
}

describe('POST /v1/events', () => {
  test('a valid new event: 202 with the event id and its message count, all stored', async () => {
    const before = await t.counts()
    const response = await t.post('enrollment.created', paidEnrollment)
    expect(response.status).toBe(202)
    const body = (await response.json()) as { event_id: string; messages: number }
    expect(body.event_id).toMatch(/^[0-9a-f-]{36}$/)
    expect(body.messages).toBe(2) // the learner's confirmation and one admin alert
    expect(await t.counts()).toEqual({
      events: before.events + 1,
      messages: before.messages + 2,
      recipients: before.recipients + 1,
    })
  })

  test('the same webhook-id with the same body: 200 and the first answer, nothing new', async () => {
    const body = JSON.stringify({ type: 'enrollment.created', data: paidEnrollment })
    const first = await t.send(signedRequest(body, { id: 'msg_replay' }))
    expect(first.status).toBe(202)
    const firstAnswer = await first.json()
    const again = await expectNothingStored(() => t.send(signedRequest(body, { id: 'msg_replay' })))
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual(firstAnswer)
  })

  test('the same webhook-id with another body: 409, nothing stored', async () => {
    await t.send(signedRequest(JSON.stringify({ type: 'user.updated', data: { user: ada } }), { id: 'msg_conflict' }))
    const other = JSON.stringify({ type: 'user.updated', data: { user: { ...ada, name: 'Someone Else' } } })
    const response = await expectNothingStored(() => t.send(signedRequest(other, { id: 'msg_conflict' })))
    expect(response.status).toBe(409)
    expect(((await response.json()) as { error: string }).error).toBe('conflict')
  })

  test('a missing, wrong or stale signature: 401 with the reason, nothing stored', async () => {
    const body = JSON.stringify({ type: 'user.registered', data: { user: ada } })
    const cases = [
      signedRequest(body, { signature: null }),
      signedRequest(body, { secret: randomSecret() }),
      signedRequest(body, { timestamp: Math.floor(Date.now() / 1000) - 301 }),
      signedRequest(body, { timestamp: Math.floor(Date.now() / 1000) + 301 }),
    ]
    for (const request of cases) {
      const response = await expectNothingStored(() => t.send(request))
      expect(response.status).toBe(401)
      const answer = (await response.json()) as { error: string; message: string }
      expect(answer.error).toBe('invalid_signature')
      expect(answer.message.length).toBeGreaterThan(5)
    }
  })

  test('an unknown type: 422 naming the allowed types, nothing stored', async () => {
    const response = await expectNothingStored(() => t.post('user.teleported', { user: ada }))
    expect(response.status).toBe(422)
    const answer = (await response.json()) as { error: string; details: { path: string; message: string }[] }
    expect(answer.error).toBe('invalid_event')
    expect(answer.details[0]?.path).toBe('/type')
    expect(answer.details[0]?.message).toContain('enrollment.created')
  })

  test('data not matching its schema: 422 with the path of every problem, nothing stored', async () => {
    const response = await expectNothingStored(() =>
      t.post('enrollment.created', {
        ...paidEnrollment,
        user: { ...ada, email: 'not-an-address', timezone: 'Mars/Olympus' },
        course: { id: 'c-1' },
      }),
    )
    expect(response.status).toBe(422)
    const { details } = (await response.json()) as { details: { path: string; message: string }[] }
    const paths = details.map((d) => d.path)
    expect(paths).toContain('/data/user/email')
    expect(paths).toContain('/data/user/timezone')
    expect(paths).toContain('/data/course/title')
  })

  test('a javascript: URL is not a link we will put in an email', async () => {
    const response = await expectNothingStored(() =>
      t.post('password_reset.requested', { user: ada, reset: { url: 'javascript:alert(1)', expires_at: '2030-01-01T00:00:00Z' } }),
    )
    expect(response.status).toBe(422)
  })

  test('malformed JSON: 400, nothing stored', async () => {
    const response = await expectNothingStored(() => t.send(signedRequest('{"type": "user.registered", ')))
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toBe('invalid_json')
  })

  test('a body over 256 KiB: 413, nothing stored, even when correctly signed', async () => {
    const huge = JSON.stringify({ type: 'user.registered', data: { user: ada, padding: 'x'.repeat(256 * 1024) } })
    const response = await expectNothingStored(() => t.send(signedRequest(huge)))
    expect(response.status).toBe(413)
  })

  test('a body of exactly 256 KiB is still read', async () => {
    const base = JSON.stringify({ type: 'user.updated', data: { user: ada, padding: '' } })
    const exact = base.replace('"padding":""', `"padding":"${'x'.repeat(256 * 1024 - base.length)}"`)
    expect(Buffer.byteLength(exact)).toBe(256 * 1024)
    expect((await t.send(signedRequest(exact))).status).toBe(202)
  })

  test('two deliveries of one webhook racing: one 202, one 200, one event stored', async () => {
    const body = JSON.stringify({ type: 'user.registered', data: { user: { ...ada, id: 'u-race' } } })
    const before = await t.counts()
    const answers = await Promise.all([1, 2, 3].map(() => t.send(signedRequest(body, { id: 'msg_race' }))))
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 202])
    const after = await t.counts()
    expect(after.events).toBe(before.events + 1)
    expect(after.messages).toBe(before.messages + 2)
  })

  test('the event is stored with its type and data, and user upserts keep fields an event leaves out', async () => {
    const response = await t.post('user.updated', { user: { id: 'u-2', email: 'bo@learner.test', name: 'Bo', timezone: 'Asia/Tokyo' } })
    const { event_id } = (await response.json()) as { event_id: string }
    await t.post('user.updated', { user: { id: 'u-2', email: 'bo@new.test' } })
    const db = t.service.database.db
    const [event] = await rows<{ type: string; data: { user: { email: string } } }>(
      db,
      sql`select type, data from events where id = ${event_id}`,
    )
    expect(event?.type).toBe('user.updated')
    expect(event?.data.user.email).toBe('bo@learner.test')
    const [bo] = await rows<{ email: string; name: string; timezone: string }>(
      db,
      sql`select email, name, timezone from recipients where lms_user_id = 'u-2'`,
    )
    expect(bo).toEqual({ email: 'bo@new.test', name: 'Bo', timezone: 'Asia/Tokyo' })
  })

  test('a fan-out of 5,200 reminders is stored whole (more rows than one INSERT can bind)', async () => {
    const users = Array.from({ length: 2600 }, (_, i) => ({ id: i, email: `l${i}@x.test` }))
    const response = await t.post('deadline.scheduled', {
      users,
      course: { id: 'big', title: 'MOOC' },
      item: { id: 'big-1', kind: 'quiz', title: 'Quiz', due_at: new Date(Date.now() + 72 * 3_600_000).toISOString() },
    })
    expect(response.status).toBe(202)
    expect(((await response.json()) as { messages: number }).messages).toBe(5200)
  })
})
