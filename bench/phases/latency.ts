// Belfry at fixed rates (ROLE=all, SMTP into the sink): each event's 202 to
// its email's acceptance, and the process's memory and CPU meanwhile.

import { resetOutbox, startBelfry, WEBHOOK_SECRET } from '../belfry.ts'
import { runLoadgen } from '../drivers.ts'
import { recipient } from '../loadgen.ts'
import { now, procStats, sampleRss, untilExitOr } from '../processes.ts'
import { clamp, N, notes, RATES, runTag, sizes, SMTP_CONNECTIONS, takeSeq } from '../settings.ts'
import { summarize, type LatencySummary } from '../stats.ts'
import { ratioOf } from '../table.ts'
import { belfryBase, type Ctx } from './throughput.ts'

export interface RatePhase {
  rate: number
  events: number
  sentPerSecond: number
  loadgenMaxLagMs: number
  /** Request → 202, as the load generator saw it. */
  answerMs: LatencySummary
  statuses: Record<string, number>
  latency: LatencySummary
  drained: boolean
}

/** Waits until nothing is queued or being sent; resolves with what is still waiting at the deadline. */
async function outboxDrained(ctx: Ctx, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const [row] = await ctx.db.sql<{ n: number }[]>`select count(*)::int as n from messages where state in ('queued', 'sending', 'retrying')`
    const n = row?.n ?? 0
    if (n === 0 || Date.now() > deadline) return n
    await Bun.sleep(200)
  }
}

/** ROLE=all into the sink at fixed rates: event 202 → SMTP accepted, and the process's RSS and CPU meanwhile. */
export async function latency(ctx: Ctx) {
  await resetOutbox(ctx.db.sql)
  const belfry = await startBelfry({
    ...belfryBase(ctx),
    name: 'belfry all (smtp)',
    role: 'all',
    transport: 'smtp',
    smtpUrl: ctx.sink.smtpUrl,
    concurrency: SMTP_CONNECTIONS,
  })
  const drive = async (rate: number, count: number, domain: string) => {
    const seqStart = takeSeq(count)
    const result = await untilExitOr(
      belfry.child,
      runLoadgen({ url: `${belfry.base}/v1/events`, secret: WEBHOOK_SECRET, mode: 'rate', rate, count, seqStart, domain, runTag }, ctx.tmp),
    )
    return { ...result, seqStart }
  }

  // Opens the SMTP pool (each new connection waits ~100 ms for the sink's greeting) and warms the JIT.
  const warmCount = Math.max(20, Math.min(300, Math.ceil(N / 20)))
  await drive(100, warmCount, 'warm.bench.test')
  await ctx.sink.waitFor('warm.bench.test', warmCount, 30_000, [belfry.child])

  const before = procStats(belfry.child.pid)
  const rss = sampleRss(belfry.child.pid, 100)
  const phases: RatePhase[] = []
  let sustained = { from: 0, to: 0 }
  let emails = 0
  for (const rate of RATES) {
    const domain = `lat${rate}.bench.test`
    const count = Math.round(rate * sizes.rateSeconds)
    const from = now()
    const result = await drive(rate, count, domain)
    const sentUntil = now()
    if (rate === RATES[RATES.length - 1]) sustained = { from, to: sentUntil }
    if (result.ok !== count) notes.push(`${rate}/s: ${count - result.ok} events not answered 2xx (${JSON.stringify(result.statuses)})`)
    const drainMs = clamp(count * 3, 5_000, 15_000)
    const arrived = await ctx.sink.waitFor(domain, result.ok, drainMs, [belfry.child])
    const arrivals = new Map((await ctx.sink.records(domain)).map(([rcpt, at]) => [rcpt, at]))
    const samples: number[] = []
    for (let i = 0; i < result.acks.length; i++) {
      const ack = result.acks[i]
      const at = arrivals.get(recipient(result.seqStart + i, domain))
      if (ack !== null && ack !== undefined && at !== undefined) samples.push(at - ack)
    }
    emails += arrived.count
    phases.push({
      rate,
      events: count,
      sentPerSecond: result.okPerSecond,
      loadgenMaxLagMs: result.maxLagMs,
      answerMs: result.answerMs,
      statuses: result.statuses,
      latency: summarize(samples, count),
      drained: arrived.complete,
    })
    if (!arrived.complete) {
      notes.push(`${rate}/s: ${count - arrived.count} of ${count} emails had not arrived ${drainMs / 1000} s after the last event`)
      // The next rate starts from an empty queue (or as close as 20 s gets), so its figure is its own, not this backlog's.
      const left = await untilExitOr(belfry.child, outboxDrained(ctx, 20_000))
      if (left > 0) notes.push(`${rate}/s: ${left} messages still waiting when the next rate started`)
    }
  }
  rss.stop()
  const after = procStats(belfry.child.pid)
  const dup = await ctx.sink.stats(undefined, false)

  // Growth, not GC swings: the mean of the last quarter of the sustained phase over the mean of its first quarter.
  const inSustained = rss.samples.filter((s) => s.t >= sustained.from && s.t <= sustained.to)
  const quarter = Math.max(1, Math.floor(inSustained.length / 4))
  const mean = (xs: { rss: number }[]) => (xs.length ? xs.reduce((sum, x) => sum + x.rss, 0) / xs.length : null)
  const firstQuarter = mean(inSustained.slice(0, quarter))
  const lastQuarter = mean(inSustained.slice(-quarter))
  const secondHalf = inSustained.slice(Math.floor(inSustained.length / 2))
  const maxRss = secondHalf.length ? Math.max(...secondHalf.map((s) => s.rss)) : null
  const minRss = secondHalf.length ? Math.min(...secondHalf.map((s) => s.rss)) : null
  return {
    phases,
    rss: {
      samples: inSustained.length,
      firstQuarterMeanBytes: firstQuarter,
      lastQuarterMeanBytes: lastQuarter,
      lastOverFirstQuarter: ratioOf(lastQuarter, firstQuarter),
      secondHalfMaxOverMin: ratioOf(maxRss, minRss),
      peakBytes: after?.peakRssBytes ?? null,
    },
    cpuSecondsPer1000: before && after && emails > 0 ? ((after.cpuSeconds - before.cpuSeconds) / emails) * 1000 : null,
    emails,
    sinkDuplicatesOverall: dup.duplicates,
  }
}

