// Rough end-to-end figures for the event → inbox pipeline, each next to a
// baseline measured in the same run on the same machine (this machine is
// shared and noisy: ratios travel, absolute numbers do not).
//
//   baseline  the SMTP transport alone: N pre-rendered messages handed to
//             the pooled transport with the same concurrency
//   latency   one signed enrollment.created (paid) over real HTTP until
//             the SMTP server has accepted both emails
//   pipeline  N signed events over HTTP until the SMTP server has accepted
//             every email: ingest + outbox + render + SMTP
//   ceiling   the bare SKIP LOCKED claim-and-ack loop (batches of 100) on
//             the same database: the queue with no work attached
//
// BENCH_EVENTS (default 1000) sets N. DATABASE_URL picks Postgres (a fresh
// database is made and dropped), else embedded PGlite in a temp dir.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../src/config.ts'
import { silentLogger } from '../src/log.ts'
import { startService } from '../src/service.ts'
import { bareClaimLoop } from './claim-loop.ts'
import { createSmtpTransport } from '../src/transport/smtp.ts'
import { createTestDatabase } from '../test/support/db.ts'
import { startSmtpSink } from '../test/support/smtp-sink.ts'
import { signedRequest, TEST_SECRET } from '../test/support/webhooks.ts'

const N = Number(process.env.BENCH_EVENTS ?? 1000)
const CONCURRENCY = 16

const sink = await startSmtpSink()
const testDb = await createTestDatabase()
const dataDir = mkdtempSync(join(tmpdir(), 'belfry-bench-'))
const config = loadConfig({
  WEBHOOK_SECRET: TEST_SECRET,
  DATA_DIR: dataDir,
  MAIL_TRANSPORT: 'smtp',
  SMTP_URL: sink.url,
  ADMIN_EMAIL: 'ops@school.test',
  PORT: '0',
  WORKER_CONCURRENCY: String(CONCURRENCY),
  LOG_LEVEL: 'error',
})
const service = await startService(config, silentLogger, { database: testDb.database })
const base = `http://127.0.0.1:${service.port}`

const user = (i: number) => ({ id: `bench-${i}`, email: `learner${i}@bench.test`, name: `Learner ${i}` })
const course = { id: 'c-1', title: 'Benchmarking 101', url: 'https://lms.test/c/1' }
const post = (body: string) =>
  fetch(signedRequest(body, { url: `${base}/v1/events` })).then((r) => {
    if (r.status !== 202) throw new Error(`ingest answered ${r.status}`)
  })

function rate(count: number, ms: number) {
  return (count / ms) * 1000
}

// Baseline: the transport alone.
const rendered = service.templates.render('password_reset', {
  locale: 'en',
  variables: { user: user(0), reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } },
  context: { siteName: 'Belfry', siteUrl: base },
})
const transport = createSmtpTransport({ url: sink.url, concurrency: CONCURRENCY })
let t0 = performance.now()
for (let i = 0; i < N; i += CONCURRENCY) {
  await Promise.all(
    Array.from({ length: Math.min(CONCURRENCY, N - i) }, (_, j) =>
      transport.send({
        messageId: `<baseline-${i + j}@bench.test>`,
        from: config.mailFrom,
        to: { address: `learner${i + j}@bench.test` },
        ...rendered,
      }),
    ),
  )
}
const baselineMs = performance.now() - t0
await transport.close()
await sink.waitFor(N, 60_000)
sink.reset()

// Latency: one paid enrollment, two emails. The first one opens the SMTP
// pool's connections (smtp-server holds every new connection 100 ms before
// its greeting), so it is reported apart from a second one on warm connections.
const enrollment = (i: number) =>
  JSON.stringify({
    type: 'enrollment.created',
    data: { user: user(i), course, enrollment: { id: `e-${i}`, paid: { amount: 99, currency: 'USD' } } },
  })
t0 = performance.now()
await post(enrollment(0))
await sink.waitFor(2, 10_000)
const coldLatencyMs = performance.now() - t0
t0 = performance.now()
await post(enrollment(-1))
await sink.waitFor(4, 10_000)
const latencyMs = performance.now() - t0
sink.reset()

// Pipeline: N events, N emails (password resets: one email each, no admin alert).
t0 = performance.now()
for (let i = 0; i < N; i += 50) {
  await Promise.all(
    Array.from({ length: Math.min(50, N - i) }, (_, j) =>
      post(
        JSON.stringify({
          type: 'password_reset.requested',
          data: { user: user(i + j + 1), reset: { url: 'https://lms.test/r', expires_at: '2030-01-01T00:00:00Z' } },
        }),
      ),
    ),
  )
}
const ingestMs = performance.now() - t0
await sink.waitFor(N, 120_000)
const pipelineMs = performance.now() - t0

// Ceiling: the same database, no Belfry — ten times N rows, claimed and acknowledged.
const claimLoop = await bareClaimLoop(testDb.database.db, N * 10)

await service.stop()
await testDb.drop()
await sink.close()
rmSync(dataDir, { recursive: true, force: true })

const baselineRate = rate(N, baselineMs)
const pipelineRate = rate(N, pipelineMs)
console.log(
  JSON.stringify(
    {
      database: testDb.url ? 'postgres' : 'pglite',
      events: N,
      baseline_smtp_only_per_s: Math.round(baselineRate),
      ingest_events_per_s: Math.round(rate(N, ingestMs)),
      pipeline_events_to_inbox_per_s: Math.round(pipelineRate),
      pipeline_vs_baseline: Number((pipelineRate / baselineRate).toFixed(2)),
      bare_claim_loop_rows_per_s: Math.round(rate(claimLoop.rows, claimLoop.ms)),
      pipeline_vs_bare_claim_loop: Number((pipelineRate / rate(claimLoop.rows, claimLoop.ms)).toFixed(3)),
      one_event_to_smtp_accept_ms: Math.round(latencyMs),
      first_event_cold_pool_ms: Math.round(coldLatencyMs),
    },
    null,
    2,
  ),
)
