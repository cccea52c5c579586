// GET /metrics on the real service: the body is valid Prometheus text, the
// counters move with signed events and deliveries to a real SMTP server,
// the queue and engagement numbers come from the database, and
// METRICS_TOKEN keeps strangers out.

import { afterAll, afterEach, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { createLogger } from '../../src/log.ts'
import { eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { randomSecret } from '../support/webhooks.ts'
import { parseExposition, valueOf, type Family } from './exposition.ts'

let sink: SmtpSink
beforeAll(async () => {
  sink = await startSmtpSink()
})
afterAll(() => sink.close())

const running: TestService[] = []
async function start(env: Record<string, string> = {}, options: Parameters<typeof startTestService>[1] = {}) {
  const t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ...env }, options)
  running.push(t)
  return t
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.stop()))
  sink.reset()
})

const reset = (id: string) => ({
  user: { id, email: `${id}@learner.test`, name: `Learner ${id}` },
  reset: { url: `https://lms.test/reset/${id}`, expires_at: '2030-01-01T00:00:00Z' },
})

const metricsRequest = (authorization?: string) =>
  new Request('http://belfry.test/metrics', authorization ? { headers: { authorization } } : {})

async function scrape(t: TestService, authorization?: string): Promise<Map<string, Family>> {
  const response = await t.send(metricsRequest(authorization))
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe(t.service.metrics.contentType)
  return parseExposition(await response.text())
}

const received = (families: Map<string, Family>, type: string, result: string) =>
  valueOf(families, 'belfry_events_received_total', { type, result })

describe('GET /metrics', () => {
  test('parses as Prometheus text; event, delivery and transport-error numbers move with real traffic', async () => {
    const t = await start()
    const before = await scrape(t)
    expect(t.service.metrics.contentType).toStartWith('text/plain; version=0.0.4')
    for (const name of ['belfry_events_received_total', 'belfry_messages', 'belfry_queue_depth', 'belfry_queue_oldest_age_seconds',
      'belfry_send_duration_seconds', 'belfry_transport_errors_total', 'belfry_opens_total', 'belfry_clicks_total']) {
      expect(before.get(name)?.help).toBeDefined()
    }
    expect(before.get('belfry_send_duration_seconds')?.type).toBe('histogram')
    expect(before.get('belfry_messages')?.type).toBe('gauge')
    // Runtime metrics work under Bun, on the service's own registry.
    expect(before.get('process_cpu_seconds_total')?.type).toBe('counter')

    // The first of three deliveries is deferred once: one transient error, then all three go.
    sink.failNext(1, 451, '4.3.0 try later')
    for (const id of ['m1', 'm2', 'm3']) expect((await t.post('password_reset.requested', reset(id))).status).toBe(202)
    expect((await t.post('password_reset.requested', reset('m4'), { secret: randomSecret() })).status).toBe(401)
    await sink.waitFor(3, 10_000)
    await eventually(async () => {
      const [row] = await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from messages where state = 'sent'`)
      return row!.n === 3
    })

    const after = await scrape(t)
    expect(received(after, 'password_reset.requested', 'accepted') - received(before, 'password_reset.requested', 'accepted')).toBe(3)
    expect(received(after, 'unknown', 'unauthorized') - received(before, 'unknown', 'unauthorized')).toBe(1)
    expect(valueOf(after, 'belfry_messages', { state: 'sent' }) - valueOf(before, 'belfry_messages', { state: 'sent' })).toBe(3)
    const sent = { transport: 'smtp', outcome: 'sent' }
    expect(valueOf(after, 'belfry_send_duration_seconds_count', sent) - valueOf(before, 'belfry_send_duration_seconds_count', sent)).toBe(3)
    expect(valueOf(after, 'belfry_send_duration_seconds_sum', sent)).toBeGreaterThan(0)
    expect(valueOf(after, 'belfry_send_duration_seconds_count', { transport: 'smtp', outcome: 'transient' })).toBe(1)
    expect(valueOf(after, 'belfry_transport_errors_total', { transport: 'smtp', class: 'transient' })).toBe(1)
    expect(valueOf(after, 'belfry_queue_depth')).toBe(0)
    expect(valueOf(after, 'belfry_queue_oldest_age_seconds')).toBe(0)
  })

  test('replays, conflicts, invalid, malformed and oversized events are counted as such', async () => {
    const t = await start({ ROLE: 'api' })
    const before = await scrape(t)
    expect((await t.post('password_reset.requested', reset('r1'), { id: 'msg_same' })).status).toBe(202)
    expect((await t.post('password_reset.requested', reset('r1'), { id: 'msg_same' })).status).toBe(200)
    expect((await t.post('password_reset.requested', reset('r2'), { id: 'msg_same' })).status).toBe(409)
    expect((await t.post('no.such_type', {})).status).toBe(422)
    expect((await t.post('password_reset.requested', { user: {} })).status).toBe(422)
    const { signedRequest } = await import('../support/webhooks.ts')
    expect((await t.send(signedRequest('{"type":'))).status).toBe(400)
    expect((await t.send(signedRequest('x'.repeat(300 * 1024)))).status).toBe(413)

    const after = await scrape(t)
    const moved = (type: string, result: string) => received(after, type, result) - received(before, type, result)
    expect(moved('password_reset.requested', 'accepted')).toBe(1)
    expect(moved('password_reset.requested', 'replayed')).toBe(1)
    expect(moved('password_reset.requested', 'conflict')).toBe(1)
    expect(moved('password_reset.requested', 'invalid')).toBe(1)
    // A type no one declared is not minted into a label value.
    expect(moved('unknown', 'invalid')).toBe(1)
    expect(moved('unknown', 'malformed')).toBe(1)
    expect(moved('unknown', 'too_large')).toBe(1)
  })

  test('queue depth and age, and opens and clicks, are read from the database at scrape time', async () => {
    // No worker: what is posted stays queued.
    const t = await start({ ROLE: 'api' })
    const db = t.service.database.db
    const before = await scrape(t)
    expect(valueOf(before, 'belfry_queue_depth')).toBe(0)
    for (const id of ['q1', 'q2']) expect((await t.post('password_reset.requested', reset(id))).status).toBe(202)
    await db.execute(sql`update messages set run_at = now() - interval '120 seconds' where to_address = 'q1@learner.test'`)
    // Due later: counted by state, not in the queue.
    await db.execute(sql`update messages set state = 'scheduled', run_at = now() + interval '1 hour' where to_address = 'q2@learner.test'`)

    const [message] = await rows<{ id: string }>(db, sql`select id from messages where to_address = 'q1@learner.test'`)
    // Rows count once settled (SETTLE_SECONDS old); `secondsAgo` stands in for waiting.
    const record = (kind: string, detail: object, secondsAgo = 60) =>
      db.execute(sql`insert into message_events (message_id, kind, source, detail, occurred_at, created_at)
                     values (${message!.id}, ${kind}, 'tracking', ${JSON.stringify(detail)}::jsonb, now(),
                             now() - make_interval(secs => ${secondsAgo}))`)
    await record('open', { machine: false })
    await record('open', { machine: false })
    await record('open', { machine: true })
    await record('click', { machine: false, url: 'https://lms.test/x' })
    await record('click', { machine: true })
    await record('delivery', {})

    const after = await scrape(t)
    expect(valueOf(after, 'belfry_queue_depth')).toBe(1)
    expect(valueOf(after, 'belfry_queue_oldest_age_seconds')).toBeGreaterThanOrEqual(119)
    expect(valueOf(after, 'belfry_queue_oldest_age_seconds')).toBeLessThan(300)
    expect(valueOf(after, 'belfry_messages', { state: 'queued' })).toBe(1)
    expect(valueOf(after, 'belfry_messages', { state: 'scheduled' })).toBe(1)
    expect(valueOf(after, 'belfry_opens_total', { kind: 'human' })).toBe(2)
    expect(valueOf(after, 'belfry_opens_total', { kind: 'machine' })).toBe(1)
    expect(valueOf(after, 'belfry_clicks_total', { kind: 'human' })).toBe(1)
    expect(valueOf(after, 'belfry_clicks_total', { kind: 'machine' })).toBe(1)

    // Each stored open counts once, however often Prometheus asks.
    await Promise.all([scrape(t), scrape(t)])
    await record('open', { machine: false })
    const again = await scrape(t)
    expect(valueOf(again, 'belfry_opens_total', { kind: 'human' })).toBe(3)
    expect(valueOf(again, 'belfry_clicks_total', { kind: 'human' })).toBe(1)

    // A fresh click waits: tracking may still find it was a scanner's (a burst), and then it counts as one.
    await record('click', { machine: false }, 0)
    await record('click', { machine: false }, 0)
    const meanwhile = await scrape(t)
    expect(valueOf(meanwhile, 'belfry_clicks_total', { kind: 'human' })).toBe(1)
    expect(valueOf(meanwhile, 'belfry_clicks_total', { kind: 'machine' })).toBe(1)
    await db.execute(sql`update message_events set detail = detail || '{"machine": true}'::jsonb,
                                                 created_at = now() - interval '1 minute'
                         where kind = 'click' and created_at > now() - interval '5 seconds'`)
    const settled = await scrape(t)
    expect(valueOf(settled, 'belfry_clicks_total', { kind: 'human' })).toBe(1)
    expect(valueOf(settled, 'belfry_clicks_total', { kind: 'machine' })).toBe(3)
  })

  test('with METRICS_TOKEN: no token or a wrong one gets 401 with WWW-Authenticate, the right one the metrics', async () => {
    const token = 'metrics-token-0123456789abcdef'
    const t = await start({ ROLE: 'api', METRICS_TOKEN: token })
    for (const authorization of [undefined, 'Bearer wrong', `Bearer ${token}x`, `Basic ${token}`, token]) {
      const response = await t.send(metricsRequest(authorization))
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toStartWith('Bearer')
      expect(await response.text()).not.toContain('belfry_')
    }
    const families = await scrape(t, `Bearer ${token}`)
    expect(families.get('belfry_queue_depth')?.type).toBe('gauge')
    expect((await t.send(metricsRequest(`bearer ${token}`))).status).toBe(200)
  })

  test('over real HTTP: an open endpoint is announced once in the log, a protected one is not', async () => {
    const logged = (lines: string[]) => createLogger('info', {}, (line) => lines.push(line))
    const open: string[] = []
    const t = await start({ ROLE: 'api' }, { listen: true, log: logged(open) })
    const response = await fetch(`http://127.0.0.1:${t.service.port}/metrics`)
    expect(response.status).toBe(200)
    parseExposition(await response.text())
    const warnings = open.map((line) => JSON.parse(line) as { level: string; msg: string }).filter((l) => l.msg.includes('METRICS_TOKEN'))
    expect(warnings).toHaveLength(1)
    expect(warnings[0]!.level).toBe('warn')

    const closed: string[] = []
    const u = await start({ ROLE: 'api', METRICS_TOKEN: 'another-token-0123456789' }, { listen: true, log: logged(closed) })
    expect((await fetch(`http://127.0.0.1:${u.service.port}/metrics`)).status).toBe(401)
    expect(closed.some((line) => line.includes('METRICS_TOKEN'))).toBe(false)
    expect(closed.join('\n')).not.toContain('another-token')
  })
})
