// graphile-worker as a peer (`bun bench/peers/graphile-worker.ts '<json>'`),
// on the benchmark's database in its own schema (graphile_worker): a no-op
// task at concurrency 20, first with its defaults (one job fetched per
// worker), then with its batched local queue; and the enqueue→start time at
// a fixed rate. Runs under Bun; graphile-worker only needs `pg`.

import { Logger, makeWorkerUtils, run, type Runner, type TaskList } from 'graphile-worker'
import { exitWithParent, now } from '../processes.ts'
import { enqueueAtRate, summarize, waitUntil, runtime, type PeerConfig } from './common.ts'

exitWithParent()
const config = JSON.parse(process.argv[2] ?? '{}') as PeerConfig
const logger = new Logger(() => () => {})
const utils = await makeWorkerUtils({ connectionString: config.databaseUrl, logger })
await utils.migrate()

let done = 0
const starts: number[] = []
const taskList: TaskList = {
  noop: async () => {
    done += 1
  },
  stamped: async (payload) => {
    starts.push(now() - (payload as { at: number }).at)
  },
}

async function prequeue(count: number) {
  for (let i = 0; i < count; i += 1000) {
    await utils.addJobs(Array.from({ length: Math.min(1000, count - i) }, () => ({ identifier: 'noop', payload: {} })))
  }
}

async function start(localQueue: boolean): Promise<Runner> {
  return run({
    connectionString: config.databaseUrl,
    concurrency: 20,
    noHandleSignals: true,
    pollInterval: 2000,
    logger,
    taskList,
    ...(localQueue ? { preset: { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } } : {}),
  })
}

async function throughput(localQueue: boolean) {
  done = 0
  await prequeue(config.jobs)
  const startedAt = now()
  const runner = await start(localQueue)
  const finished = await waitUntil(() => done >= config.jobs, 120_000)
  const ms = now() - startedAt
  await runner.stop()
  return { jobs: config.jobs, done, finished, ms, perSecond: (done / ms) * 1000 }
}

const plain = await throughput(false)
const batched = await throughput(true)

const runner = await start(false)
const expected = await enqueueAtRate(config.latencyRate, config.latencySeconds, async (stamps) => {
  await utils.addJobs(stamps.map((at) => ({ identifier: 'stamped', payload: { at } })))
})
await waitUntil(() => starts.length >= expected, 10_000)
await runner.stop()
await utils.release()

console.log(
  JSON.stringify({
    done: true,
    runtime,
    throughput: plain,
    throughputLocalQueue: batched,
    latency: { rate: config.latencyRate, ...summarize(starts, expected) },
  }),
)
process.exit(0)
