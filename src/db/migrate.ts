// Applies drizzle-kit's migrations from drizzle/ at start. Several processes
// may start at once against one Postgres, so the whole run holds an advisory
// lock: the first applies, the others wait and then find nothing to do.

import { fileURLToPath } from 'node:url'
import { sql } from 'drizzle-orm'
import { readMigrationFiles } from 'drizzle-orm/migrator'
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator'
import type { PgliteDatabase } from 'drizzle-orm/pglite'
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator'
import type { PostgresJsDatabase } from 'drizzle-orm/postgres-js'
import { rows, type Database } from './client.ts'

export const migrationsFolder = fileURLToPath(new URL('../../drizzle', import.meta.url))

/** Arbitrary but fixed: the advisory lock key every Belfry process uses for migrations. */
const MIGRATION_LOCK = 0x62656c66 // "belf"

export async function applyMigrations(database: Database): Promise<void> {
  await database.withAdvisoryLock(MIGRATION_LOCK, async () => {
    // Both migrators run the same dialect code; they differ only in type.
    if (database.driver === 'postgres') {
      await migratePostgres(database.db as unknown as PostgresJsDatabase, { migrationsFolder })
    } else {
      await migratePglite(database.db as unknown as PgliteDatabase, { migrationsFolder })
    }
  })
}

/** True when every migration in drizzle/ has been applied: what /readyz reports. */
export async function migrationsApplied(database: Database): Promise<boolean> {
  const expected = readMigrationFiles({ migrationsFolder }).length
  try {
    const [row] = await rows<{ applied: number }>(
      database.db,
      sql`select count(*)::int as applied from drizzle.__drizzle_migrations`,
    )
    return (row?.applied ?? 0) >= expected
  } catch {
    return false
  }
}
