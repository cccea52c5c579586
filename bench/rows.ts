// The run's results as the table's rows: each Belfry figure beside its
// ceiling or peer, with issue 9's target where it sets one.

import type { bareIngestCeiling, claimLoopCeiling, smtpCeiling } from './phases/ceilings.ts'
import type { latency } from './phases/latency.ts'
import type { PeerResult } from './phases/peers.ts'
import type { StageCosts } from './phases/stages.ts'
import type { deliver, nullPipeline } from './phases/throughput.ts'
import { RATES, SMTP_CONNECTIONS } from './settings.ts'
import { fmt, ratioOf, type Row } from './table.ts'

export function buildRows(r: Results): Row[] {
  const rows: Row[] = []
  /** `ratio` undefined: the row compares nothing; null: it does, but a side is missing. */
  const row = (figure: string, value: string, comparedWith: string, ratio: number | null | undefined, target: string, met: boolean | null) =>
    rows.push({ figure, value, comparedWith, ratio: ratio === undefined ? '' : fmt.ratio(ratio), target, met })
  const atLeast = (ratio: number | null, min: number) => (ratio === null ? false : ratio >= min)

  const ingestRatio = ratioOf(r.pipeline?.ingest.perSecond, r.bareIngest?.perSecond)
  row('Belfry ingest, signed events → 202 (ROLE=api, 50 conns)', fmt.rate(r.pipeline?.ingest.perSecond), `bare Elysia insert ${fmt.rate(r.bareIngest?.perSecond)}`, ingestRatio, '≥ 0.80×', atLeast(ingestRatio, 0.8))
  const pipelineRatio = ratioOf(r.pipeline?.perSecond, r.claimLoop?.perSecond)
  row('Belfry pipeline, null transport (ROLE=worker)', fmt.rate(r.pipeline?.perSecond), `bare claim loop ${fmt.rate(r.claimLoop?.perSecond)}`, pipelineRatio, '≥ 0.50×', atLeast(pipelineRatio, 0.5))
  const vsGraphile = ratioOf(r.pipeline?.perSecond, r.graphile?.throughput.perSecond)
  row('Belfry pipeline vs graphile-worker', fmt.rate(r.pipeline?.perSecond), `graphile-worker ${fmt.rate(r.graphile?.throughput.perSecond)}`, vsGraphile, '≥ 5×', atLeast(vsGraphile, 5))
  row('Belfry pipeline vs pg-boss', fmt.rate(r.pipeline?.perSecond), `pg-boss ${fmt.rate(r.pgBoss?.throughput.perSecond)}`, ratioOf(r.pipeline?.perSecond, r.pgBoss?.throughput.perSecond), '', null)
  const deliveryRatio = ratioOf(r.delivery?.perSecond, r.smtp?.perSecond)
  row(`Belfry delivery into SMTP sink (ROLE=worker, ${SMTP_CONNECTIONS} conns)`, fmt.rate(r.delivery?.perSecond), `nodemailer pooled ${fmt.rate(r.smtp?.perSecond)}`, deliveryRatio, '≥ 0.95×', atLeast(deliveryRatio, 0.95))
  const rawRatio = ratioOf(r.delivery?.perSecond, r.smtpRaw?.perSecond)
  row(`Belfry delivery vs SMTP alone (prebuilt bytes)`, fmt.rate(r.delivery?.perSecond), `SMTP alone ${fmt.rate(r.smtpRaw?.perSecond)}`, rawRatio, '', null)

  const targets: Record<number, number | undefined> = { 500: 15, 1000: 30 }
  const graphileP99 = r.graphile?.latency.p99 ?? null
  for (const rate of RATES) {
    const p = r.latency?.phases.find((x) => x.rate === rate)
    const l = p?.latency
    const value = l ? `${fmt.ms(l.p50)} / ${fmt.ms(l.p95)} / ${fmt.ms(l.p99)}` : 'n/a'
    const limit = targets[rate]
    // The 202 itself: when it is slow, the server is saturated before delivery is.
    const answered = p ? `the 202 itself p99 ${fmt.ms(p.answerMs.p99)}` : ''
    const compared = rate === 1000 ? `graphile-worker enqueue→start p99 ${fmt.ms(graphileP99)}; ${answered}` : answered
    row(
      `event 202 → SMTP accepted p50/p95/p99 at ${rate}/s (ROLE=all)`,
      value,
      compared,
      rate === 1000 ? ratioOf(l?.p99, graphileP99) : undefined,
      limit ? `p99 ≤ ${limit} ms` : '',
      limit ? l?.p99 !== null && l?.p99 !== undefined && l.p99 <= limit : null,
    )
  }
  const growth = r.latency?.rss.lastOverFirstQuarter ?? null
  row(
    'RSS over the 1,000/s phase, last ¼ mean / first ¼ mean (ROLE=all)',
    fmt.ratio(growth),
    `${fmt.mb(r.latency?.rss.firstQuarterMeanBytes)} → ${fmt.mb(r.latency?.rss.lastQuarterMeanBytes)}; 2nd half max/min ${fmt.ratio(r.latency?.rss.secondHalfMaxOverMin)}`,
    undefined,
    'within ±10%',
    growth === null ? false : Math.abs(growth - 1) <= 0.1,
  )
  row('peak RSS, VmHWM (ROLE=all)', fmt.mb(r.latency?.rss.peakBytes), '', undefined, '', null)
  row(
    'CPU-seconds per 1,000 emails (ROLE=all, ingest included)',
    r.latency?.cpuSecondsPer1000 === null || r.latency?.cpuSecondsPer1000 === undefined ? 'n/a' : `${r.latency.cpuSecondsPer1000.toFixed(2)} s`,
    r.delivery ? `ROLE=worker alone, SMTP: ${r.delivery.cpuSecondsPer1000.toFixed(2)} s` : '',
    undefined,
    '',
    null,
  )
  row('scale-out: 2 × ROLE=worker into SMTP sink', fmt.rate(r.scaleOut?.perSecond), `1 worker ${fmt.rate(r.delivery?.perSecond)}`, ratioOf(r.scaleOut?.perSecond, r.delivery?.perSecond), '', null)
  row('scale-out: Message-IDs received more than once', r.scaleOut ? String(r.scaleOut.duplicates) : 'n/a', '', undefined, '0', r.scaleOut ? r.scaleOut.duplicates === 0 : false)
  const st = r.stages
  if (st) {
    const us = (n: number) => `${n.toFixed(0)} µs`
    const email = st.delivery.render + st.delivery.track + st.delivery.mime
    row(
      'stage CPU per email: render / tracking / MIME',
      `${us(st.delivery.render)} / ${us(st.delivery.track)} / ${us(st.delivery.mime)}`,
      `one core's bound for these alone: ${fmt.rate(1e6 / email)}`,
      undefined,
      '',
      null,
    )
    row(
      'stage CPU per email: tracking in the render vs rewriting the HTML',
      us(st.delivery.track),
      `rewriteHtml over the rendered email (before; the reference): ${us(st.delivery.rewrite)}`,
      ratioOf(st.delivery.track, st.delivery.rewrite),
      '',
      null,
    )
    const event = st.ingest.verify + st.ingest.parseAndValidate + st.ingest.plan
    row(
      'stage CPU per event: signature / JSON + validation / plan',
      `${us(st.ingest.verify)} / ${us(st.ingest.parseAndValidate)} / ${us(st.ingest.plan)}`,
      `one core's bound for these alone: ${fmt.rate(1e6 / event)}`,
      undefined,
      '',
      null,
    )
  }
  row('ceiling: bare SKIP LOCKED claim loop, batches of 100', fmt.rate(r.claimLoop?.perSecond), '', undefined, '', null)
  row(`ceiling: nodemailer pooled, ${SMTP_CONNECTIONS} conns, same message`, fmt.rate(r.smtp?.perSecond), '', undefined, '', null)
  row(`ceiling: SMTP alone, ${SMTP_CONNECTIONS} conns, prebuilt bytes`, fmt.rate(r.smtpRaw?.perSecond), '', undefined, '', null)
  row('ceiling: bare Elysia jsonb insert, 50 conns', fmt.rate(r.bareIngest?.perSecond), '', undefined, '', null)
  row(
    'peer: graphile-worker, no-op, concurrency 20',
    fmt.rate(r.graphile?.throughput.perSecond),
    r.graphile?.throughputLocalQueue ? `with localQueue 500: ${fmt.rate(r.graphile.throughputLocalQueue.perSecond)}` : '',
    undefined,
    '',
    null,
  )
  row('peer: pg-boss, no-op, 20 × work() batch 100', fmt.rate(r.pgBoss?.throughput.perSecond), '', undefined, '', null)
  row(
    'peers: enqueue→start p50/p99 at 1,000/s',
    `graphile-worker ${fmt.ms(r.graphile?.latency.p50)} / ${fmt.ms(graphileP99)}`,
    `pg-boss ${fmt.ms(r.pgBoss?.latency.p50)} / ${fmt.ms(r.pgBoss?.latency.p99)}`,
    undefined,
    '',
    null,
  )
  return rows
}

export interface Results {
  claimLoop: Awaited<ReturnType<typeof claimLoopCeiling>> | null
  bareIngest: Awaited<ReturnType<typeof bareIngestCeiling>> | null
  smtp: Awaited<ReturnType<typeof smtpCeiling>> | null
  smtpRaw: Awaited<ReturnType<typeof smtpCeiling>> | null
  stages: StageCosts | null
  pipeline: Awaited<ReturnType<typeof nullPipeline>> | null
  delivery: Awaited<ReturnType<typeof deliver>> | null
  scaleOut: Awaited<ReturnType<typeof deliver>> | null
  latency: Awaited<ReturnType<typeof latency>> | null
  graphile: PeerResult | null
  pgBoss: PeerResult | null
}

