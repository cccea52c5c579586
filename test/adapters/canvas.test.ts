// Protects POST /v1/adapters/canvas: every published Live Events example in
// test/fixtures/lms/canvas-live-events is accepted (RS256-signed, verified
// against the stand-in's JWKS) and mapped as docs/lms/canvas.md says, with the
// Canvas API stand-in answering the lookups; a token signed with an unknown
// key, expired or tampered with is a 401 that stores nothing; the same
// enrollment_created three times makes one email.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { saveAdapterSettings } from '../../src/adapters/queries.ts'
import { rows } from '../../src/db/client.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { CANVAS_TOKEN, FIXTURES, fixture, signingKey, signJwt, startLmsStandIn, type LmsStandIn } from './lms-stand-in.ts'

let lms: LmsStandIn
let sink: SmtpSink
let t: TestService
let key: Awaited<ReturnType<typeof signingKey>>

beforeAll(async () => {
  lms = startLmsStandIn()
  key = await signingKey('canvas-2026')
  lms.keys = [key.jwk]
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
  await saveAdapterSettings(t.service.database.db, 'canvas', { enabled: true, baseUrl: lms.url, apiToken: CANVAS_TOKEN, jwksUrl: `${lms.url}/jwks` })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
  lms.close()
})

const hour = 3600
async function signed(event: unknown, options: { kid?: string; privateKey?: CryptoKey; exp?: number } = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return signJwt({ ...(event as object), iat: now, exp: options.exp ?? now + hour }, options.privateKey ?? key.privateKey, options.kid ?? 'canvas-2026')
}

function post(body: string, headers: Record<string, string> = { 'content-type': 'application/jwt' }): Promise<Response> {
  return t.send(new Request('http://belfry.test/v1/adapters/canvas', { method: 'POST', headers, body }))
}

async function nativeRows(): Promise<{ event_name: string; state: string; reason: string | null; mapped: { type: string; messages: number }[] | null }[]> {
  return rows(t.service.database.db, sql`select event_name, state, reason, mapped from native_events order by received_at`)
}

async function storedEvent(type: string): Promise<Record<string, unknown>> {
  const [row] = await rows<{ data: Record<string, unknown> }>(t.service.database.db, sql`select data from events where type = ${type} order by received_at desc limit 1`)
  if (!row) throw new Error(`no ${type} event stored`)
  return row.data
}

async function messagesTo(notification: string): Promise<string[]> {
  const found = await rows<{ to_address: string }>(t.service.database.db, sql`select to_address from messages where notification = ${notification} order by to_address`)
  return found.map((r) => r.to_address)
}

describe('a signed token that does not verify stores nothing', () => {
  const event = () => fixture('canvas-live-events/enrollment_created.json')

  test('signed with a key the JWKS does not list → 401', async () => {
    const stranger = await signingKey('someone-else')
    const response = await post(await signed(event(), { privateKey: stranger.privateKey, kid: 'someone-else' }))
    expect(response.status).toBe(401)
    expect(((await response.json()) as { message: string }).message).toContain('key the JWKS does not list')
  })

  test('a listed kid but the wrong key → 401', async () => {
    const stranger = await signingKey('canvas-2026')
    expect((await post(await signed(event(), { privateKey: stranger.privateKey }))).status).toBe(401)
  })

  test('expired → 401', async () => {
    const response = await post(await signed(event(), { exp: Math.floor(Date.now() / 1000) - 2 * hour }))
    expect(response.status).toBe(401)
    expect(((await response.json()) as { message: string }).message).toContain('expired')
  })

  test('tampered body → 401', async () => {
    const token = await signed(event())
    const [header, payload, signature] = token.split('.') as [string, string, string]
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
    claims.body.user_id = '21070000000000001'
    const forged = `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
    expect((await post(forged)).status).toBe(401)
  })

  test('unsigned JSON while a JWKS is configured → 401', async () => {
    expect((await post(JSON.stringify(event()), { 'content-type': 'application/json' })).status).toBe(401)
  })

  test('alg none → 401', async () => {
    const part = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
    expect((await post(`${part({ alg: 'none', kid: 'canvas-2026' })}.${part(event())}.`)).status).toBe(401)
  })

  test('none of them left a trace', async () => {
    expect(await nativeRows()).toHaveLength(0)
    expect(await t.counts()).toEqual({ events: 0, messages: 0, recipients: 0 })
  })
})

test('a key added to the JWKS later is fetched when its kid first appears', async () => {
  const rotated = await signingKey('canvas-2027')
  lms.keys = [key.jwk, rotated.jwk]
  // The cache only refetches for an unknown kid after its rate limit; a fresh cache entry stands for "after".
  ;(t.service.adapters.jwks as unknown as { cache: Map<string, { fetchedAt: number }> }).cache.forEach((entry) => (entry.fetchedAt = 0))
  const response = await post(await signed(fixture('canvas-live-events/logged_in.json'), { privateKey: rotated.privateKey, kid: 'canvas-2027' }))
  expect(response.status).toBe(202)
  expect(((await response.json()) as { state: string }).state).toBe('ignored')
})

describe('every published example is accepted and mapped as documented', () => {
  const expected: Record<string, { state: string; types?: string[]; reason?: string }> = {
    'enrollment_created.json': { state: 'mapped', types: ['enrollment.created'] },
    'enrollment_updated.json': { state: 'ignored', reason: 'Belfry does not map enrollment_updated' },
    'course_completed.json': { state: 'mapped', types: ['course.completed'] },
    'submission_created.json': { state: 'mapped', types: ['assignment.submitted'] },
    'quiz_submitted.json': { state: 'mapped', types: ['assignment.submitted'] },
    'discussion_entry_created.json': { state: 'mapped', types: ['discussion.post_created'] },
    'discussion_topic_created.json': { state: 'ignored', reason: 'Belfry does not map discussion_topic_created' },
    'user_created.json': { state: 'mapped', types: ['user.registered'] },
    'user_updated.json': { state: 'ignored', reason: 'Belfry does not map user_updated' },
    'assignment_created.json': { state: 'mapped', types: ['deadline.scheduled'] },
    'assignment_updated.json': { state: 'mapped', types: ['deadline.scheduled'] },
    'assignment_override_created.json': { state: 'mapped', types: ['deadline.scheduled'] },
    'logged_in.json': { state: 'ignored', reason: 'Belfry does not map logged_in' },
  }

  test('the table covers every fixture', () => {
    expect(readdirSync(join(FIXTURES, 'canvas-live-events')).sort()).toEqual(Object.keys(expected).sort())
  })

  for (const [file, want] of Object.entries(expected)) {
    test(file, async () => {
      const response = await post(await signed(fixture(`canvas-live-events/${file}`)))
      const answer = (await response.json()) as { state: string; reason?: string; events?: { type: string }[] }
      // logged_in came in once already (key rotation test): a re-delivery answers 200.
      expect(response.status).toBe(file === 'logged_in.json' ? 200 : 202)
      expect({ state: answer.state, reason: answer.reason }).toEqual({ state: want.state, reason: want.reason })
      if (want.types) expect(answer.events?.map((e) => e.type)).toEqual(want.types)
    })
  }

  test('enrollment_created: the enrolled student (body.user_id), not the teacher who enrolled them (metadata.user_login)', async () => {
    const data = (await storedEvent('enrollment.created')) as { user: { id: string; email: string }; course: { id: string; title: string }; enrollment: { id: string } }
    expect(data.user).toMatchObject({ id: '20064', email: 'isaac@school.test', name: 'Isaac Newton' })
    expect(data.course).toMatchObject({ id: '565', title: 'Computer Science I' })
    expect(data.enrollment.id).toBe('46825')
    expect(await messagesTo('enrollment_confirmation')).toEqual(['isaac@school.test'])
    expect(await messagesTo('enrollment_confirmation')).not.toContain('oxana@example.com')
  })

  test('course_completed: the learner in the body, no lookup needed', async () => {
    const data = (await storedEvent('course.completed')) as Record<string, { [k: string]: unknown }>
    expect(data.user).toMatchObject({ id: '123', email: 'inewton@example.com', name: 'Isaac Newton' })
    expect(data.completion).toEqual({ completed_at: '2019-11-05T13:38:00.218Z' })
    expect(await messagesTo('course_completed')).toEqual(['inewton@example.com'])
  })

  test('submission_created: course found through GraphQL, the submitter from the roster', async () => {
    const all = await rows<{ data: { user: { email: string }; assignment: { id: string; title: string }; course: { id: string } } }>(
      t.service.database.db,
      sql`select data from events where type = 'assignment.submitted'`,
    )
    const essay = all.find((r) => r.data.assignment.id === '1234012')!.data
    expect(essay).toMatchObject({ user: { email: 'alan@school.test' }, assignment: { title: 'Essay 1' }, course: { id: '565' } })
  })

  test('quiz_submitted: the learner of the quiz submission, the quiz under its assignment id', async () => {
    const all = await rows<{ data: { user: { email: string }; assignment: { id: string; title: string }; submission: { id: string } } }>(
      t.service.database.db,
      sql`select data from events where type = 'assignment.submitted'`,
    )
    const quiz = all.find((r) => r.data.assignment.id === '777')!.data
    expect(quiz).toMatchObject({ user: { email: 'emmy@school.test' }, assignment: { title: 'Quiz 3' }, submission: { id: '13995723' } })
    expect(await messagesTo('assignment_submitted')).toEqual(['alan@school.test', 'emmy@school.test'])
  })

  test('discussion_entry_created: the thread participants and author get it, the poster does not', async () => {
    const data = (await storedEvent('discussion.post_created')) as { recipients: { email: string }[]; post: { author: { name: string }; excerpt: string }; thread: { title: string } }
    expect(data.recipients.map((r) => r.email).sort()).toEqual(['grace@school.test', 'oxana@example.com'])
    expect(data.post).toMatchObject({ author: { name: 'Ada Lovelace' }, excerpt: 'test this discussion' })
    expect(data.thread.title).toBe('Week 1: introductions')
    expect(await messagesTo('discussion_update')).toEqual(['grace@school.test', 'oxana@example.com'])
  })

  test('user_created: the new user (body.user_id) with the email the API gives', async () => {
    const data = (await storedEvent('user.registered')) as { user: Record<string, unknown> }
    expect(data.user).toEqual({ id: '25999', email: 'test.user@school.test', name: 'test user', locale: 'fr', timezone: 'Europe/Paris' })
    expect(await messagesTo('welcome')).toEqual(['test.user@school.test'])
  })

  test('assignments and overrides: due dates for the course students, an override under its own item', async () => {
    const all = await rows<{ data: { users: { email: string }[]; item: { id: string; due_at: string } } }>(
      t.service.database.db,
      sql`select data from events where type = 'deadline.scheduled' order by received_at`,
    )
    expect(all.map((r) => [r.data.item.id, r.data.users.map((u) => u.email).sort()])).toEqual([
      ['371', ['ada@school.test', 'alan@school.test', 'grace@school.test', 'isaac@school.test']],
      ['2030605', ['marie@school.test', 'niels@school.test']],
      ['1/override/1', ['marie@school.test']],
    ])
    expect(all[1]!.data.item.due_at).toBe('2019-11-05T13:38:00.218Z')
  })
})

describe('a Live Event delivered more than once', () => {
  test('the same enrollment_created three times sends one email', async () => {
    sink.reset()
    const event = fixture<{ metadata: Record<string, unknown>; body: Record<string, unknown> }>('canvas-live-events/enrollment_created.json')
    event.metadata.event_time = '2026-01-05T10:00:00Z'
    event.body.enrollment_id = '21070000000046999'
    const statuses: number[] = []
    for (let i = 0; i < 3; i++) statuses.push((await post(await signed(event))).status)
    expect(statuses).toEqual([202, 200, 200])
    await sink.waitFor(1, 10_000)
    await Bun.sleep(300)
    expect(sink.messages.map((m) => m.envelope.to[0])).toEqual(['isaac@school.test'])
    const [count] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from native_events where object_id = '21070000000046999'`)
    expect(count!.n).toBe(1)
  })
})

describe('plain JSON with a token, when no JWKS is configured', () => {
  test('wrong or missing token → 401; the right one → 202', async () => {
    await saveAdapterSettings(t.service.database.db, 'canvas', { jwksUrl: null, inboundToken: 'canvas-inbound-secret' })
    const body = JSON.stringify(fixture('canvas-live-events/user_updated.json'))
    const plain = { 'content-type': 'application/json' }
    expect((await post(body, plain)).status).toBe(401)
    expect((await post(body, { ...plain, authorization: 'Bearer nope' })).status).toBe(401)
    const response = await t.send(new Request('http://belfry.test/v1/adapters/canvas?token=canvas-inbound-secret', { method: 'POST', headers: plain, body }))
    expect(response.status).toBe(200)
    await saveAdapterSettings(t.service.database.db, 'canvas', { jwksUrl: `${lms.url}/jwks`, inboundToken: null })
  })

  test('a turned-off adapter refuses everything', async () => {
    await saveAdapterSettings(t.service.database.db, 'canvas', { enabled: false })
    expect((await post(await signed(fixture('canvas-live-events/logged_in.json')))).status).toBe(403)
    await saveAdapterSettings(t.service.database.db, 'canvas', { enabled: true })
  })
})
