// Protects: only the LMS holding the secret can post events, within five
// minutes, with any of several signatures so secrets can rotate.

import { describe, expect, test } from 'bun:test'
import { Webhook } from 'standardwebhooks'
import { AppError } from '../../src/errors.ts'
import { verifySignature } from '../../src/events/signature.ts'
import { randomSecret, TEST_SECRET } from '../support/webhooks.ts'

const body = new TextEncoder().encode('{"type":"user.updated","data":{}}')
const now = 1_800_000_000
const signWith = (secret: string, id = 'msg_1', ts = now, payload: Uint8Array = body) =>
  new Webhook(secret).sign(id, new Date(ts * 1000), payload)
const headers = (signature: string | null, ts = now, id: string | null = 'msg_1') => ({
  id,
  timestamp: String(ts),
  signature,
})

function reason(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(AppError)
    expect((error as AppError).status).toBe(401)
    return (error as AppError).message
  }
  throw new Error('expected a rejection')
}

describe('verifySignature', () => {
  test('accepts a signature made by the reference library', () => {
    expect(verifySignature([TEST_SECRET], headers(signWith(TEST_SECRET)), body, now)).toBe('msg_1')
  })

  test('accepts any one of several signatures (sender rotating secrets)', () => {
    const both = `${signWith(randomSecret())} ${signWith(TEST_SECRET)}`
    expect(verifySignature([TEST_SECRET], headers(both), body, now)).toBe('msg_1')
  })

  test('accepts the old secret while a receiver rotation is under way', () => {
    const old = randomSecret()
    expect(verifySignature([TEST_SECRET, old], headers(signWith(old)), body, now)).toBe('msg_1')
  })

  test('rejects a body changed by one byte', () => {
    const tampered = new TextEncoder().encode('{"type":"user.updated","data":{} }')
    expect(reason(() => verifySignature([TEST_SECRET], headers(signWith(TEST_SECRET)), tampered, now))).toBe(
      'no signature matches',
    )
  })

  test('rejects another secret, another id, and a signature without v1', () => {
    expect(reason(() => verifySignature([TEST_SECRET], headers(signWith(randomSecret())), body, now))).toBe(
      'no signature matches',
    )
    expect(reason(() => verifySignature([TEST_SECRET], headers(signWith(TEST_SECRET, 'msg_2')), body, now))).toBe(
      'no signature matches',
    )
    expect(reason(() => verifySignature([TEST_SECRET], headers('v2,abc'), body, now))).toContain('no v1 signature')
  })

  test('allows five minutes of clock skew either way, not more', () => {
    for (const skew of [-300, 300]) {
      const ts = now + skew
      expect(verifySignature([TEST_SECRET], headers(signWith(TEST_SECRET, 'msg_1', ts), ts), body, now)).toBe('msg_1')
    }
    for (const skew of [-301, 301]) {
      const ts = now + skew
      expect(reason(() => verifySignature([TEST_SECRET], headers(signWith(TEST_SECRET, 'msg_1', ts), ts), body, now))).toContain(
        '5 minutes',
      )
    }
  })

  test('names the missing header', () => {
    expect(reason(() => verifySignature([TEST_SECRET], headers(null), body, now))).toContain('webhook-signature')
    expect(reason(() => verifySignature([TEST_SECRET], headers('v1,x', now, null), body, now))).toContain('webhook-id')
  })
})
