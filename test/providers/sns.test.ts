// Protects the SES feedback loop over SNS: only signed messages on our
// topics count, each counts once, a hard bounce or a complaint stops the
// next email to that address, and Belfry never fetches from a host it was
// not told to trust.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { generateKeyPairSync, randomUUID } from 'node:crypto'
import { eq, sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { messageEvents, messages, recipients, suppressions } from '../../src/db/schema/index.ts'
import { allMessages, eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import {
  notification,
  sesBounce,
  sesComplaint,
  snsRequest,
  startSnsStandIn,
  subscriptionConfirmation,
  TOPIC_ARN,
  type SnsStandIn,
} from '../support/sns.ts'

let sink: SmtpSink
let sns: SnsStandIn
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  sns = startSnsStandIn()
  t = await startTestService({
    MAIL_TRANSPORT: 'smtp',
    SMTP_URL: sink.url,
    SNS_TOPIC_ARNS: `arn:aws:sns:eu-west-1:123456789012:other-topic,${TOPIC_ARN}`,
    SNS_CERT_HOSTS: sns.host,
  })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
  sns.close()
})
beforeEach(() => sink.reset())

const course = { id: 'c-sns', title: 'Feedback loops', url: 'https://lms.test/c-sns' }
const db = () => t.service.database.db

async function sentMessageTo(user: { id: string; email: string }): Promise<typeof messages.$inferSelect> {
  await t.post('enrollment.created', { user, course, enrollment: { id: `e-${user.id}` } })
  await sink.waitFor(1, 10_000)
  return eventually(async () => (await allMessages(db())).find((m) => m.toAddress === user.email && m.state === 'sent'))
}

async function suppressionOf(email: string) {
  const [row] = await db().select().from(suppressions).where(eq(suppressions.email, email))
  return row
}

async function eventsFor(messageId: string) {
  return db().select().from(messageEvents).where(eq(messageEvents.messageId, messageId))
}

async function storedSnsEvents(): Promise<number> {
  const [row] = await rows<{ n: number }>(db(), sql`select count(*)::int as n from events where webhook_id like 'sns:%'`)
  return row!.n
}

describe('a hard bounce', () => {
  test('suppresses the address before its next message: nothing reaches the sink, the message is skipped with reason suppressed', async () => {
    const learner = { id: 'u-b1', email: 'gone@learner.test', name: 'Gone' }
    const first = await sentMessageTo(learner)
    sink.reset()

    // SMTP gives no provider id, so this notification names the message by the header SES echoes back.
    const response = await t.send(notification(sns, sesBounce('Gone@Learner.test', { belfryMessageId: first.id })))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'processed', suppressed: true, recorded: true })

    const suppression = await suppressionOf('gone@learner.test')
    expect(suppression?.reason).toBe('hard_bounce')
    expect(suppression?.detail).toBe('smtp; 550 5.1.1 user unknown')
    const [event] = await eventsFor(first.id)
    expect(event).toMatchObject({ kind: 'bounce', source: 'ses' })
    expect(event!.occurredAt.toISOString()).toBe('2026-12-04T10:00:01.000Z')
    expect(event!.detail).toMatchObject({ bounceType: 'Permanent', bounceSubType: 'General' })
    // Addresses and IPs stay out of what is recorded about the message.
    expect(JSON.stringify(event!.detail)).not.toContain('gone@')
    expect(JSON.stringify(event!.detail)).not.toContain('203.0.113.9')

    await t.post('course.completed', { user: learner, course, completion: { completed_at: '2026-12-04T12:00:00Z' } })
    await t.post('password_reset.requested', { user: learner, reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })
    const later = await eventually(async () => {
      const mine = (await allMessages(db())).filter((m) => m.toAddress === learner.email && m.id !== first.id)
      return mine.length === 2 && mine.every((m) => m.state === 'skipped') && mine
    })
    expect(later.map((m) => m.reason)).toEqual(['suppressed', 'suppressed'])
    await Bun.sleep(200)
    expect(sink.messages).toHaveLength(0)
  })

  test('the same MessageId twice is processed once: one message event, the second answer says duplicate', async () => {
    const learner = { id: 'u-b2', email: 'twice@learner.test' }
    const sent = await sentMessageTo(learner)
    // What the SES transport stores when SES accepts a message; the SMTP sink has no such id.
    await db().update(messages).set({ providerMessageId: '0100018c-ses-twice-000000' }).where(eq(messages.id, sent.id))

    const messageId = randomUUID()
    const bounce = sesBounce(learner.email, { sesMessageId: '0100018c-ses-twice-000000' })
    const first = await t.send(notification(sns, bounce, { messageId }))
    expect(await first.json()).toEqual({ status: 'processed', suppressed: true, recorded: true })
    // SNS re-sends the very same message when it thinks we were too slow; a new signature changes nothing.
    const again = await t.send(notification(sns, bounce, { messageId, version: '2' }))
    expect(again.status).toBe(200)
    expect(await again.json()).toEqual({ status: 'duplicate' })
    expect(await eventsFor(sent.id)).toHaveLength(1)
  })

  test('a transient bounce is recorded but suppresses nothing', async () => {
    const learner = { id: 'u-b3', email: 'full@learner.test' }
    const sent = await sentMessageTo(learner)
    const response = await t.send(
      notification(sns, sesBounce(learner.email, { bounceType: 'Transient', subType: 'MailboxFull', belfryMessageId: sent.id })),
    )
    expect(await response.json()).toEqual({ status: 'processed', suppressed: false, recorded: true })
    expect(await suppressionOf(learner.email)).toBeUndefined()
    expect((await eventsFor(sent.id)).map((e) => e.kind)).toEqual(['bounce'])
  })

  test('a bounce about a message Belfry does not know still suppresses the address, and records nothing', async () => {
    const before = await db().select().from(messageEvents)
    const response = await t.send(notification(sns, sesBounce('stranger@learner.test', { subType: 'NoEmail' }), { version: '2' }))
    expect(await response.json()).toEqual({ status: 'processed', suppressed: true, recorded: false })
    expect((await suppressionOf('stranger@learner.test'))?.reason).toBe('hard_bounce')
    expect(await db().select().from(messageEvents)).toHaveLength(before.length)
  })
})

describe('a complaint', () => {
  test('suppresses the address and opts the recipient out of every non-essential category', async () => {
    const learner = { id: 'u-c1', email: 'Angry@Learner.test' }
    const sent = await sentMessageTo(learner)
    await db().update(messages).set({ providerMessageId: '0100018c-ses-complaint-000000' }).where(eq(messages.id, sent.id))

    const response = await t.send(notification(sns, sesComplaint('angry@learner.test', '0100018c-ses-complaint-000000')))
    expect(await response.json()).toEqual({ status: 'processed', suppressed: true, recorded: true })
    expect((await suppressionOf('angry@learner.test'))?.reason).toBe('complaint')
    const [recipient] = await db().select().from(recipients).where(eq(recipients.lmsUserId, 'u-c1'))
    expect(recipient!.unsubscribedAt).toBeInstanceOf(Date)
    const [event] = await eventsFor(sent.id)
    expect(event).toMatchObject({ kind: 'complaint', source: 'ses' })
    expect(event!.detail).toMatchObject({ complaintFeedbackType: 'abuse' })
  })
})

describe('other SES events', () => {
  test('delivery, delay, open and click are recorded against the message, in both notification forms', async () => {
    const learner = { id: 'u-d1', email: 'fine@learner.test' }
    const sent = await sentMessageTo(learner)
    await db().update(messages).set({ providerMessageId: '0100018c-ses-events-000000' }).where(eq(messages.id, sent.id))
    const mail = { messageId: '0100018c-ses-events-000000', timestamp: '2026-12-04T10:00:00.000Z' }
    const reports = [
      { notificationType: 'Delivery', mail, delivery: { timestamp: '2026-12-04T10:00:02.000Z', smtpResponse: '250 2.0.0 OK', recipients: [learner.email] } },
      { eventType: 'DeliveryDelay', mail, deliveryDelay: { delayType: 'MailboxFull', delayedRecipients: [{ emailAddress: learner.email, status: '4.2.2' }] } },
      { eventType: 'Open', mail, open: { timestamp: '2026-12-04T10:05:00.000Z', userAgent: 'Mail/1.0', ipAddress: '198.51.100.4' } },
      { eventType: 'Click', mail, click: { timestamp: '2026-12-04T10:06:00.000Z', link: 'https://lms.test/c-sns', userAgent: 'Mail/1.0' } },
      { eventType: 'Reject', mail, reject: { reason: 'Bad content' } },
    ]
    for (const report of reports) {
      const response = await t.send(notification(sns, report))
      expect((await response.json()) as object).toMatchObject({ status: 'processed', suppressed: false, recorded: true })
    }
    const recorded = await eventsFor(sent.id)
    expect(recorded.map((e) => e.kind).sort()).toEqual(['click', 'delivery', 'delivery_delay', 'open', 'reject'])
    expect(recorded.find((e) => e.kind === 'delivery')!.detail).toEqual({ smtpResponse: '250 2.0.0 OK' })
    expect(JSON.stringify(recorded.find((e) => e.kind === 'open')!.detail)).not.toContain('198.51.100.4')
    expect(await suppressionOf(learner.email)).toBeUndefined()
  })

  test('a message that is not an SES notification is acknowledged and ignored', async () => {
    const response = await t.send(snsRequest(sns, { Type: 'Notification', Message: 'hello from the console' }, { subject: 'test' }))
    expect(response.status).toBe(200)
    expect((await response.json()) as object).toMatchObject({ status: 'ignored' })
  })
})

describe('authentication', () => {
  test('a body changed after signing: 403 with the reason, nothing stored', async () => {
    const before = await storedSnsEvents()
    const response = await t.send(
      notification(sns, sesBounce('victim@learner.test'), {
        tamper: (fields) => {
          fields.Message = fields.Message!.replace('Permanent', 'Permanent ')
        },
      }),
    )
    expect(response.status).toBe(403)
    expect(await response.json()).toEqual({ error: 'forbidden', message: 'the signature does not match the message' })
    expect(await suppressionOf('victim@learner.test')).toBeUndefined()
    expect(await storedSnsEvents()).toBe(before)
  })

  test('a genuine bounce signed longer ago than RETENTION_DAYS is a replay: 403, nothing stored', async () => {
    const before = await storedSnsEvents()
    const old = new Date(Date.now() - 91 * 86_400_000).toISOString()
    const response = await t.send(notification(sns, sesBounce('replayed@learner.test'), { timestamp: old }))
    expect(response.status).toBe(403)
    expect(((await response.json()) as { message: string }).message).toContain('longer ago than RETENTION_DAYS (90): a replay')
    expect(await suppressionOf('replayed@learner.test')).toBeUndefined()
    expect(await storedSnsEvents()).toBe(before)
  })

  test('a signature by another key, a missing signature, an unknown SignatureVersion: 403', async () => {
    const { privateKey: other } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const byOther = await t.send(notification(sns, sesBounce('victim@learner.test'), { key: other }))
    expect(byOther.status).toBe(403)
    const unsigned = await t.send(notification(sns, sesBounce('victim@learner.test'), { tamper: (f) => void delete f.Signature }))
    expect(unsigned.status).toBe(403)
    expect(((await unsigned.json()) as { message: string }).message).toContain('not signed')
    const v3 = await t.send(notification(sns, sesBounce('victim@learner.test'), { tamper: (f) => void (f.SignatureVersion = '3') }))
    expect(v3.status).toBe(403)
    expect(((await v3.json()) as { message: string }).message).toContain('SignatureVersion 3')
    expect(await suppressionOf('victim@learner.test')).toBeUndefined()
  })

  test('a TopicArn not in SNS_TOPIC_ARNS: 403, and its certificate is not even fetched', async () => {
    const before = [...sns.hits.values()].reduce((a, b) => a + b, 0)
    const response = await t.send(
      notification(sns, sesBounce('victim@learner.test'), { topicArn: 'arn:aws:sns:eu-west-1:123456789012:someone-else' }),
    )
    expect(response.status).toBe(403)
    expect(((await response.json()) as { message: string }).message).toContain('SNS_TOPIC_ARNS')
    expect([...sns.hits.values()].reduce((a, b) => a + b, 0)).toBe(before)
  })

  test('a SigningCertURL on a host SNS_CERT_HOSTS does not list: 403 without fetching it', async () => {
    const path = '/SimpleNotificationService-test.pem'
    const before = sns.hitsOn(path)
    // The same server under another name: only the listed spelling of the host counts.
    const port = sns.host.split(':')[1]
    const response = await t.send(notification(sns, sesBounce('victim@learner.test'), { certUrl: `http://localhost:${port}${path}` }))
    expect(response.status).toBe(403)
    expect(((await response.json()) as { message: string }).message).toContain('SNS_CERT_HOSTS')
    expect(sns.hitsOn(path)).toBe(before)
    expect(await suppressionOf('victim@learner.test')).toBeUndefined()
  })

  test('certificates are cached: one fetch for every message signed with it', async () => {
    expect(sns.hitsOn('/SimpleNotificationService-test.pem')).toBe(1)
  })

  test('a body that is not SNS JSON: 400', async () => {
    const post = (body: string) => t.send(new Request('http://belfry.test/v1/providers/ses/sns', { method: 'POST', body }))
    expect((await post('not json')).status).toBe(400)
    const response = await post(JSON.stringify({ Type: 'Notification' }))
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: string }).error).toBe('bad_request')
  })
})

describe('subscriptions', () => {
  test('a SubscriptionConfirmation is confirmed by fetching its SubscribeURL, once however often it arrives', async () => {
    const messageId = randomUUID()
    const request = subscriptionConfirmation(sns, { messageId })
    const first = await t.send(request.clone())
    expect(first.status).toBe(200)
    expect(await first.json()).toEqual({ status: 'confirmed' })
    const again = await t.send(request)
    expect(await again.json()).toEqual({ status: 'duplicate' })
    expect(sns.hitsOn('/confirm')).toBe(1)
  })

  test('a SubscribeURL on a host that is not allowed is never fetched: 403', async () => {
    const before = sns.hitsOn('/confirm')
    const port = sns.host.split(':')[1]
    const response = await t.send(subscriptionConfirmation(sns, { subscribeUrl: `http://localhost:${port}/confirm?Token=x` }))
    expect(response.status).toBe(403)
    expect(((await response.json()) as { message: string }).message).toContain('SubscribeURL')
    expect(sns.hitsOn('/confirm')).toBe(before)
  })
})

describe('without SNS_TOPIC_ARNS', () => {
  test('nothing is accepted, and the answer says what to configure', async () => {
    const bare = await startTestService({ ROLE: 'api', SNS_CERT_HOSTS: sns.host })
    try {
      const response = await bare.send(notification(sns, sesBounce('victim@learner.test')))
      expect(response.status).toBe(403)
      expect(((await response.json()) as { message: string }).message).toContain('SNS_TOPIC_ARNS is not configured')
    } finally {
      await bare.stop()
    }
  })
})
