// A ROLE=worker process answers its orchestrator and Prometheus on PORT:
// /healthz, /readyz and its own /metrics, where its sends are counted (an
// API process never sees them). Nothing else is served there: no webhooks,
// no admin pages.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

let sink: SmtpSink
let t: TestService
let base: string
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ ROLE: 'worker', MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { listen: true })
  base = `http://127.0.0.1:${t.service.port}`
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})

test('health and readiness answer on the worker port', async () => {
  expect(t.service.port).toBeGreaterThan(0)
  expect((await fetch(`${base}/healthz`)).status).toBe(200)
  const ready = await fetch(`${base}/readyz`)
  expect(ready.status).toBe(200)
  expect(await ready.json()).toMatchObject({ status: 'ready', migrations: 'applied' })
})

test('its /metrics counts the sends this worker made', async () => {
  // Queued as an API process would (in this test process, not over the worker's port).
  const accepted = await t.post('course.completed', {
    user: { id: 'w-1', email: 'ada@learner.test', name: 'Ada' },
    course: { id: 'c-1', title: 'Algebra' },
    completion: { completed_at: '2026-12-01T10:00:00Z' },
  })
  expect(accepted.status).toBe(202)
  await sink.waitFor(1)
  const sends = await eventually(async () => {
    const text = await (await fetch(`${base}/metrics`)).text()
    const count = /^belfry_send_duration_seconds_count\{[^}]*outcome="sent"[^}]*\} (\d+)/m.exec(text)
    return count && Number(count[1]) >= 1 && Number(count[1])
  }, 5000, 'a sent attempt in the worker metrics')
  expect(sends).toBe(1)
})

test('webhooks and admin pages are not served there', async () => {
  const webhook = await fetch(`${base}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
  expect(webhook.status).toBe(404)
  expect(((await webhook.json()) as { error: string }).error).toBe('not_found')
  expect((await fetch(`${base}/admin`)).status).toBe(404)
})
