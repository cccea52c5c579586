// Protects what each kind of SES report does: which bounces suppress, which
// only count, and that both SES notification forms read the same.

import { describe, expect, test } from 'bun:test'
import { interpretSes, messageRef } from '../../src/providers/feedback.ts'

const at = new Date('2026-12-04T12:00:00Z')
const mail = { messageId: 'ses-1', timestamp: '2026-12-04T10:00:00Z' }
const bounce = (bounceType: string, bounceSubType: string, form: 'notificationType' | 'eventType' = 'notificationType') =>
  JSON.stringify({
    [form]: 'Bounce',
    mail,
    bounce: { bounceType, bounceSubType, bouncedRecipients: [{ emailAddress: 'a@learner.test', diagnosticCode: 'smtp; 550' }] },
  })

function interpret(message: string) {
  const result = interpretSes(message, at)
  if (!result.ok) throw new Error(result.reason)
  return result.feedback
}

describe('interpretSes', () => {
  test('permanent bounces of every hard subtype suppress, in both forms', () => {
    for (const subType of ['General', 'NoEmail', 'Suppressed', 'OnAccountSuppressionList']) {
      for (const form of ['notificationType', 'eventType'] as const) {
        expect(interpret(bounce('Permanent', subType, form)).suppress).toEqual([
          { email: 'a@learner.test', reason: 'hard_bounce', detail: 'smtp; 550' },
        ])
      }
    }
  })

  test('transient and undetermined bounces only count', () => {
    for (const [type, sub] of [['Transient', 'MailboxFull'], ['Transient', 'General'], ['Undetermined', 'Undetermined']]) {
      const feedback = interpret(bounce(type!, sub!))
      expect(feedback.kind).toBe('bounce')
      expect(feedback.suppress).toEqual([])
      expect(feedback.providerMessageId).toBe('ses-1')
    }
  })

  test('a report without its own time takes the mail time, then the SNS time', () => {
    expect(interpret(JSON.stringify({ eventType: 'Reject', mail, reject: { reason: 'virus' } })).occurredAt.toISOString()).toBe(
      '2026-12-04T10:00:00.000Z',
    )
    expect(interpret(JSON.stringify({ eventType: 'Reject', mail: {}, reject: {} })).occurredAt).toEqual(at)
  })

  test('what is not an SES report Belfry records is refused with a reason', () => {
    expect(interpretSes('plain text', at)).toEqual({ ok: false, reason: 'the message is not JSON' })
    expect(interpretSes(JSON.stringify({ eventType: 'Send', mail, send: {} }), at).ok).toBe(false)
    expect(interpretSes(JSON.stringify({ notificationType: 'Bounce', mail }), at).ok).toBe(false)
    expect(interpretSes(JSON.stringify({ eventType: 'Bounce' }), at).ok).toBe(false)
  })
})

describe('messageRef', () => {
  const id = '3f2c9a1e-0b7d-4c52-9f1a-2d3e4f5a6b7c'
  test('our id, or our Message-ID with or without brackets', () => {
    expect(messageRef(id)).toEqual({ id, header: null })
    expect(messageRef(`<${id}@belfry.test>`)).toEqual({ id, header: `<${id}@belfry.test>` })
    expect(messageRef(`${id}@belfry.test`)).toEqual({ id, header: `<${id}@belfry.test>` })
    expect(messageRef('<CAF=abc@mail.gmail.com>')).toBeUndefined()
    expect(messageRef("1' or '1'='1")).toBeUndefined()
  })
})
