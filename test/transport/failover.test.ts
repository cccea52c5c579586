// Protects failover through real servers: the primary SMTP server refuses
// connections, so after a few failures its circuit opens and mail goes
// through the fallback (the file transport, which writes .eml files); the
// server comes back, the next probe after the cool-down succeeds, and
// traffic returns to it. Each attempt records which transport took it.

import { afterAll, describe, expect, test } from 'bun:test'
import { readdirSync } from 'node:fs'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { mailDirectory } from '../../src/transport/index.ts'
import { eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

let t: TestService | undefined
let sink: SmtpSink | undefined
afterAll(async () => {
  await t?.stop()
  await sink?.close()
})

const reset = (i: number) => ({ user: { id: `fo-${i}`, email: `fo${i}@learner.test` }, reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } })

async function outcome(service: TestService) {
  const [row] = await rows<{ sent: number; via_file: number; via_smtp: number; smtp_failures: number }>(
    service.service.database.db,
    sql`select (select count(*)::int from messages where state = 'sent') as sent,
               (select count(*)::int from delivery_attempts where outcome = 'sent' and transport = 'file') as via_file,
               (select count(*)::int from delivery_attempts where outcome = 'sent' and transport = 'smtp') as via_smtp,
               (select count(*)::int from delivery_attempts where outcome = 'transient' and transport = 'smtp') as smtp_failures`,
  )
  return row!
}

describe('failover', () => {
  test('primary refuses connections → the fallback carries the mail; primary back → traffic returns', async () => {
    // A port where an SMTP server was and is no more: connections are refused.
    const gone = await startSmtpSink()
    const port = Number(new URL(gone.url).port)
    await gone.close()

    t = await startTestService({
      MAIL_TRANSPORTS: 'smtp',
      MAIL_FALLBACK: 'file',
      SMTP_URL: `smtp://127.0.0.1:${port}`,
      CIRCUIT_COOLDOWN_MS: '1500',
      MAX_ATTEMPTS: '10',
    })
    for (let i = 0; i < 8; i++) expect((await t.post('password_reset.requested', reset(i))).status).toBe(202)
    const down = await eventually(async () => {
      const o = await outcome(t!)
      return o.sent === 8 ? o : undefined
    }, 15_000, 'every message sent while the primary is down')
    // Refusals open the circuit (five in a row; more when several were in flight at once, or a probe
    // found it still down); everything, the refused ones included on their retry, went through the fallback.
    expect(down).toMatchObject({ sent: 8, via_file: 8, via_smtp: 0 })
    expect(down.smtp_failures).toBeGreaterThanOrEqual(5)
    expect(readdirSync(mailDirectory(t.dataDir)).filter((f) => f.endsWith('.eml'))).toHaveLength(8)

    sink = await startSmtpSink({ port })
    await Bun.sleep(1600) // the cool-down passes
    // The first message after it is the probe; while it is out, others still take the fallback.
    await t.post('password_reset.requested', reset(8))
    await eventually(async () => (await outcome(t!)).via_smtp === 1 || undefined, 10_000, 'the probe to be sent')
    for (let i = 9; i < 12; i++) await t.post('password_reset.requested', reset(i))
    const received = await sink.waitFor(4, 10_000)
    expect(received.map((m) => m.envelope.to[0]).sort()).toEqual(['fo10@learner.test', 'fo11@learner.test', 'fo8@learner.test', 'fo9@learner.test'])
    const up = await eventually(async () => {
      const o = await outcome(t!)
      return o.sent === 12 ? o : undefined
    })
    expect(up).toEqual({ sent: 12, via_file: 8, via_smtp: 4, smtp_failures: down.smtp_failures })
  }, 40_000)
})
