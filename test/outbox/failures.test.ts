// Protects what each kind of failure does to a message and its address,
// end to end through the real service: a mailbox that does not exist (SMTP
// 5.1.x) is dead as `invalid_address` and suppressed; a policy refusal
// (5.7.x) is dead as `rejected` and not suppressed; SES throttling is
// retried; SES MessageRejected is dead as `rejected`; SES pausing our
// account holds the message without spending an attempt and alerts admins.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { eq } from 'drizzle-orm'
import { messages, suppressions } from '../../src/db/schema/index.ts'
import { enhancedStatus } from '../../src/outbox/failure.ts'
import { allMessages, attemptsOf, eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { sesError, startSesStandIn, type SesStandIn } from '../support/ses-stand-in.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

const reset = (email: string) => ({ user: { id: `f-${email}`, email }, reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })

async function settled(t: TestService, email: string, states = ['dead', 'sent']) {
  return eventually(async () => {
    const [row] = await t.service.database.db.select().from(messages).where(eq(messages.toAddress, email))
    return row && states.includes(row.state) ? row : undefined
  }, 10_000, `the message to ${email} to settle`)
}

describe('enhancedStatus', () => {
  test('reads the RFC 3463 code out of a reply, and nothing out of a reply without one', () => {
    expect(enhancedStatus('550 5.1.1 <x@y>: Recipient address rejected')).toBe('5.1.1')
    expect(enhancedStatus('550 5.7.1 Message rejected as spam')).toBe('5.7.1')
    expect(enhancedStatus('550 Requested action not taken')).toBeUndefined()
  })
})

describe('over SMTP', () => {
  let sink: SmtpSink
  let t: TestService
  beforeAll(async () => {
    sink = await startSmtpSink()
    t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url })
  }, 30_000)
  afterAll(async () => {
    await t.stop()
    await sink.close()
  })

  test('550 5.1.1: dead as invalid_address, and the address is suppressed: the next email is not even tried', async () => {
    sink.failRecipient('nobody@learner.test', 550, '5.1.1 <nobody@learner.test>: mailbox does not exist')
    await t.post('password_reset.requested', reset('nobody@learner.test'))
    const dead = await settled(t, 'nobody@learner.test')
    expect([dead.state, dead.reason]).toEqual(['dead', 'invalid_address'])
    const [suppressed] = await t.service.database.db.select().from(suppressions).where(eq(suppressions.email, 'nobody@learner.test'))
    expect(suppressed?.reason).toBe('hard_bounce')
    expect(suppressed?.detail).toContain('mailbox does not exist')

    await t.post('enrollment.created', { user: reset('nobody@learner.test').user, course: { id: 'c', title: 'C' }, enrollment: { id: 'e' } })
    const next = await eventually(async () => (await allMessages(t.service.database.db)).find((m) => m.notification === 'enrollment_confirmation' && m.state === 'skipped'))
    expect(next.reason).toBe('suppressed')
    expect(await attemptsOf(t.service.database.db, next.id)).toEqual([])
  })

  test('550 5.7.1: dead as rejected, and the address stays deliverable', async () => {
    sink.failRecipient('policy@learner.test', 550, '5.7.1 message refused by policy')
    await t.post('password_reset.requested', reset('policy@learner.test'))
    const dead = await settled(t, 'policy@learner.test')
    expect([dead.state, dead.reason, dead.lastError]).toEqual(['dead', 'rejected', '550 5.7.1 message refused by policy'])
    expect(await t.service.database.db.select().from(suppressions).where(eq(suppressions.email, 'policy@learner.test'))).toEqual([])
  })

  test('every email carries X-Belfry-Message: our id for it, which providers echo back', async () => {
    await t.post('password_reset.requested', reset('tagged@learner.test'))
    const [mail] = await sink.waitFor(1, 10_000)
    const row = await settled(t, 'tagged@learner.test')
    expect(mail!.parsed.headers.get('x-belfry-message')).toBe(row.id)
  })
})

describe('over SES (a stand-in for its API, through the real SDK)', () => {
  let ses: SesStandIn
  let t: TestService
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY }
  beforeAll(async () => {
    process.env.AWS_ACCESS_KEY_ID = 'AKIDBELFRYTEST'
    process.env.AWS_SECRET_ACCESS_KEY = 'belfry-test-secret'
    ses = await startSesStandIn()
    t = await startTestService({ MAIL_TRANSPORT: 'ses', SES_REGION: 'us-east-1', SES_ENDPOINT: ses.url, MAX_ATTEMPTS: '5' })
  }, 30_000)
  afterAll(async () => {
    await t.stop()
    await ses.close()
    process.env.AWS_ACCESS_KEY_ID = saved.id
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret
    if (saved.id === undefined) delete process.env.AWS_ACCESS_KEY_ID
    if (saved.secret === undefined) delete process.env.AWS_SECRET_ACCESS_KEY
  })

  test('throttled twice, then accepted: sent on the third attempt, with SES\'s id kept on the row', async () => {
    let calls = 0
    ses.answer = () =>
      ++calls <= 2
        ? sesError(429, 'TooManyRequestsException', 'Maximum sending rate exceeded.')
        : { status: 200, headers: { 'content-type': 'application/json' }, body: '{"MessageId":"ses-accepted-3"}' }
    await t.post('password_reset.requested', reset('throttled@learner.test'))
    const sent = await settled(t, 'throttled@learner.test')
    expect([sent.state, sent.attempts, sent.providerMessageId]).toEqual(['sent', 3, 'ses-accepted-3'])
    const attempts = await attemptsOf(t.service.database.db, sent.id)
    expect(attempts.map((a) => [a.transport, a.outcome, a.code])).toEqual([
      ['ses', 'transient', 'TooManyRequestsException'],
      ['ses', 'transient', 'TooManyRequestsException'],
      ['ses', 'sent', '200'],
    ])
  })

  test('MessageRejected: dead at once as rejected', async () => {
    ses.answer = () => sesError(400, 'MessageRejected', 'Email address is not verified.')
    await t.post('password_reset.requested', reset('rejected@learner.test'))
    const dead = await settled(t, 'rejected@learner.test')
    expect([dead.state, dead.reason, dead.attempts]).toEqual(['dead', 'rejected', 1])
    expect(dead.lastError).toContain('Email address is not verified.')
  })

  test('SendingPaused: the message waits with its attempts intact, and the admins are alerted', async () => {
    ses.answer = () => sesError(400, 'SendingPausedException', 'Sending is paused for this account.')
    await t.post('password_reset.requested', reset('paused@learner.test'))
    const held = await settled(t, 'paused@learner.test', ['retrying'])
    expect([held.reason, held.attempts]).toEqual(['provider_paused', 0])
    expect(held.runAt.getTime() - Date.now()).toBeGreaterThan(4 * 60_000)
    // The alert to the admins waits too — the only transport is paused — but it is written.
    const alert = await eventually(async () =>
      (await allMessages(t.service.database.db)).find((m) => m.notification === 'admin_system_error' && m.toAddress === ADMIN),
    )
    expect((alert.variables.error as { message: string }).message).toContain('The ses transport stopped taking mail (SendingPausedException)')
  })
})
