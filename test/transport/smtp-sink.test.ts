// Protects: the test SMTP server other suites drive end to end answers as it
// was programmed — per message, per recipient, in order — and waitFor both
// waits for late mail and fails with a message that says what arrived.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { createSmtpTransport } from '../../src/transport/smtp.ts'
import type { Transport } from '../../src/transport/types.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { sampleMail } from './sample-mail.ts'

let sink: SmtpSink
let smtp: Transport

beforeAll(async () => {
  sink = await startSmtpSink()
  smtp = createSmtpTransport({ url: sink.url, concurrency: 1 })
})

afterEach(() => sink.reset())

afterAll(async () => {
  await smtp.close()
  await sink.close()
})

/** The outcome of one send as the reply code, '250' on success. */
const outcome = (to = 'zoe@example.com') =>
  smtp.send(sampleMail({ to: { address: to } })).then(
    (r) => r.code,
    (e: { code?: string }) => e.code,
  )

describe('smtp sink', () => {
  test('failNext counts messages, then falls back to what was programmed behind it', async () => {
    sink.failNext(2, 451, '4.3.0 try later')
    sink.failAlways(550, '5.1.1 no such user', { at: 'rcpt' })

    expect([await outcome(), await outcome(), await outcome()]).toEqual(['451', '451', '550'])
    expect(sink.rejected).toBe(3)

    sink.acceptAll()
    expect(await outcome()).toBe('250')
    expect(sink.messages).toHaveLength(1)
  })

  test('failRecipient rejects one address and lets the others through', async () => {
    sink.failRecipient('Bounce@Example.com', 550, '5.1.1 mailbox unavailable')

    expect(await outcome('bounce@example.com')).toBe('550')
    expect(await outcome('zoe@example.com')).toBe('250')
    expect(sink.messages.map((m) => m.envelope.to)).toEqual([['zoe@example.com']])
  })

  test('waitFor resolves when mail arrives later', async () => {
    const waiting = sink.waitFor(2, 2000)
    void outcome()
    void outcome()

    const messages = await waiting
    expect(messages).toHaveLength(2)
  })

  test('waitFor gives up with a message that says what did arrive', async () => {
    sink.failNext(1, 451, '4.3.0 try later')
    await outcome()

    await expect(sink.waitFor(1, 100)).rejects.toThrow('waited 100 ms for 1 message(s), got 0 (rejected 1, hung 0)')
  })

  test('reset forgets messages, counters and programmed answers', async () => {
    await outcome()
    sink.failAlways(451, '4.3.0 try later')
    sink.reset()

    expect([sink.messages.length, sink.rejected, sink.hung]).toEqual([0, 0, 0])
    expect(await outcome()).toBe('250')
  })
})
