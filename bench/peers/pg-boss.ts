// pg-boss as a peer (`bun bench/peers/pg-boss.ts '<json>'`), on the
// benchmark's database in its own schema (pgboss): 20 work() workers taking
// batches of 100 no-op jobs, polling at its fastest allowed interval
// (0.5 s); and the enqueue→start time at a fixed rate. Runs under Bun.

import PgBoss from 'pg-boss'
import { exitWithParent, now } from '../processes.ts'
import { enqueueAtRate, summarize, waitUntil, runtime, type PeerConfig } from './common.ts'

exitWithParent()
const config = JSON.parse(process.argv[2] ?? '{}') as PeerConfig
const boss = new PgBoss({ connectionString: config.databaseUrl, schema: 'pgboss', max: 25, supervise: false, schedule: false })
boss.on('error', () => {})
await boss.start()
await boss.createQueue('noop')
await boss.createQueue('stamped')

const WORKERS = 20
const work = { batchSize: 100, pollingIntervalSeconds: 0.5 }

for (let i = 0; i < config.jobs; i += 1000) {
  await boss.insert(Array.from({ length: Math.min(1000, config.jobs - i) }, () => ({ name: 'noop', data: {} })))
}
let done = 0
const startedAt = now()
for (let i = 0; i < WORKERS; i++) {
  await boss.work('noop', work, async (jobs) => {
    done += jobs.length
  })
}
const finished = await waitUntil(() => done >= config.jobs, 120_000)
const ms = now() - startedAt
await boss.offWork('noop')

const starts: number[] = []
for (let i = 0; i < WORKERS; i++) {
  await boss.work<{ at: number }>('stamped', work, async (jobs) => {
    const at = now()
    for (const job of jobs) starts.push(at - job.data.at)
  })
}
const expected = await enqueueAtRate(config.latencyRate, config.latencySeconds, async (stamps) => {
  await boss.insert(stamps.map((at) => ({ name: 'stamped', data: { at } })))
})
await waitUntil(() => starts.length >= expected, 10_000)
await boss.stop({ graceful: false, wait: false }).catch(() => {})

console.log(
  JSON.stringify({
    done: true,
    runtime,
    throughput: { jobs: config.jobs, done, finished, ms, perSecond: (done / ms) * 1000 },
    latency: { rate: config.latencyRate, ...summarize(starts, expected) },
  }),
)
process.exit(0)
