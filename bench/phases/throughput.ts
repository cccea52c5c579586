// Belfry's throughput phases: ingest flat out into ROLE=api, then the queue
// it built drained by ROLE=worker processes — into the null transport, into
// the SMTP sink, and by two workers at once.

import { join } from 'node:path'
import { attemptWindow, resetOutbox, startBelfry, stateCounts, waitForFinal, WEBHOOK_SECRET, type BelfryProcess } from '../belfry.ts'
import type { BenchDatabase } from '../db.ts'
import { runLoadgen, type Sink } from '../drivers.ts'
import { now, procStats, untilExitOr, type Child } from '../processes.ts'
import { DRAIN_LIMIT_MS, FLAT_CONNECTIONS, N, notes, perSecond, requireAll, runTag, sizes, SMTP_CONNECTIONS, takeSeq } from '../settings.ts'

export interface Ctx {
  db: BenchDatabase
  tmp: string
  sink: Sink
}

export const belfryBase = (ctx: Ctx) => ({ databaseUrl: ctx.db.url, dataDir: join(ctx.tmp, 'data') })

/** Signed events into a ROLE=api Belfry, flat out: the ingest figure, and the queue the worker phases drain. */
async function ingest(ctx: Ctx, domain: string, count: number, warmup: number) {
  const api = await apiProcess(ctx)
  const result = await untilExitOr(
    api.child,
    runLoadgen(
      {
        url: `${api.base}/v1/events`,
        secret: WEBHOOK_SECRET,
        mode: 'flat',
        count,
        connections: FLAT_CONNECTIONS,
        warmup,
        seqStart: takeSeq(count + warmup),
        domain,
        runTag,
      },
      ctx.tmp,
    ),
  )
  requireAll('Belfry ingest', result, count)
  const [row] = await ctx.db.sql<{ n: number }[]>`select count(*)::int as n from messages where state = 'queued'`
  const queued = row?.n ?? 0
  if (queued !== count + warmup) throw new Error(`expected ${count + warmup} queued messages after ingest, found ${queued}`)
  return { events: count, perSecond: result.okPerSecond, queued }
}

export async function nullPipeline(ctx: Ctx) {
  await resetOutbox(ctx.db.sql)
  const ingested = await ingest(ctx, 'pipeline.bench.test', N, sizes.warmup)

  const startedAt = now()
  const worker = await startBelfry({ ...belfryBase(ctx), name: 'belfry worker (null)', role: 'worker', transport: 'null' })
  const done = await waitForFinal(ctx.db.sql, ingested.queued, DRAIN_LIMIT_MS, [worker.child])
  const wallMs = now() - startedAt
  const stats = procStats(worker.child.pid)
  await worker.child.stop(15_000)
  const states = await stateCounts(ctx.db.sql)
  const window = await attemptWindow(ctx.db.sql)
  if (done.final === 0) throw new Error(`no message reached a final state in ${DRAIN_LIMIT_MS / 1000} s (${JSON.stringify(states)})`)
  if (!done.complete) notes.push(`null pipeline: ${done.final} of ${ingested.queued} messages final within ${DRAIN_LIMIT_MS / 1000} s; the rate is over those`)
  const unsent = Object.entries(states).filter(([state]) => state !== 'sent' && state !== 'queued' && state !== 'sending')
  if (unsent.length > 0) throw new Error(`messages ended other than sent: ${JSON.stringify(states)}`)
  const busyMs = window ? window.last - window.first : null
  if (!window) notes.push('null pipeline: no delivery attempts recorded; rate taken from process start instead')
  return {
    ingest: ingested,
    messages: ingested.queued,
    final: done.final,
    perSecond: perSecond(done.complete ? ingested.queued : done.final, busyMs ?? wallMs),
    busyMs,
    wallMsIncludingStart: wallMs,
    states,
    workerCpuSeconds: stats?.cpuSeconds ?? null,
    workerPeakRssBytes: stats?.peakRssBytes ?? null,
  }
}

/** Pre-queued N through ROLE=api, then `workers` ROLE=worker processes deliver them into the sink. */
export async function deliver(ctx: Ctx, domain: string, workers: number, count: number) {
  await resetOutbox(ctx.db.sql)
  const ingested = await ingest(ctx, domain, count, 0)

  const procs = await Promise.all(
    Array.from({ length: workers }, (_, i) =>
      startBelfry({
        ...belfryBase(ctx),
        name: `belfry worker ${i + 1} (smtp)`,
        role: 'worker',
        transport: 'smtp',
        smtpUrl: ctx.sink.smtpUrl,
        concurrency: SMTP_CONNECTIONS,
      }),
    ),
  )
  // CPU is counted from the first email on, so the seconds spent compiling templates at start are not in it.
  const firstArrival = await ctx.sink.waitFor(domain, 1, DRAIN_LIMIT_MS, procs.map((p) => p.child))
  const cpuAtFirst = procs.map((p) => procStats(p.child.pid)?.cpuSeconds ?? 0).reduce((a, b) => a + b, 0)
  const arrived = await ctx.sink.waitFor(domain, count, DRAIN_LIMIT_MS, procs.map((p) => p.child))
  // Anything still in flight would show up as a duplicate; give a late second copy a moment to arrive.
  await Bun.sleep(300)
  const cpu = procs.map((p) => procStats(p.child.pid))
  await Promise.all(procs.map((p) => p.child.stop(15_000)))
  const final = await ctx.sink.stats(domain, true)
  const states = await stateCounts(ctx.db.sql)
  const window = await attemptWindow(ctx.db.sql)
  if (arrived.count === 0) throw new Error(`the sink got nothing in ${DRAIN_LIMIT_MS / 1000} s (${JSON.stringify(states)})`)
  if (!arrived.complete) notes.push(`${domain}: the sink got ${arrived.count} of ${count} within ${DRAIN_LIMIT_MS / 1000} s; the rate is over those`)
  const busyMs = window ? arrived.last - window.first : null
  const cpuSeconds = cpu.reduce((sum, s) => sum + (s?.cpuSeconds ?? 0), 0) - cpuAtFirst
  const emailsAfterFirst = Math.max(1, arrived.count - firstArrival.count)
  return {
    workers,
    ingest: ingested,
    messages: count,
    received: final.count,
    duplicates: final.duplicates,
    perSecond: busyMs ? perSecond(arrived.count, busyMs) : null,
    busyMs,
    states,
    cpuSecondsPer1000: (cpuSeconds / emailsAfterFirst) * 1000,
    peakRssBytes: Math.max(...cpu.map((s) => s?.peakRssBytes ?? 0)),
  }
}

// Every Belfry start compiles all templates (seconds on this machine), so the
// ROLE=api process that queues work for the worker phases is started once.
let sharedApi: BelfryProcess | null = null
export async function apiProcess(ctx: Ctx): Promise<BelfryProcess> {
  if (sharedApi && sharedApi.child.proc.exitCode === null && sharedApi.child.proc.signalCode === null) return sharedApi
  sharedApi = await startBelfry({ ...belfryBase(ctx), name: 'belfry api', role: 'api', transport: 'null' })
  return sharedApi
}
export async function stopApi() {
  await sharedApi?.child.stop()
  sharedApi = null
}

/** The processes a phase leaves running for the next one. */
export const keptProcesses = (): Set<Child> => new Set(sharedApi ? [sharedApi.child] : [])
