// Protects POST /v1/providers/bounces, the endpoint for providers other than
// SES: signed like /v1/events, counted once per webhook-id, a permanent
// bounce or complaint suppresses, a transient bounce is only recorded.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomUUID } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { messageEvents, recipients, suppressions } from '../../src/db/schema/index.ts'
import { allMessages } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { randomSecret, signedRequest, type SignedRequestOptions } from '../support/webhooks.ts'

let t: TestService
beforeAll(async () => {
  // No worker: the reports name messages that only need to exist.
  t = await startTestService({ ROLE: 'api' })
}, 30_000)
afterAll(() => t.stop())

const db = () => t.service.database.db
const URL_ = 'http://belfry.test/v1/providers/bounces'
const report = (body: unknown, options: SignedRequestOptions = {}) => t.send(signedRequest(JSON.stringify(body), { url: URL_, ...options }))

async function messageTo(user: { id: string; email: string }) {
  await t.post('enrollment.created', { user, course: { id: 'c-gb', title: 'Generic' }, enrollment: { id: `e-${user.id}` } })
  return (await allMessages(db())).find((m) => m.toAddress === user.email)!
}

async function suppressionOf(email: string) {
  const [row] = await db().select().from(suppressions).where(eq(suppressions.email, email))
  return row
}

const eventsFor = (messageId: string) => db().select().from(messageEvents).where(eq(messageEvents.messageId, messageId))

async function counts() {
  const [row] = await rows<{ events: number; suppressions: number; message_events: number }>(
    db(),
    sql`select (select count(*)::int from events) as events, (select count(*)::int from suppressions) as suppressions,
               (select count(*)::int from message_events) as message_events`,
  )
  return row!
}

describe('POST /v1/providers/bounces', () => {
  test('a signed permanent bounce naming our Message-ID: 202, the address suppressed and the bounce recorded', async () => {
    const message = await messageTo({ id: 'u-g1', email: 'hard@learner.test' })
    const response = await report({
      type: 'bounce',
      email: 'Hard@Learner.test',
      bounce_type: 'permanent',
      message_id: message.messageIdHeader,
      detail: '550 5.1.1 mailbox does not exist',
      occurred_at: '2026-12-04T09:00:00Z',
    })
    expect(response.status).toBe(202)
    expect(await response.json()).toEqual({ suppressed: true, recorded: true })
    expect(await suppressionOf('hard@learner.test')).toMatchObject({ reason: 'hard_bounce', detail: '550 5.1.1 mailbox does not exist' })
    const [event] = await eventsFor(message.id)
    expect(event).toMatchObject({ kind: 'bounce', source: 'webhook', detail: { bounceType: 'permanent', diagnostic: '550 5.1.1 mailbox does not exist' } })
    expect(event!.occurredAt.toISOString()).toBe('2026-12-04T09:00:00.000Z')
  })

  test('unsigned or wrongly signed: 401 and nothing stored', async () => {
    const before = await counts()
    const body = { type: 'bounce', email: 'x@learner.test', bounce_type: 'permanent' }
    const unsigned = await report(body, { signature: null })
    expect(unsigned.status).toBe(401)
    expect(((await unsigned.json()) as { error: string }).error).toBe('invalid_signature')
    expect((await report(body, { secret: randomSecret() })).status).toBe(401)
    expect(await counts()).toEqual(before)
  })

  test('a transient bounce is recorded, not suppressed', async () => {
    const message = await messageTo({ id: 'u-g2', email: 'soft@learner.test' })
    const response = await report({ type: 'bounce', email: 'soft@learner.test', bounce_type: 'transient', message_id: message.id })
    expect(response.status).toBe(202)
    expect(await response.json()).toEqual({ suppressed: false, recorded: true })
    expect(await suppressionOf('soft@learner.test')).toBeUndefined()
    expect((await eventsFor(message.id)).map((e) => e.kind)).toEqual(['bounce'])
  })

  test('a complaint suppresses and opts the recipient out', async () => {
    const message = await messageTo({ id: 'u-g3', email: 'spam@learner.test' })
    const response = await report({ type: 'complaint', email: 'spam@learner.test', message_id: `<${message.id}@belfry.test>` })
    expect(await response.json()).toEqual({ suppressed: true, recorded: true })
    expect((await suppressionOf('spam@learner.test'))?.reason).toBe('complaint')
    const [recipient] = await db().select().from(recipients).where(eq(recipients.lmsUserId, 'u-g3'))
    expect(recipient!.unsubscribedAt).toBeInstanceOf(Date)
  })

  test('a message id that is not ours still suppresses the address; nothing is recorded', async () => {
    const before = await counts()
    const response = await report({
      type: 'bounce',
      email: 'elsewhere@learner.test',
      bounce_type: 'permanent',
      message_id: `<${randomUUID()}@other.example>`,
    })
    expect(await response.json()).toEqual({ suppressed: true, recorded: false })
    expect((await counts()).message_events).toBe(before.message_events)
    // Our id under someone else's domain is not our message either.
    const message = await messageTo({ id: 'u-g4', email: 'domain@learner.test' })
    const foreign = await report({ type: 'bounce', email: 'domain@learner.test', bounce_type: 'transient', message_id: `<${message.id}@other.example>` })
    expect(await foreign.json()).toEqual({ suppressed: false, recorded: false })
  })

  test('the same webhook-id: the first answer again (200) for the same body, 409 for another, effects once', async () => {
    const message = await messageTo({ id: 'u-g5', email: 'replay@learner.test' })
    const id = `msg_${randomUUID()}`
    const body = { type: 'bounce', email: 'replay@learner.test', bounce_type: 'transient', message_id: message.id }
    expect((await report(body, { id })).status).toBe(202)
    const again = await report(body, { id })
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual({ suppressed: false, recorded: true })
    const other = await report({ ...body, bounce_type: 'permanent' }, { id })
    expect(other.status).toBe(409)
    expect(await eventsFor(message.id)).toHaveLength(1)
    expect(await suppressionOf('replay@learner.test')).toBeUndefined()
  })

  test('an invalid report: 422 naming each problem; malformed JSON: 400; nothing stored', async () => {
    const before = await counts()
    const invalid = await report({ type: 'bounced', email: 'not an address' })
    expect(invalid.status).toBe(422)
    const body = (await invalid.json()) as { error: string; details: { path: string }[] }
    expect(body.error).toBe('invalid_event')
    expect(body.details.map((d) => d.path)).toEqual(expect.arrayContaining(['/type', '/email']))
    const noType = await report({ type: 'bounce', email: 'a@learner.test' })
    expect(noType.status).toBe(422)
    expect(((await noType.json()) as { details: { path: string }[] }).details[0]!.path).toBe('/bounce_type')
    expect((await t.send(signedRequest('{"type":', { url: URL_ }))).status).toBe(400)
    expect(await counts()).toEqual(before)
  })

  test('webhook-ids of /v1/events and of this endpoint do not collide', async () => {
    const id = `msg_${randomUUID()}`
    expect((await t.post('user.updated', { user: { id: 'u-g6', email: 'same@learner.test' } }, { id })).status).toBe(202)
    const response = await report({ type: 'bounce', email: 'same@learner.test', bounce_type: 'permanent' }, { id })
    expect(response.status).toBe(202)
  })
})
