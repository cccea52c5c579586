// Protects POST /v1/adapters/openedx: a payload built field by field from each
// published openedx-events Avro schema in test/fixtures/lms/openedx-events
// (COURSE_ENROLLMENT_CREATED, CERTIFICATE_CREATED) is accepted and mapped as
// docs/lms/openedx.md says, with the learner's email from `user.pii`; the
// event type may come in the body or a CloudEvents `ce-type` header.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { saveAdapterSettings } from '../../src/adapters/queries.ts'
import { rows } from '../../src/db/client.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { FIXTURES, fixture } from './lms-stand-in.ts'

let t: TestService
const INBOUND = 'openedx-inbound-token-1'

beforeAll(async () => {
  t = await startTestService()
  await saveAdapterSettings(t.service.database.db, 'openedx', { enabled: true, baseUrl: 'https://courses.example.org', inboundToken: INBOUND })
}, 30_000)
afterAll(() => t.stop())

type Avro = string | Avro[] | { type: Avro; name?: string; fields?: { name: string; type: Avro }[] }

/** The values a real enrollment or certificate would carry, by field name; the schema decides the shape. */
const SAMPLE: Record<string, unknown> = {
  id: 4242,
  is_active: true,
  username: 'grace',
  email: 'grace@learner.test',
  name: 'Grace Hopper',
  course_key: 'course-v1:OpenedX+DemoX+Demo_Course',
  display_name: 'Demonstration Course',
  start: '2026-01-01T00:00:00Z',
  end: null,
  mode: 'verified',
  creation_date: '2026-02-03T04:05:06Z',
  grade: '0.92',
  download_url: 'https://courses.example.org/certificates/abc123',
  current_status: 'downloadable',
  previous_status: 'notpassing',
  created_by: null,
}

function sample(schema: Avro, field: string, named: Map<string, Avro>): unknown {
  if (typeof schema === 'string') {
    if (named.has(schema)) return sample(named.get(schema)!, field, named)
    if (schema === 'null') return null
    const value = SAMPLE[field]
    if (schema === 'string') return typeof value === 'string' ? value : `${field}-value`
    if (schema === 'long' || schema === 'int') return typeof value === 'number' ? value : 1
    if (schema === 'boolean') return typeof value === 'boolean' ? value : true
    throw new Error(`no sample for ${schema}`)
  }
  if (Array.isArray(schema)) {
    const wanted = SAMPLE[field]
    return wanted === null && schema.includes('null') ? null : sample(schema.find((s) => s !== 'null')!, field, named)
  }
  if (schema.type === 'record') {
    if (schema.name) named.set(schema.name, schema)
    return Object.fromEntries(schema.fields!.map((f) => [f.name, sample(f.type, f.name, named)]))
  }
  return sample(schema.type, field, named)
}

function payloadFrom(file: string): Record<string, unknown> {
  const schema = fixture<{ namespace: string } & Avro>(`openedx-events/${file}`)
  return { metadata: { id: crypto.randomUUID(), event_type: schema.namespace, time: '2026-02-03T04:05:06Z', source: 'openedx/lms/web', minorversion: 0 }, ...(sample(schema, '', new Map()) as object) }
}

const post = (body: unknown, headers: Record<string, string> = {}) =>
  t.send(new Request('http://belfry.test/v1/adapters/openedx', { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${INBOUND}`, ...headers }, body: JSON.stringify(body) }))

test('the schemas tested are the fixtures there are', () => {
  expect(readdirSync(join(FIXTURES, 'openedx-events')).sort()).toEqual([
    'org+openedx+learning+certificate+created+v1_schema.avsc',
    'org+openedx+learning+course+enrollment+created+v1_schema.avsc',
  ])
})

test('COURSE_ENROLLMENT_CREATED → enrollment.created, the email from user.pii', async () => {
  const response = await post(payloadFrom('org+openedx+learning+course+enrollment+created+v1_schema.avsc'))
  expect(response.status).toBe(202)
  expect(((await response.json()) as { state: string }).state).toBe('mapped')
  const [row] = await rows<{ data: Record<string, unknown> }>(t.service.database.db, sql`select data from events where type = 'enrollment.created'`)
  expect(row!.data).toEqual({
    user: { id: '4242', email: 'grace@learner.test', name: 'Grace Hopper' },
    course: { id: 'course-v1:OpenedX+DemoX+Demo_Course', title: 'Demonstration Course', url: 'https://courses.example.org/courses/course-v1%3AOpenedX%2BDemoX%2BDemo_Course/about' },
    enrollment: { id: '4242@course-v1:OpenedX+DemoX+Demo_Course' },
  })
})

test('CERTIFICATE_CREATED → course.completed with the certificate link and grade', async () => {
  const response = await post(payloadFrom('org+openedx+learning+certificate+created+v1_schema.avsc'))
  expect(response.status).toBe(202)
  const [row] = await rows<{ data: { completion: unknown; user: { email: string } } }>(t.service.database.db, sql`select data from events where type = 'course.completed'`)
  expect(row!.data.user.email).toBe('grace@learner.test')
  expect(row!.data.completion).toEqual({ completed_at: '2026-02-03T04:05:06.000Z', certificate_url: 'https://courses.example.org/certificates/abc123', grade: '0.92' })
})

test('the signal name in a ce-type header works as well; a certificate not earned is ignored', async () => {
  const { metadata: _m, ...body } = payloadFrom('org+openedx+learning+certificate+created+v1_schema.avsc') as { metadata: unknown; certificate: { current_status: string } }
  body.certificate.current_status = 'notpassing'
  const response = await post(body, { 'ce-type': 'CERTIFICATE_CREATED', 'ce-time': '2026-02-04T00:00:00Z' })
  expect(response.status).toBe(202)
  expect(await response.json()).toMatchObject({ state: 'ignored', reason: 'certificate status notpassing is not a completion' })
})

test('the same enrollment again is a re-delivery; no token → 401', async () => {
  expect((await post(payloadFrom('org+openedx+learning+course+enrollment+created+v1_schema.avsc'))).status).toBe(200)
  expect((await post(payloadFrom('org+openedx+learning+course+enrollment+created+v1_schema.avsc'), { authorization: 'Bearer wrong' })).status).toBe(401)
  const [n] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from messages where notification = 'enrollment_confirmation'`)
  expect(n!.n).toBe(1)
})

test('user.deleted for the learner: the native payloads that named them are erased too', async () => {
  const before = await rows<{ payload: string }>(t.service.database.db, sql`select payload::text as payload from native_events where adapter = 'openedx'`)
  expect(before.some((row) => row.payload.includes('grace@learner.test'))).toBe(true)
  expect((await t.post('user.deleted', { user: { id: '4242' } })).status).toBe(202)
  const after = await rows<{ payload: string }>(t.service.database.db, sql`select payload::text as payload from native_events where adapter = 'openedx'`)
  expect(after.length).toBe(before.length)
  expect(after.some((row) => row.payload.includes('grace@learner.test') || row.payload.includes('Grace'))).toBe(false)
})
