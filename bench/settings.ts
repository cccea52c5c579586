// What every phase shares: the run's size, its fixed knobs, the sequence of
// event numbers, and the notes that end up under the table.

import type { LoadgenResult } from './loadgen.ts'

// 15,000: at 5,000 the throughput phases lasted under a second, where JIT
// warm-up and one GC decided the figure (three runs in a row read the
// pipeline at 4,450-6,696/s), and the fixed rates ran 5 s, too short for a
// steady RSS. The whole run still takes about two minutes.
const FULL_SIZE = 15000
export const N = Math.max(20, Number(process.env.BENCH_EVENTS ?? FULL_SIZE))
export const fullSize = N >= FULL_SIZE
export const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v))

// Belfry opens as many SMTP connections as WORKER_CONCURRENCY
// (src/transport/smtp.ts); the SMTP phases set both sides to the same pool,
// inside the 5–10 range issue 9 measured nodemailer with.
export const SMTP_CONNECTIONS = 10
export const FLAT_CONNECTIONS = 50
// A phase that has not finished by then is reported over what it did finish:
// a slow Belfry then costs minutes of nobody's time, and shows in the table.
export const DRAIN_LIMIT_MS = 60_000
export const RATES = [100, 500, 1000] as const

export const sizes = {
  events: N,
  warmup: Math.min(500, Math.ceil(N / 10)),
  claimRows: N * 20,
  peerJobs: N,
  rateSeconds: clamp(N / 1500, 0.2, 10),
  peerLatencySeconds: clamp(N / 1500, 0.5, 5),
  /** Set from the measured nodemailer ceiling before the delivery phases. */
  delivery: 0,
}
export const runTag = `${process.pid}${Date.now().toString(36)}`
export const log = (line: string) => process.stderr.write(`${line}\n`)

let nextSeq = 1
/** Hands out sequence numbers, so every event in the run has its own recipient and webhook id. */
export const takeSeq = (count: number) => {
  const first = nextSeq
  nextSeq += count
  return first
}

export const notes: string[] = []

export function requireAll(what: string, result: LoadgenResult, expected: number) {
  if (result.ok !== expected) {
    throw new Error(
      `${what}: ${result.ok} of ${expected} requests answered 2xx (statuses ${JSON.stringify(result.statuses)}, errors ${result.errors}${result.firstError ? `: ${result.firstError}` : ''})`,
    )
  }
}

export const perSecond = (count: number, ms: number) => (ms > 0 ? (count / ms) * 1000 : null)

