// What every chaos scenario shares: its own database on the local Postgres
// server, Belfry started the way an operator starts it (`bun src/main.ts`
// plus environment variables), and the table of checks the run prints.

import { createHmac } from 'node:crypto'
import postgres from 'postgres'
import { WEBHOOK_SECRET } from '../../bench/belfry.ts'
import { createBenchDatabase, migrate } from '../../bench/db.ts'
import { freePort, spawnChild, waitForHttp, type Child } from '../../bench/processes.ts'

export { WEBHOOK_SECRET }

const DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres'

export interface Check {
  scenario: string
  check: string
  /** What was counted, as printed. */
  count: string
  expected: string
  ok: boolean
}

export const checks: Check[] = []

/** Teardowns the runner must still do if it is interrupted (Ctrl-C) mid-scenario: a private Postgres server outlives us otherwise. */
export const pendingTeardowns = new Set<() => Promise<void>>()

export function check(scenario: string, name: string, ok: boolean, count: string | number, expected: string | number): void {
  checks.push({ scenario, check: name, count: String(count), expected: String(expected), ok })
  log(`  ${ok ? 'ok  ' : 'FAIL'} ${name}: ${count} (expected ${expected})`)
}

export function log(line: string): void {
  process.stderr.write(`${line}\n`)
}

export interface ChaosDatabase {
  url: string
  sql: postgres.Sql
  drop(): Promise<void>
}

export async function createDatabase(suffix: string, serverUrl = process.env.DATABASE_URL || DEFAULT_SERVER): Promise<ChaosDatabase> {
  const db = await createBenchDatabase(`belfry_chaos_${process.pid}_${suffix}`, serverUrl, 3)
  await migrate(db.url).catch(async (error: unknown) => {
    await db.drop()
    throw error
  })
  return db
}

export interface Belfry {
  child: Child
  /** null for ROLE=worker, which serves only health and metrics. */
  base: string | null
}

/** `bun src/main.ts` with the chaos run's settings; `env` overrides any of them. */
export async function startBelfry(
  name: string,
  role: 'all' | 'api' | 'worker',
  databaseUrl: string,
  dataDir: string,
  env: Record<string, string> = {},
): Promise<Belfry> {
  const port = await freePort()
  const child = spawnChild(name, ['bun', 'src/main.ts'], {
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: String(port),
    ROLE: role,
    WEBHOOK_SECRET,
    APP_SECRET: 'belfry-chaos-app-secret-0123456789abcdef',
    MAIL_FROM: 'Belfry Chaos <chaos@belfry.test>',
    ADMIN_EMAIL: 'ops@belfry.test',
    LOG_LEVEL: 'error',
    // One client address sends the whole load.
    RATE_LIMIT_PER_ADDRESS: 'off',
    ...env,
  })
  if (role === 'worker') return { child, base: null }
  const base = `http://127.0.0.1:${port}`
  await waitForHttp(child, `${base}/readyz`)
  return { child, base }
}

/** Message-IDs as the database keeps them and as a sink reads them from the header, compared without brackets. */
export const bareId = (id: string) => id.trim().replace(/^<|>$/g, '')

export function renderChecks(rows: readonly Check[]): string {
  const header = ['scenario', 'check', 'count', 'expected', 'result']
  const cells = rows.map((r) => [r.scenario, r.check, r.count, r.expected, r.ok ? 'pass' : 'FAIL'])
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)))
  const line = (values: string[]) => `| ${values.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n')
}

/** Standard Webhooks headers for `body`: v1,base64(HMAC-SHA256(secret, "{id}.{timestamp}.{body}")). */
export function signed(id: string, body: string): Record<string, string> {
  const key = Buffer.from(WEBHOOK_SECRET.replace(/^whsec_/, ''), 'base64')
  const timestamp = Math.floor(Date.now() / 1000)
  const signature = createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')
  return { 'content-type': 'application/json', 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': `v1,${signature}` }
}
