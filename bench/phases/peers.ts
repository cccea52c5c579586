// The peer queues, each in a process of its own on the benchmark's database.

import type { BenchDatabase } from '../db.ts'
import { spawnChild, untilExitOr } from '../processes.ts'
import { sizes } from '../settings.ts'
import type { LatencySummary } from '../stats.ts'

export interface PeerResult {
  runtime: string
  throughput: { perSecond: number; finished: boolean }
  throughputLocalQueue?: { perSecond: number; finished: boolean }
  latency: LatencySummary & { rate: number }
}

export async function peer(db: BenchDatabase, script: string): Promise<PeerResult> {
  const child = spawnChild(script, [
    'bun',
    `bench/peers/${script}.ts`,
    JSON.stringify({ databaseUrl: db.url, jobs: sizes.peerJobs, latencyRate: 1000, latencySeconds: sizes.peerLatencySeconds }),
  ])
  const result = await untilExitOr(child, child.waitForJson<PeerResult>((m) => m.done === true, 240_000))
  if (!result.throughput.finished) throw new Error(`${script} did not finish its ${sizes.peerJobs} jobs`)
  return result
}

