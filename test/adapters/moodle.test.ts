// Protects POST /v1/adapters/moodle: every published Moodle event example in
// test/fixtures/lms/moodle-events (PHP-serialized `other` included) is
// accepted and mapped as docs/lms/moodle.md says, with the web service
// stand-in answering core_user_get_users_by_field and the rest; the token is
// required (header or body) and is not stored; calendar_event_created (no
// published example) schedules deadline reminders for the course's students.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { saveAdapterSettings } from '../../src/adapters/queries.ts'
import { rows } from '../../src/db/client.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { FIXTURES, fixture, MOODLE_TOKEN, startLmsStandIn, type LmsStandIn } from './lms-stand-in.ts'

let lms: LmsStandIn
let t: TestService
const INBOUND = 'moodle-inbound-token-42'

beforeAll(async () => {
  lms = startLmsStandIn()
  t = await startTestService()
  await saveAdapterSettings(t.service.database.db, 'moodle', { enabled: true, baseUrl: `${lms.url}/moodle`, apiToken: MOODLE_TOKEN, inboundToken: INBOUND })
}, 30_000)
afterAll(async () => {
  await t.stop()
  lms.close()
})

function post(body: unknown, headers: Record<string, string> = { 'x-belfry-token': INBOUND }): Promise<Response> {
  return t.send(new Request('http://belfry.test/v1/adapters/moodle', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) }))
}

async function eventData(type: string): Promise<Record<string, any>[]> {
  const found = await rows<{ data: Record<string, any> }>(t.service.database.db, sql`select data from events where type = ${type} order by received_at`)
  return found.map((r) => r.data)
}

describe('authentication', () => {
  test('no token, a wrong one, or one of another length → 401, nothing stored', async () => {
    const event = fixture('moodle-events/user_created.json')
    expect((await post(event, {})).status).toBe(401)
    expect((await post(event, { 'x-belfry-token': 'moodle-inbound-token-43' })).status).toBe(401)
    expect((await post({ ...event, token: 'short' }, {})).status).toBe(401)
    const [n] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from native_events`)
    expect(n!.n).toBe(0)
  })

  test('a body without eventname → 422, nothing stored', async () => {
    expect((await post({ objectid: 1 })).status).toBe(422)
  })
})

describe('every published example is accepted and mapped as documented', () => {
  const expected: Record<string, string> = {
    'user_enrolment_created.json': 'enrollment.created',
    'course_completed.json': 'course.completed',
    'assessable_submitted.json': 'assignment.submitted',
    'post_created.json': 'discussion.post_created',
    'user_created.json': 'user.registered',
  }

  test('the table covers every event fixture', () => {
    const events = readdirSync(join(FIXTURES, 'moodle-events')).filter((f) => !f.endsWith('.data.json'))
    expect(events.sort()).toEqual(Object.keys(expected).sort())
  })

  for (const [file, type] of Object.entries(expected)) {
    test(file, async () => {
      // The token in the body, as some webhook plugins send it, for one of them.
      const event = fixture(`moodle-events/${file}`)
      const response = file === 'user_created.json' ? await post({ ...event, token: INBOUND }, {}) : await post(event)
      const answer = (await response.json()) as { state: string; reason?: string; events?: { type: string }[] }
      expect(response.status).toBe(202)
      expect(answer.reason).toBeUndefined()
      expect(answer.state).toBe('mapped')
      expect(answer.events?.map((e) => e.type)).toEqual([type])
    })
  }

  test('user_enrolment_created: relateduserid is enrolled (userid is who did it)', async () => {
    const [data] = await eventData('enrollment.created')
    expect(data).toMatchObject({ user: { id: '2', email: 'test@test.com', name: 'test_fullname2' }, course: { id: '2', title: 'Moodle 101' }, enrollment: { id: '1' } })
    expect(data!.course.url).toBe(`${lms.url}/moodle/course/view.php?id=2`)
  })

  test('course_completed: timecreated (unix seconds) is the completion time', async () => {
    const [data] = await eventData('course.completed')
    expect(data).toMatchObject({ user: { id: '1', email: 'test@test.com' }, completion: { completed_at: '2015-06-10T14:31:41.000Z' } })
  })

  test('assessable_submitted: the assignment is found by its course module', async () => {
    const [data] = await eventData('assignment.submitted')
    expect(data).toMatchObject({ user: { id: '1' }, assignment: { id: '9', title: 'Essay' }, submission: { id: '1' } })
  })

  test('post_created: the PHP-serialized `other` is read; everyone else in the discussion hears of it', async () => {
    const [data] = await eventData('discussion.post_created')
    expect(data).toMatchObject({
      thread: { id: '1', title: 'Welcome thread' },
      post: { id: '1', author: { id: '1', name: 'test_fullname' }, excerpt: 'Hello all' },
      recipients: [{ id: '2', email: 'test@test.com' }],
    })
  })

  test('user_created: a welcome to the new user', async () => {
    const [data] = await eventData('user.registered')
    expect(data!.user).toMatchObject({ id: '1', email: 'test@test.com', locale: 'en' })
    const stored = await rows<{ payload: Record<string, unknown> }>(t.service.database.db, sql`select payload from native_events where event_name = '\\core\\event\\user_created'`)
    expect(stored[0]!.payload.token).toBeUndefined()
  })
})

test('calendar_event_created schedules reminders for the students; JSON `other` works too', async () => {
  const response = await post({
    eventname: '\\core\\event\\calendar_event_created',
    objectid: 40,
    courseid: 2,
    userid: 2,
    other: JSON.stringify({ repeatid: 0, timestart: 0, name: 'Essay is due' }),
    timecreated: Math.floor(Date.now() / 1000),
  })
  expect(response.status).toBe(202)
  const [data] = await eventData('deadline.scheduled')
  expect(data!.item).toMatchObject({ id: '9', kind: 'assignment', title: 'Essay is due' })
  expect(data!.users.map((u: { id: string }) => u.id)).toEqual(['1', '3'])
  const [n] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from messages where notification = 'deadline_reminder'`)
  expect(n!.n).toBe(4) // two students × the default 48 h and 2 h
})

test('a re-delivered Moodle event is answered from what is stored', async () => {
  const response = await post(fixture('moodle-events/course_completed.json'))
  expect(response.status).toBe(200)
  expect(await eventData('course.completed')).toHaveLength(1)
})

test('an unmapped event name is kept as ignored, with why', async () => {
  const answer = (await (await post({ eventname: '\\core\\event\\course_viewed', objectid: 2, courseid: 2, timecreated: 1433946701 })).json()) as { state: string; reason: string }
  expect(answer).toMatchObject({ state: 'ignored', reason: 'Belfry does not map \\core\\event\\course_viewed' })
})
