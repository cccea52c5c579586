// Protects the `enriching` state: while the Canvas API stand-in fails, a
// native event is stored and waits (no Belfry event, no email); once the API
// answers again the retry job maps it and the email goes out. An event whose
// lookups never succeed ends `dead` with the reason — never dropped — and an
// admin retry brings it back. No token ever reaches a log line.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { ENRICH_MAX_ATTEMPTS } from '../../src/adapters/pipeline.ts'
import { saveAdapterSettings, requeueNativeEvent } from '../../src/adapters/queries.ts'
import { rows } from '../../src/db/client.ts'
import { createLogger } from '../../src/log.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { CANVAS_TOKEN, fixture, startLmsStandIn, type LmsStandIn } from './lms-stand-in.ts'

let lms: LmsStandIn
let sink: SmtpSink
let t: TestService
const logLines: string[] = []

beforeAll(async () => {
  lms = startLmsStandIn()
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { log: createLogger('debug', {}, (line) => logLines.push(line)) })
  await saveAdapterSettings(t.service.database.db, 'canvas', { enabled: true, baseUrl: lms.url, apiToken: CANVAS_TOKEN, inboundToken: 'inbound-token-0001' })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
  lms.close()
})

const post = (event: unknown) =>
  t.send(
    new Request('http://belfry.test/v1/adapters/canvas', {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer inbound-token-0001' },
      body: JSON.stringify(event),
    }),
  )

async function native(id: string) {
  const [row] = await rows<{ state: string; attempts: number; reason: string | null; next_attempt_at: string | null }>(
    t.service.database.db,
    sql`select state, attempts, reason, next_attempt_at from native_events where id = ${id}`,
  )
  return row!
}

/** The retry job, run as if its moment had come: each call an hour further on, past any backoff the test config gives. */
let shift = 0
const later = () => t.service.adapters.retryDue(new Date(Date.now() + (shift += 3600_000)))

test('the API failing: the event waits in enriching; recovered: it is delivered once', async () => {
  lms.failing = true
  const response = await post(fixture('canvas-live-events/enrollment_created.json'))
  expect(response.status).toBe(202)
  const answer = (await response.json()) as { native_event_id: string; state: string; reason: string }
  expect(answer.state).toBe('enriching')
  expect(answer.reason).toContain('503')
  expect(await t.counts()).toMatchObject({ events: 0, messages: 0 })

  expect(await later()).toMatchObject({ claimed: 1, waiting: 1 })
  expect(await native(answer.native_event_id)).toMatchObject({ state: 'enriching', attempts: 2 })
  // Not due yet: the job leaves it alone.
  expect(await t.service.adapters.retryDue(new Date())).toMatchObject({ claimed: 0 })

  lms.failing = false
  expect(await later()).toMatchObject({ claimed: 1, mapped: 1 })
  expect(await native(answer.native_event_id)).toMatchObject({ state: 'mapped', attempts: 3, reason: null })
  const [mail] = await sink.waitFor(1, 10_000)
  expect(mail!.envelope.to).toEqual(['isaac@school.test'])

  // The job again, and the LMS again: nothing more.
  expect(await later()).toMatchObject({ claimed: 0 })
  expect((await post(fixture('canvas-live-events/enrollment_created.json'))).status).toBe(200)
  await Bun.sleep(300)
  expect(sink.messages).toHaveLength(1)
})

test('lookups that never answer end dead with the reason; an admin retry revives it', async () => {
  lms.failing = true
  const event = fixture<{ metadata: Record<string, unknown>; body: Record<string, unknown> }>('canvas-live-events/user_created.json')
  const answer = (await (await post(event)).json()) as { native_event_id: string; state: string }
  expect(answer.state).toBe('enriching')
  for (let i = 1; i < ENRICH_MAX_ATTEMPTS; i++) await later()
  const dead = await native(answer.native_event_id)
  expect(dead.state).toBe('dead')
  expect(dead.attempts).toBe(ENRICH_MAX_ATTEMPTS)
  expect(dead.reason).toContain(`gave up after ${ENRICH_MAX_ATTEMPTS} attempts`)
  expect(dead.reason).toContain('503')

  lms.failing = false
  expect(await requeueNativeEvent(t.service.database.db, answer.native_event_id)).toBe(true)
  await later()
  expect((await native(answer.native_event_id)).state).toBe('mapped')
})

test('a lookup that can never succeed (no such user) is dead at once, with why', async () => {
  const event = fixture<{ metadata: Record<string, unknown>; body: Record<string, unknown> }>('canvas-live-events/user_created.json')
  event.body.user_id = '21070000000000404'
  const answer = (await (await post(event)).json()) as { state: string; reason: string }
  expect(answer).toMatchObject({ state: 'dead', reason: 'Canvas API answered 404 for /api/v1/users/404' })
})

test('no API token configured: the event waits rather than being lost', async () => {
  await saveAdapterSettings(t.service.database.db, 'canvas', { apiToken: null })
  const event = fixture<{ metadata: Record<string, unknown>; body: Record<string, unknown> }>('canvas-live-events/enrollment_created.json')
  event.body.enrollment_id = '777777'
  const answer = (await (await post(event)).json()) as { state: string; reason: string }
  expect(answer).toMatchObject({ state: 'enriching', reason: 'the Canvas adapter has no base URL and API token for lookups' })
  await saveAdapterSettings(t.service.database.db, 'canvas', { apiToken: CANVAS_TOKEN })
  expect(await later()).toMatchObject({ mapped: 1 })
})

test('the retry is a scheduled job like the others, under its lock', async () => {
  expect(await t.service.jobs!.trigger('adapters')).toBe('ran')
})

test('a slow LMS API: the LMS gets its answer in time, the mapping finishes on its own', async () => {
  t.service.adapters.answerWithinMs = 100
  lms.delayMs = 400
  const event = fixture<{ metadata: Record<string, unknown>; body: Record<string, unknown> }>('canvas-live-events/enrollment_created.json')
  // A course this file has not looked up yet: nothing cached.
  event.body.enrollment_id = '888888'
  event.body.course_id = '100123'
  event.body.user_id = '987123'
  const started = Date.now()
  const answer = (await (await post(event)).json()) as { native_event_id: string; state: string }
  expect(Date.now() - started).toBeLessThan(400)
  expect(answer.state).toBe('received')
  for (let i = 0; i < 50 && (await native(answer.native_event_id)).state === 'received'; i++) await Bun.sleep(100)
  expect((await native(answer.native_event_id)).state).toBe('mapped')
  lms.delayMs = 0
})

test('the logs said what happened to each event, and never a token', () => {
  const handled = logLines.filter((line) => line.includes('native event handled'))
  expect(handled.length).toBeGreaterThan(5)
  expect(handled.some((line) => line.includes('"state":"enriching"'))).toBe(true)
  for (const line of logLines) {
    expect(line).not.toContain(CANVAS_TOKEN)
    expect(line).not.toContain('inbound-token-0001')
  }
})
