// Protects how the router picks a way out: by weight, around an open
// circuit to the fallback, back after a successful probe, around a paused
// provider without spending the message's attempt. The transports here
// are small scripted ones behind the real Transport interface; the real
// SMTP failover is in failover.test.ts.

import { describe, expect, test } from 'bun:test'
import { CircuitBreaker } from '../../src/transport/breaker.ts'
import { TransportRouter } from '../../src/transport/router.ts'
import { TransportError, type OutgoingMail, type Transport } from '../../src/transport/types.ts'

const mail: OutgoingMail = { messageId: '<m@x>', from: 'a@x', to: { address: 'b@x' }, subject: 's', html: 'h', text: 't' }

/** Answers as told: `ok`, or throws the error given. */
function scripted(name: string) {
  const sent: string[] = []
  let next: () => TransportError | null = () => null
  const transport: Transport = {
    name,
    async send(m) {
      const error = next()
      if (error) throw error
      sent.push(m.messageId)
      return { code: '250', response: 'ok' }
    },
    async close() {},
  }
  return {
    transport,
    sent,
    fail: (error: () => TransportError | null) => (next = error),
  }
}

function clock(start = 1_000_000) {
  let t = start
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

describe('CircuitBreaker', () => {
  test('opens after the streak, rests, lets one probe through, and closes on its success', () => {
    const c = clock()
    const breaker = new CircuitBreaker({ failures: 3, coolDownMs: 1000, now: c.now })
    breaker.failure()
    breaker.failure()
    expect(breaker.state).toBe('closed')
    breaker.failure()
    expect([breaker.state, breaker.tryAcquire()]).toEqual(['open', false])
    c.advance(1000)
    expect(breaker.state).toBe('half-open')
    expect([breaker.tryAcquire(), breaker.tryAcquire()]).toEqual([true, false])
    breaker.success()
    expect([breaker.state, breaker.tryAcquire()]).toEqual(['closed', true])
  })

  test('a failed probe opens it again for a full cool-down', () => {
    const c = clock()
    const breaker = new CircuitBreaker({ failures: 1, coolDownMs: 1000, now: c.now })
    breaker.failure()
    c.advance(1000)
    expect(breaker.tryAcquire()).toBe(true)
    breaker.failure()
    c.advance(999)
    expect(breaker.state).toBe('open')
  })
})

function router(options: { split: [string, number][]; fallback?: string; transports: Transport[]; random?: () => number; now?: () => number }) {
  return new TransportRouter({
    transports: new Map(options.transports.map((t) => [t.name, t])),
    split: options.split.map(([name, weight]) => ({ name: name as 'smtp', weight })),
    fallback: options.fallback,
    breaker: { failures: 2, coolDownMs: 1000 },
    pauseMs: 60_000,
    ...(options.random ? { random: options.random } : {}),
    ...(options.now ? { now: options.now } : {}),
  })
}

describe('TransportRouter', () => {
  test('a weighted split: ses:3,smtp:1 sends three in four through ses', async () => {
    const ses = scripted('ses')
    const smtp = scripted('smtp')
    let i = 0
    const r = router({ split: [['ses', 3], ['smtp', 1]], transports: [ses.transport, smtp.transport], random: () => (i++ % 4) / 4 })
    const via = []
    for (let n = 0; n < 8; n++) via.push((await r.send(mail)).transport)
    expect(via).toEqual(['ses', 'ses', 'ses', 'smtp', 'ses', 'ses', 'ses', 'smtp'])
  })

  test('after repeated failures the primary rests and the fallback takes the mail; a good probe brings it back', async () => {
    const c = clock()
    const smtp = scripted('smtp')
    const file = scripted('file')
    const r = router({ split: [['smtp', 1]], fallback: 'file', transports: [smtp.transport, file.transport], now: c.now })
    smtp.fail(() => new TransportError('transient', 'connect ECONNREFUSED', 'ECONNREFUSED'))
    for (let n = 0; n < 2; n++) {
      const error = await r.send(mail).catch((e: TransportError) => e)
      expect([(error as TransportError).kind, (error as TransportError).transport]).toEqual(['transient', 'smtp'])
    }
    expect((await r.send(mail)).transport).toBe('file')
    expect(r.health().find((h) => h.transport === 'smtp')?.state).toBe('open')

    smtp.fail(() => null)
    c.advance(1000)
    expect((await r.send(mail)).transport).toBe('smtp') // the probe
    expect((await r.send(mail)).transport).toBe('smtp')
    expect(file.sent).toHaveLength(1)
  })

  test('a refusal of one message (550) does not count against the transport', async () => {
    const smtp = scripted('smtp')
    const r = router({ split: [['smtp', 1]], fallback: 'file', transports: [smtp.transport, scripted('file').transport] })
    smtp.fail(() => new TransportError('permanent', '550 5.1.1 no such user', '550'))
    for (let n = 0; n < 5; n++) await r.send(mail).catch(() => {})
    expect(r.health().find((h) => h.transport === 'smtp')?.state).toBe('closed')
  })

  test('with nowhere else to go, failures stay the message\'s own: no circuit opens', async () => {
    const smtp = scripted('smtp')
    const r = router({ split: [['smtp', 1]], transports: [smtp.transport] })
    smtp.fail(() => new TransportError('transient', '421 busy', '421'))
    for (let n = 0; n < 5; n++) expect(((await r.send(mail).catch((e) => e)) as TransportError).kind).toBe('transient')
  })

  test('a paused provider: the same message goes the other way at once; alone, it waits without an attempt', async () => {
    const ses = scripted('ses')
    const smtp = scripted('smtp')
    const paused: string[] = []
    const r = new TransportRouter({
      transports: new Map([
        ['ses', ses.transport],
        ['smtp', smtp.transport],
      ]),
      split: [{ name: 'ses', weight: 1 }],
      fallback: 'smtp',
      breaker: { failures: 5, coolDownMs: 1000 },
      pauseMs: 60_000,
      onPause: (name) => paused.push(name),
    })
    ses.fail(() => new TransportError('transient', 'Sending paused for this account', 'SendingPausedException'))
    expect((await r.send(mail)).transport).toBe('smtp')
    expect(paused).toEqual(['ses'])

    const alone = new TransportRouter({
      transports: new Map([['ses', ses.transport]]),
      split: [{ name: 'ses', weight: 1 }],
      breaker: { failures: 5, coolDownMs: 1000 },
      pauseMs: 60_000,
    })
    const error = (await alone.send(mail).catch((e) => e)) as TransportError
    expect([error.kind, error.code]).toEqual(['paused', 'ENOTRANSPORT'])
    expect(error.retryAt!.getTime() - Date.now()).toBeGreaterThan(59_000)
  })
})
