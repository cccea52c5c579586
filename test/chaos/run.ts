// `bun run test:chaos`: real Belfry processes against real Postgres and real
// SMTP servers, broken on purpose. Each scenario gets a fresh database on the
// Postgres server DATABASE_URL names (the local one by default), dropped at
// the end. Prints one table of checks and counts; exits 1 when any check or
// scenario fails. Not a *.test.ts file: `bun test` must not start it.

import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stopAll } from '../../bench/processes.ts'
import { checks, createDatabase, log, pendingTeardowns, renderChecks, type ChaosDatabase } from './common.ts'
import { workerKills } from './crashes.ts'
import { smtpFaults } from './faults.ts'
import { postgresRestart } from './pg-restart.ts'

type Scenario =
  | { name: string; key: string; run: (db: ChaosDatabase, tmp: string) => Promise<void> }
  /** Brings its own Postgres server and database. */
  | { name: string; key: string; ownServer: true; run: (tmp: string) => Promise<void> }

const scenarios: Scenario[] = [
  { name: 'worker kills', key: 'kills', run: workerKills },
  { name: 'SMTP faults', key: 'faults', run: smtpFaults },
  { name: 'Postgres restart', key: 'pg', ownServer: true, run: postgresRestart },
]

let interrupted = false
const databases: ChaosDatabase[] = []
const tmp = mkdtempSync(join(tmpdir(), 'belfry-chaos-'))

async function cleanup(): Promise<void> {
  await stopAll(3000)
  await Promise.all([...pendingTeardowns].map((teardown) => teardown().catch(() => {})))
  await Promise.all(databases.map((db) => db.drop().catch((error) => log(`could not drop a chaos database: ${(error as Error).message}`))))
  rmSync(tmp, { recursive: true, force: true })
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    log(`${signal}: stopping`)
    void cleanup().finally(() => process.exit(130))
  })
}

async function main(): Promise<number> {
  const started = Date.now()
  const only = process.env.CHAOS_ONLY?.split(',').map((s) => s.trim())
  const failures: string[] = []
  try {
    for (const scenario of scenarios) {
      if (only && !only.includes(scenario.key)) continue
      if (interrupted) break
      const t0 = Date.now()
      log(`▶ ${scenario.name}`)
      let db: ChaosDatabase | null = null
      try {
        const dir = join(tmp, scenario.key)
        mkdirSync(dir, { recursive: true })
        if ('ownServer' in scenario) {
          await scenario.run(dir)
        } else {
          db = await createDatabase(scenario.key)
          databases.push(db)
          await scenario.run(db, dir)
        }
      } catch (error) {
        const message = error instanceof Error ? (error.stack ?? error.message) : String(error)
        failures.push(scenario.name)
        checks.push({ scenario: scenario.name, check: 'scenario ran to the end', count: 'error', expected: 'no error', ok: false })
        log(`  FAILED: ${message}`)
      } finally {
        // A scenario owns what it started; nothing of it may run into the next.
        await stopAll(3000)
        await db?.drop().catch((error) => log(`  could not drop the database: ${(error as Error).message}`))
        log(`  ${scenario.name} took ${((Date.now() - t0) / 1000).toFixed(1)} s`)
      }
    }
  } finally {
    await cleanup()
  }
  const failed = checks.filter((c) => !c.ok)
  console.log(renderChecks(checks))
  const seconds = ((Date.now() - started) / 1000).toFixed(1)
  console.log(
    `chaos: ${checks.length - failed.length} passed, ${failed.length} failed in ${seconds} s`,
  )
  return failed.length > 0 || failures.length > 0 ? 1 : 0
}

process.exit(await main())
