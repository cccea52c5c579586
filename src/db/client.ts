// The database handle: Drizzle over the `postgres` driver when DATABASE_URL
// is set, over embedded PGlite in DATA_DIR otherwise. Everything above this
// file sees one `Database` and never asks which driver is underneath; the
// two differences that leak through Drizzle (the shape of raw results and
// LISTEN) are smoothed over here.

import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { SQL } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite'
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js'
import postgres from 'postgres'
import * as schema from './schema/index.ts'

export type Db = PgDatabase<PgQueryResultHKT, typeof schema>
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0]
/** Anything a query can run on: the pool or an open transaction. */
export type Executor = Db | Tx

export interface Database {
  readonly db: Db
  readonly driver: 'postgres' | 'pglite'
  /** Calls `onNotify` for every NOTIFY on `channel`; resolves to a function that stops listening. */
  listen(channel: string, onNotify: () => void): Promise<() => Promise<void>>
  /** Runs `work` while holding a session-level advisory lock, so only one process does it at a time. */
  withAdvisoryLock<T>(key: number, work: () => Promise<T>): Promise<T>
  /** Like withAdvisoryLock, but never waits: when another session holds the lock, resolves `{ acquired: false }` at once. */
  tryAdvisoryLock<T>(key: number, work: () => Promise<T>): Promise<{ acquired: true; value: T } | { acquired: false }>
  close(): Promise<void>
}

/** The driver's own codes for a connection that could not be made or was lost. */
const UNREACHABLE = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED',
])
/** SQLSTATEs of a server going away or not taking sessions: shutting down, starting up, full. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300'])

/**
 * True when `error` (or what it wraps: Drizzle puts the driver's error in
 * `cause`) says the database cannot be reached right now, rather than that
 * the query was wrong: the caller can only try again later.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  for (let current = error, depth = 0; current && depth < 5; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code
    if (typeof code !== 'string') continue
    // Class 08: connection exceptions.
    if (UNREACHABLE.has(code) || UNAVAILABLE_STATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true
  }
  return false
}

/** Raw SQL to rows, whichever driver ran it (postgres.js returns an array, PGlite `{rows}`). */
export async function rows<T>(executor: Executor, query: SQL): Promise<T[]> {
  const result: unknown = await executor.execute(query)
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[]
}

export interface OpenOptions {
  databaseUrl?: string
  dataDir: string
  /** Connections in the postgres.js pool. */
  poolSize?: number
}

export async function openDatabase(options: OpenOptions): Promise<Database> {
  return options.databaseUrl ? openPostgres(options.databaseUrl, options.poolSize ?? 20) : openPglite(options.dataDir)
}

function openPostgres(url: string, poolSize: number): Database {
  const client = postgres(url, {
    max: poolSize,
    onnotice: () => {},
    // Fail a dead database quickly instead of hanging a request or the worker.
    connect_timeout: 10,
    // While the server is away the driver fails queries at once (ingest answers
    // 503) and tries to connect again after this many seconds. Its default
    // grows to 20 s: in the chaos suite's 15 s outage Belfry then stayed
    // cut off for longer than the outage itself. Capped at 2 s, it was back
    // within ~2 s of the server.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 2) * (0.5 + Math.random() / 2),
  })
  const db = drizzlePostgres(client, { schema, casing: 'snake_case' }) as unknown as Db
  return {
    db,
    driver: 'postgres',
    async listen(channel, onNotify) {
      const { unlisten } = await client.listen(channel, () => onNotify())
      return unlisten
    },
    // Transaction-level locks, released by the commit or rollback that ends
    // `work`, so no connection is held outside a transaction between jobs.
    // `work` itself may use any connection of the pool.
    async withAdvisoryLock(key, work) {
      return (await client.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(${key})`
        return work()
      })) as Awaited<ReturnType<typeof work>>
    },
    async tryAdvisoryLock(key, work) {
      type Outcome = { acquired: true; value: Awaited<ReturnType<typeof work>> } | { acquired: false }
      return (await client.begin(async (tx): Promise<Outcome> => {
        const [row] = await tx<{ locked: boolean }[]>`select pg_try_advisory_xact_lock(${key}) as locked`
        if (!row?.locked) return { acquired: false }
        return { acquired: true, value: await work() }
      })) as Outcome
    },
    close: () => client.end({ timeout: 5 }),
  }
}

async function openPglite(dataDir: string): Promise<Database> {
  const client = await PGlite.create(pgliteDir(dataDir))
  const db = drizzlePglite(client, { schema, casing: 'snake_case' }) as unknown as Db
  const held = new Set<number>()
  return {
    db,
    driver: 'pglite',
    async listen(channel, onNotify) {
      const unlisten = await client.listen(channel, () => onNotify())
      return () => unlisten()
    },
    // PGlite is one session inside this one process: nobody else can race us.
    withAdvisoryLock: (_key, work) => work(),
    // ...but two callers in it can: the keys held here stand in for Postgres's lock table.
    async tryAdvisoryLock(key, work) {
      if (held.has(key)) return { acquired: false }
      held.add(key)
      try {
        return { acquired: true, value: await work() }
      } finally {
        held.delete(key)
      }
    },
    close: () => client.close(),
  }
}

/** `memory://` keeps the embedded database in memory (tests); anything else is a directory. */
function pgliteDir(dataDir: string): string | undefined {
  if (dataDir === 'memory://') return undefined
  const dir = join(dataDir, 'pglite')
  mkdirSync(dir, { recursive: true })
  return dir
}
