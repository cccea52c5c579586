// A fresh, migrated database per test file: its own Postgres database when
// TEST_DATABASE_URL (or DATABASE_URL) points at a server, an in-memory
// PGlite otherwise. The same suite runs on both.

import { randomBytes } from 'node:crypto'
import postgres from 'postgres'
import { openDatabase, type Database } from '../../src/db/client.ts'
import { applyMigrations } from '../../src/db/migrate.ts'

export const serverUrl = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL || undefined

/** True when tests run against a real Postgres server (several sessions possible). */
export const onPostgres = serverUrl !== undefined

export interface TestDatabase {
  database: Database
  /** URL of this test's own database (Postgres only), for opening a second session. */
  url: string | undefined
  /** Opens another, independent connection pool to the same database (Postgres only). */
  openAnother(): Promise<Database>
  drop(): Promise<void>
}

export async function createTestDatabase(): Promise<TestDatabase> {
  if (!serverUrl) {
    const database = await openDatabase({ dataDir: 'memory://' })
    await applyMigrations(database)
    return {
      database,
      url: undefined,
      openAnother: () => Promise.reject(new Error('PGlite is one session: a second one needs Postgres')),
      drop: () => database.close(),
    }
  }
  const name = `belfry_test_${randomBytes(6).toString('hex')}`
  const admin = postgres(serverUrl, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', poolSize: 10 })
  await applyMigrations(database)
  const others: Database[] = []
  return {
    database,
    url: url.toString(),
    async openAnother() {
      const other = await openDatabase({ databaseUrl: url.toString(), dataDir: 'memory://', poolSize: 10 })
      others.push(other)
      return other
    },
    async drop() {
      await Promise.all([database, ...others].map((db) => db.close().catch(() => {})))
      await admin.unsafe(`drop database if exists ${name} with (force)`)
      await admin.end()
    },
  }
}
