// What both peer queues share: the argument they run with, and a
// fixed-rate enqueue loop for the pickup-latency figure.

import { now } from '../processes.ts'

export { summarize } from '../stats.ts'

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Which runtime this peer ran under, for the report. */
export const runtime = typeof Bun === 'undefined' ? `node ${process.versions.node}` : `bun ${Bun.version}`

export interface PeerConfig {
  databaseUrl: string
  /** Jobs pre-queued for the throughput figure. */
  jobs: number
  /** Jobs per second for the enqueue→start figure, and for how long. */
  latencyRate: number
  latencySeconds: number
}

/**
 * Enqueues `rate` jobs a second for `seconds`, each job carrying the moment
 * it was enqueued. Timers are about a millisecond coarse, so the jobs due
 * since the last tick go in one insert — as a busy producer's would.
 */
export async function enqueueAtRate(
  rate: number,
  seconds: number,
  enqueue: (stamps: number[]) => Promise<void>,
): Promise<number> {
  const total = Math.round(rate * seconds)
  const started = now()
  let queued = 0
  const pending: Promise<void>[] = []
  while (queued < total) {
    const due = Math.min(total, Math.floor(((now() - started) * rate) / 1000) + 1)
    if (due > queued) {
      const stamp = now()
      pending.push(enqueue(Array.from({ length: due - queued }, () => stamp)))
      queued = due
    }
    await sleep(Math.max(1, Math.floor((queued * 1000) / rate - (now() - started))))
  }
  await Promise.all(pending)
  return total
}

export async function waitUntil(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) return false
    await sleep(5)
  }
  return true
}
