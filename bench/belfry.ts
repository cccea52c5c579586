// Belfry as the benchmark runs it: `bun src/main.ts`, a real process with
// only environment variables (README's table) to configure it, and the
// questions the runner asks its database — the same ones an operator would.

import type postgres from 'postgres'
import { freePort, spawnChild, untilExitOr, waitForHttp, type Child } from './processes.ts'

export const WEBHOOK_SECRET = `whsec_${Buffer.from('belfry-bench-webhook-secret-0123456789ab').toString('base64')}`
const APP_SECRET = 'belfry-bench-app-secret-0123456789abcdef'

export interface BelfryProcess {
  child: Child
  /** http://127.0.0.1:<port>, or null for ROLE=worker (which serves only health and metrics). */
  base: string | null
}

export interface BelfryOptions {
  name: string
  databaseUrl: string
  dataDir: string
  role: 'all' | 'api' | 'worker'
  transport: 'smtp' | 'null'
  smtpUrl?: string
  /** WORKER_CONCURRENCY; Belfry's own default when absent. */
  concurrency?: number
}

/** Every Belfry process of the run, so what they logged at LOG_LEVEL=error can go into the JSON. */
export const belfryProcesses: Child[] = []

export async function startBelfry(options: BelfryOptions): Promise<BelfryProcess> {
  const port = await freePort()
  const env: Record<string, string> = {
    DATABASE_URL: options.databaseUrl,
    DATA_DIR: options.dataDir,
    PORT: String(port),
    ROLE: options.role,
    MAIL_TRANSPORT: options.transport,
    WEBHOOK_SECRET,
    APP_SECRET,
    MAIL_FROM: 'Belfry Bench <bench@belfry.test>',
    ADMIN_EMAIL: 'ops@belfry.test',
    LOG_LEVEL: 'error',
    // All of the load comes from one address, ours; the per-address limit
    // (1000/s by default) would measure itself instead of the pipeline.
    RATE_LIMIT_PER_ADDRESS: 'off',
  }
  if (options.smtpUrl) env.SMTP_URL = options.smtpUrl
  if (options.concurrency) env.WORKER_CONCURRENCY = String(options.concurrency)
  // BENCH_CPU_PROF=<dir>: each Belfry process writes a CPU profile there (and
  // a Markdown summary) when it stops, to see where a message's CPU goes.
  const profile = process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-md', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []
  const child = spawnChild(options.name, ['bun', ...profile, 'src/main.ts'], env)
  belfryProcesses.push(child)
  if (options.role === 'worker') return { child, base: null }
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(child, `${base}/readyz`)
  return { child, base }
}

export const FINAL_STATES = ['sent', 'dead', 'cancelled', 'skipped', 'digested'] as const

/** Waits until `expected` outbox rows are in a final state; fails if a watched process dies. */
export async function waitForFinal(
  sql: postgres.Sql,
  expected: number,
  timeoutMs: number,
  watch: Child[],
): Promise<{ final: number; complete: boolean }> {
  const deadline = Date.now() + timeoutMs
  const poll = async () => {
    for (;;) {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from messages where state in ('sent', 'dead', 'cancelled', 'skipped', 'digested')`
      const final = row?.n ?? 0
      if (final >= expected) return { final, complete: true }
      if (Date.now() > deadline) return { final, complete: false }
      await Bun.sleep(100)
    }
  }
  let work = poll()
  for (const child of watch) work = untilExitOr(child, work)
  return work
}

/** Outbox rows by state (and reason), to show that "final" meant "sent". */
export async function stateCounts(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows = await sql<{ state: string; reason: string | null; n: number }[]>`
    select state::text, reason, count(*)::int as n from messages group by 1, 2 order by 1, 2`
  return Object.fromEntries(rows.map((r) => [r.reason ? `${r.state}:${r.reason}` : r.state, r.n]))
}

/**
 * From the first attempt's start to the last attempt's end, epoch ms: the
 * worker's busy span, without the seconds a process spends starting
 * (compiling every template) before it claims anything.
 */
export async function attemptWindow(sql: postgres.Sql): Promise<{ first: number; last: number; attempts: number } | null> {
  const [row] = await sql<{ first: number | null; last: number | null; n: number }[]>`
    select extract(epoch from min(started_at)) * 1000 as first,
           extract(epoch from max(finished_at)) * 1000 as last,
           count(*)::int as n
    from delivery_attempts`
  if (!row || row.first === null || row.last === null) return null
  return { first: Number(row.first), last: Number(row.last), attempts: row.n }
}

/** Empties the outbox and what feeds it, so each phase starts from the same state. */
export async function resetOutbox(sql: postgres.Sql): Promise<void> {
  await sql`truncate table delivery_attempts, messages, events, recipients restart identity cascade`
}
