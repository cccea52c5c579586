// The soak (issue 10): one ROLE=all Belfry at a steady rate into the SMTP
// sink for SOAK_SECONDS (default 600) at SOAK_RATE events/s (default 200),
// sampling the process's RSS and the outbox's depth every 10 s. What counts
// is the trend: RSS and the queue flat once warm. Reported, not asserted —
// a timed test on a shared machine would measure the machine.
//
//   bun bench/soak.ts            # 10 minutes
//   SOAK_SECONDS=60 bun bench/soak.ts

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBelfry, WEBHOOK_SECRET } from './belfry.ts'
import { createBenchDatabase, migrate, type BenchDatabase } from './db.ts'
import { runLoadgen, startSink } from './drivers.ts'
import { now, procStats, stopAll, untilExitOr } from './processes.ts'
import { log, runTag, SMTP_CONNECTIONS, takeSeq } from './settings.ts'

const SECONDS = Number(process.env.SOAK_SECONDS ?? 600)
const RATE = Number(process.env.SOAK_RATE ?? 200)
/** Load in slices, so one load generator's memory never grows with the run. */
const SLICE_SECONDS = 30
const SAMPLE_MS = 10_000

interface Sample {
  second: number
  rssMb: number
  waiting: number
  sent: number
}

const tmp = mkdtempSync(join(tmpdir(), 'belfry-soak-'))
let db: BenchDatabase | null = null
let status = 0
try {
  db = await createBenchDatabase()
  await migrate(db.url)
  const sink = await startSink()
  const belfry = await startBelfry({
    name: 'belfry all (soak)',
    databaseUrl: db.url,
    dataDir: join(tmp, 'data'),
    role: 'all',
    transport: 'smtp',
    smtpUrl: sink.smtpUrl,
    concurrency: SMTP_CONNECTIONS,
  })
  const bench = db
  const samples: Sample[] = []
  const startedAt = now()
  const sample = async () => {
    const [row] = await bench.sql<{ waiting: number; sent: number }[]>`
      select count(*) filter (where state in ('queued', 'sending', 'retrying'))::int as waiting,
             count(*) filter (where state = 'sent')::int as sent
      from messages`
    const stats = procStats(belfry.child.pid)
    const entry = { second: Math.round((now() - startedAt) / 1000), rssMb: (stats?.rssBytes ?? 0) / 2 ** 20, waiting: row?.waiting ?? 0, sent: row?.sent ?? 0 }
    samples.push(entry)
    log(`soak ${entry.second}s: RSS ${entry.rssMb.toFixed(1)} MB, waiting ${entry.waiting}, sent ${entry.sent}`)
  }
  const sampler = setInterval(() => void sample().catch(() => {}), SAMPLE_MS)
  await sample()
  let posted = 0
  let refused = 0
  for (let elapsed = 0; elapsed < SECONDS; elapsed += SLICE_SECONDS) {
    const count = Math.round(RATE * Math.min(SLICE_SECONDS, SECONDS - elapsed))
    const result = await untilExitOr(
      belfry.child,
      runLoadgen(
        { url: `${belfry.base}/v1/events`, secret: WEBHOOK_SECRET, mode: 'rate', rate: RATE, count, seqStart: takeSeq(count), domain: 'soak.bench.test', runTag },
        tmp,
      ),
    )
    posted += count
    refused += count - result.ok
  }
  clearInterval(sampler)
  await sink.waitFor('soak.bench.test', posted - refused, 60_000, [belfry.child])
  await sample()

  // First and last minute of the steady part (the first minute is warm-up and JIT).
  const steady = samples.filter((s) => s.second >= 60)
  const minute = Math.max(1, Math.round(60_000 / SAMPLE_MS))
  const mean = (xs: Sample[], key: 'rssMb' | 'waiting') => xs.reduce((sum, s) => sum + s[key], 0) / Math.max(1, xs.length)
  const first = steady.slice(0, minute)
  const last = steady.slice(-minute - 1, -1)
  const stats = await sink.stats(undefined, true)
  console.log(
    JSON.stringify(
      {
        seconds: SECONDS,
        rate: RATE,
        posted,
        refused,
        delivered: stats.count,
        duplicates: stats.duplicates,
        rssMb: { firstSteadyMinute: +mean(first, 'rssMb').toFixed(1), lastMinute: +mean(last, 'rssMb').toFixed(1), max: +Math.max(...samples.map((s) => s.rssMb)).toFixed(1) },
        waiting: { firstSteadyMinute: +mean(first, 'waiting').toFixed(1), lastMinute: +mean(last, 'waiting').toFixed(1), max: Math.max(...samples.map((s) => s.waiting)) },
        samples,
      },
      null,
      2,
    ),
  )
} catch (error) {
  console.error(`soak failed: ${(error as Error).stack ?? error}`)
  status = 1
} finally {
  await stopAll()
  await db?.drop()
  rmSync(tmp, { recursive: true, force: true })
}
process.exit(status)
