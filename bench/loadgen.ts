// The load generator, a process of its own (`bun bench/loadgen.ts '<json>'`):
// signed `course.completed` events over HTTP, either open loop at a fixed
// rate (each request leaves on its schedule whether or not earlier ones
// were answered, so a slow server shows up as latency, not as a politely
// lower rate) or flat out over N connections (closed loop).
//
// course.completed because it makes exactly one learner email that goes
// through the preference gate (category `progress`), no admin alert, and is
// not subject to quiet hours; every event has its own recipient,
// learner-<seq>@<domain>, so the sink's RCPT TO names the event it came from.
//
// Requests are built and signed before the clock starts: the figure is the
// server's, not this process's HMAC. Results go to the file `out` names
// (per event: when its answer arrived), and a summary line to stdout.

import { createHmac } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { exitWithParent, now } from './processes.ts'
import { summarize, type LatencySummary } from './stats.ts'

export interface LoadgenConfig {
  url: string
  /** Standard Webhooks secret, `whsec_<base64>`. */
  secret: string
  mode: 'rate' | 'flat'
  /** Measured requests. */
  count: number
  /** Events per second (mode `rate`). */
  rate?: number
  /** Requests in flight at once (mode `flat`). */
  connections?: number
  /** Requests sent first, closed loop, and not measured: JIT and connection warm-up. */
  warmup?: number
  /** Sequence number of the first request (warm-up included); recipients and webhook ids derive from it. */
  seqStart: number
  /** Recipient domain: learner-<seq>@<domain>. */
  domain: string
  /** Makes webhook ids unique across runs and phases. */
  runTag: string
  out: string
}

export interface LoadgenResult {
  count: number
  /** Answers with a 2xx status among the measured requests. */
  ok: number
  statuses: Record<string, number>
  errors: number
  firstError?: string
  startedAt: number
  endedAt: number
  /** Measured requests answered 2xx per second of the measured span. */
  okPerSecond: number
  /** Open loop: how far behind its schedule the generator itself fell at worst. */
  maxLagMs: number
  /** Request sent → 2xx answer received: the HTTP side of the latency, apart from delivery. */
  answerMs: LatencySummary
  /** Per measured request i (seq = seqStart + warmup + i): when its 2xx answer arrived, or null. */
  acks: (number | null)[]
}

export const recipient = (seq: number, domain: string) => `learner-${seq}@${domain}`

export function eventBody(seq: number, domain: string): string {
  return JSON.stringify({
    type: 'course.completed',
    data: {
      user: { id: `bench-${seq}`, email: recipient(seq, domain), name: `Learner ${seq}` },
      course: { id: 'bench-101', title: 'Benchmarking 101', url: 'https://lms.bench.test/c/101' },
      completion: { completed_at: '2026-12-01T10:00:00Z', grade: 'A' },
    },
  })
}

/** Standard Webhooks: v1,base64(HMAC-SHA256(base64-decoded secret, "{id}.{timestamp}.{body}")). */
function signature(key: Buffer, id: string, timestamp: number, body: string): string {
  return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`
}

interface Prepared {
  body: string
  headers: Record<string, string>
}

function prepare(config: LoadgenConfig, total: number): Prepared[] {
  const key = Buffer.from(config.secret.replace(/^whsec_/, ''), 'base64')
  const timestamp = Math.floor(Date.now() / 1000)
  return Array.from({ length: total }, (_, i) => {
    const seq = config.seqStart + i
    const id = `bench_${config.runTag}_${config.domain}_${seq}`
    const body = eventBody(seq, config.domain)
    return {
      body,
      headers: {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signature(key, id, timestamp, body),
      },
    }
  })
}

async function run(config: LoadgenConfig): Promise<LoadgenResult> {
  const warmup = config.warmup ?? 0
  const requests = prepare(config, warmup + config.count)
  const statuses: Record<string, number> = {}
  const acks: (number | null)[] = new Array(config.count).fill(null)
  const answerTimes: number[] = []
  let errors = 0
  let firstError: string | undefined
  let ok = 0

  const send = async (index: number, measured: boolean) => {
    const request = requests[index]!
    const sentAt = now()
    try {
      const res = await fetch(config.url, { method: 'POST', headers: request.headers, body: request.body })
      const at = now()
      await res.arrayBuffer()
      if (!measured) return
      statuses[res.status] = (statuses[res.status] ?? 0) + 1
      if (res.status >= 200 && res.status < 300) {
        ok += 1
        acks[index - warmup] = at
        answerTimes.push(at - sentAt)
      }
    } catch (error) {
      if (!measured) return
      errors += 1
      firstError ??= (error as Error).message
    }
  }

  const connections = Math.max(1, config.connections ?? 50)
  const closedLoop = async (from: number, to: number, measured: boolean) => {
    let next = from
    await Promise.all(
      Array.from({ length: Math.min(connections, to - from) }, async () => {
        while (next < to) await send(next++, measured)
      }),
    )
  }

  await closedLoop(0, warmup, false)

  let maxLagMs = 0
  const startedAt = now()
  if (config.mode === 'flat') {
    await closedLoop(warmup, warmup + config.count, true)
  } else {
    const rate = config.rate ?? 100
    const inflight = new Set<Promise<void>>()
    let sent = 0
    while (sent < config.count) {
      const elapsed = now() - startedAt
      const due = Math.min(config.count, Math.floor((elapsed * rate) / 1000) + 1)
      if (due > sent) maxLagMs = Math.max(maxLagMs, elapsed - (sent * 1000) / rate)
      while (sent < due) {
        const p = send(warmup + sent++, true)
        inflight.add(p)
        void p.finally(() => inflight.delete(p))
      }
      // Sleep to the next request's slot; timers are ~1 ms coarse, so several may leave together.
      const wait = (sent * 1000) / rate - (now() - startedAt)
      if (wait > 0) await Bun.sleep(Math.max(1, Math.floor(wait)))
    }
    await Promise.all(inflight)
  }
  const endedAt = now()
  const span = Math.max(1, (config.mode === 'flat' ? endedAt : acks.reduce<number>((a, b) => Math.max(a, b ?? 0), 0)) - startedAt)
  return {
    count: config.count,
    ok,
    statuses,
    errors,
    ...(firstError ? { firstError } : {}),
    startedAt,
    endedAt,
    okPerSecond: (ok / span) * 1000,
    maxLagMs,
    answerMs: summarize(answerTimes, config.count),
    acks,
  }
}

if (import.meta.main) {
  exitWithParent()
  const config = JSON.parse(process.argv[2] ?? '{}') as LoadgenConfig
  const result = await run(config)
  writeFileSync(config.out, JSON.stringify(result))
  const { acks: _acks, ...summary } = result
  console.log(JSON.stringify({ done: true, ...summary }))
  process.exit(0)
}
