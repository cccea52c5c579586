// `bun run bench`: Belfry as a real process on a fresh Postgres database,
// fed signed events over HTTP by a separate load generator, delivering into
// a separate SMTP sink — next to the ceilings (bare claim loop, bare
// nodemailer, bare Elysia insert) and peers (graphile-worker, pg-boss)
// measured in the same run on the same database. Prints one table, writes
// bench/results/latest.json, and on a full-size run bench/RESULTS.md.
//
// BENCH_EVENTS (default 5000) sizes every phase; 200 is the CI smoke size.
// Any failing phase is reported and makes the exit code 1; a target not
// met does not (that is what the table is for). Duplicated emails do.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { belfryProcesses } from './belfry.ts'
import { createBenchDatabase, migrate, serverVersion, type BenchDatabase } from './db.ts'
import { startSink } from './drivers.ts'
import { bareIngestCeiling, claimLoopCeiling, smtpCeiling } from './phases/ceilings.ts'
import { latency } from './phases/latency.ts'
import { peer } from './phases/peers.ts'
import { stageCosts } from './phases/stages.ts'
import { deliver, keptProcesses, nullPipeline, stopApi } from './phases/throughput.ts'
import { now, stopAll } from './processes.ts'
import { buildRows, type Results } from './rows.ts'
import { clamp, fullSize, log, N, notes, sizes } from './settings.ts'
import { renderTable, resultsMarkdown, type Machine } from './table.ts'

const failures: { phase: string; error: string }[] = []
let interrupted = false

// BENCH_ONLY=latency,ingest: only the phases whose names contain one of
// these words run (the others print as "—"), and RESULTS.md is left alone.
const only = process.env.BENCH_ONLY?.split(',').map((word) => word.trim()).filter(Boolean) ?? []

async function phase<T>(name: string, work: () => Promise<T>): Promise<T | null> {
  if (interrupted) return null
  if (only.length > 0 && !only.some((word) => name.includes(word))) return null
  const t0 = now()
  log(`▶ ${name}`)
  try {
    const result = await work()
    log(`  done in ${((now() - t0) / 1000).toFixed(1)} s`)
    return result
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    failures.push({ phase: name, error: message })
    log(`  FAILED: ${message}`)
    return null
  } finally {
    // A phase owns the processes it started; none may run into the next one's figures.
    // The one exception is the idle ROLE=api process that queues work for the worker phases.
    await stopAll(5000, keptProcesses())
  }
}


async function machine(db: BenchDatabase, load: number[]): Promise<Machine> {
  return {
    cores: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    loadAverage: load,
    postgres: await serverVersion(db.sql),
    bun: Bun.version,
  }
}

async function main(): Promise<number> {
  const startedAt = now()
  const load = loadavg()
  const tmp = mkdtempSync(join(tmpdir(), 'belfry-bench-'))
  let db: BenchDatabase | null = null
  try {
    log(`belfry bench: BENCH_EVENTS=${N}${fullSize ? '' : ' (reduced size: RESULTS.md is left alone)'}`)
    db = await createBenchDatabase()
    await migrate(db.url)
    const bench = db

    const results: Results = {
      claimLoop: await phase('ceiling: bare claim loop', () => claimLoopCeiling(bench)),
      bareIngest: await phase('ceiling: bare Elysia insert', () => bareIngestCeiling(bench, tmp)),
      smtp: null,
      smtpRaw: null,
      // First, while nothing else runs: CPU per stage, in this process.
      stages: await phase('stage costs', () => stageCosts()),
      pipeline: null,
      delivery: null,
      scaleOut: null,
      latency: null,
      graphile: null,
      pgBoss: null,
    }
    // Each phase starts its own sink and stops every process it started.
    results.smtp = await phase('ceiling: nodemailer pooled', async () => smtpCeiling(await startSink()))
    results.smtpRaw = await phase('ceiling: SMTP alone, prebuilt bytes', async () => smtpCeiling(await startSink(), true))
    results.pipeline = await phase('Belfry ingest + null pipeline', async () => {
      const sink = await startSink()
      return nullPipeline({ db: bench, tmp, sink })
    })
    // About eight seconds of what bare nodemailer manages: long enough to be steady, short enough for a slow Belfry.
    const deliveryCount = (sizes.delivery = clamp(Math.round((results.smtp?.perSecond ?? 250) * 8), Math.min(N, 200), N))
    results.delivery = await phase('Belfry delivery, 1 worker', async () =>
      deliver({ db: bench, tmp, sink: await startSink() }, 'delivery.bench.test', 1, deliveryCount),
    )
    results.scaleOut = await phase('Belfry scale-out, 2 workers', async () =>
      deliver({ db: bench, tmp, sink: await startSink() }, 'scale.bench.test', 2, deliveryCount),
    )
    await stopApi()
    results.latency = await phase('Belfry latency at 100/500/1000 per s', async () => latency({ db: bench, tmp, sink: await startSink() }))
    results.graphile = await phase('peer: graphile-worker', () => peer(bench, 'graphile-worker'))
    results.pgBoss = await phase('peer: pg-boss', () => peer(bench, 'pg-boss'))

    if (results.scaleOut && results.scaleOut.duplicates > 0) {
      failures.push({ phase: 'scale-out', error: `${results.scaleOut.duplicates} Message-IDs arrived more than once` })
    }
    if (results.delivery && results.delivery.duplicates > 0) {
      failures.push({ phase: 'delivery', error: `${results.delivery.duplicates} Message-IDs arrived more than once` })
    }

    // Belfry runs at LOG_LEVEL=error: anything it wrote is worth reading.
    const belfryOutput = belfryProcesses.map((c) => ({ name: c.name, output: c.tail() })).filter((o) => o.output.trim() !== '')
    if (belfryOutput.length > 0) notes.push(`${belfryOutput.length} Belfry process(es) wrote to stdout/stderr at LOG_LEVEL=error: see belfryOutput in bench/results/latest.json`)

    const rows = buildRows(results)
    const runSeconds = (now() - startedAt) / 1000
    const info = await machine(bench, load)
    console.log(renderTable(rows))
    for (const note of notes) console.log(`note: ${note}`)
    for (const failure of failures) console.log(`FAILED ${failure.phase}: ${failure.error.split('\n')[0]}`)
    console.log(`${info.cores} cores, load ${load.map((l) => l.toFixed(2)).join(' ')} at start; ${runSeconds.toFixed(0)} s`)

    mkdirSync('bench/results', { recursive: true })
    const date = new Date().toISOString()
    writeFileSync(
      'bench/results/latest.json',
      `${JSON.stringify({ date, fullSize, sizes, machine: info, runSeconds, rows, results, notes, failures, belfryOutput }, null, 2)}\n`,
    )
    if (fullSize && only.length === 0 && failures.length === 0) {
      const limits = existsSync('bench/LIMITS.md') ? readFileSync('bench/LIMITS.md', 'utf8') : undefined
      writeFileSync('bench/RESULTS.md', resultsMarkdown({ rows, date, machine: info, sizes, runSeconds, notes, ...(limits ? { limits } : {}) }))
      log('wrote bench/RESULTS.md')
    } else if (fullSize) {
      log(`${only.length > 0 ? 'BENCH_ONLY' : 'a phase failed'}: bench/RESULTS.md is left as it was`)
    }
    return interrupted ? 130 : failures.length === 0 ? 0 : 1
  } finally {
    await stopAll()
    await db?.drop().catch((error: unknown) => log(`could not drop the bench database: ${(error as Error).message}`))
    rmSync(tmp, { recursive: true, force: true })
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    failures.push({ phase: 'run', error: `interrupted by ${signal}` })
    log(`${signal}: stopping every child process`)
    // The running phase fails as its processes go, no later phase starts, and
    // main()'s finally drops the database; this only bounds how long that may take.
    void stopAll()
    setTimeout(() => process.exit(130), 20_000).unref()
  })
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    log(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`)
    await stopAll()
    process.exit(1)
  },
)
