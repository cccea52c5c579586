// The benchmark's own database on the Postgres server DATABASE_URL names
// (the local one by default): made fresh for each run so no earlier data
// or bloat skews a figure, migrated with Belfry's own migration command,
// and dropped at the end, failures included.

import postgres from 'postgres'
import { spawnChild } from './processes.ts'

const DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/postgres'

export interface BenchDatabase {
  name: string
  url: string
  /** One small pool for the runner's own queries (progress, truncation, the claim loop). */
  sql: postgres.Sql
  drop(): Promise<void>
}

function withDatabase(serverUrl: string, name: string): string {
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return url.toString()
}

/** A fresh database `name` on `serverUrl` (DATABASE_URL, else the local server); the chaos suite makes its own the same way. */
export async function createBenchDatabase(
  name = `belfry_bench_${process.pid}`,
  serverUrl = process.env.DATABASE_URL || DEFAULT_SERVER,
  poolSize = 4,
): Promise<BenchDatabase> {
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 })
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`)
    await admin.unsafe(`create database ${name}`)
  } finally {
    await admin.end({ timeout: 5 })
  }
  const url = withDatabase(serverUrl, name)
  const sql = postgres(url, { max: poolSize, onnotice: () => {}, connect_timeout: 10 })
  let dropped = false
  return {
    name,
    url,
    sql,
    async drop() {
      if (dropped) return
      dropped = true
      await sql.end({ timeout: 5 }).catch(() => {})
      const again = postgres(serverUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 })
      try {
        await again.unsafe(`drop database if exists ${name} with (force)`)
      } finally {
        await again.end({ timeout: 5 })
      }
    },
  }
}

/** `bun src/db/migrate-cli.ts` against the bench database: the same path an operator takes. */
export async function migrate(url: string): Promise<void> {
  const child = spawnChild('migrate', ['bun', 'src/db/migrate-cli.ts'], { DATABASE_URL: url, LOG_LEVEL: 'error' })
  const code = await child.exited
  if (code !== 0) throw new Error(`migrations failed (exit ${code})\n${child.tail()}`)
}

export async function serverVersion(sql: postgres.Sql): Promise<string> {
  const [row] = await sql<{ version: string }[]>`select version()`
  return row?.version ?? 'unknown'
}
