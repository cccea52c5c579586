// Key/value settings in the database: what an admin changes at run time,
// and secrets generated on first start.

import { eq, inArray, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { settings } from '../db/schema/index.ts'

export async function getSetting<T>(db: Executor, key: string): Promise<T | undefined> {
  const [row] = await db.select({ value: settings.value }).from(settings).where(eq(settings.key, key))
  return row?.value as T | undefined
}

export async function getSettings(db: Executor, keys: string[]): Promise<Map<string, unknown>> {
  const found = await db.select().from(settings).where(inArray(settings.key, keys))
  return new Map(found.map((row) => [row.key, row.value]))
}

export async function putSetting(db: Executor, key: string, value: unknown): Promise<void> {
  await db
    .insert(settings)
    .values({ key, value })
    .onConflictDoUpdate({ target: settings.key, set: { value, updatedAt: sql`now()` } })
}

/**
 * Stores `value` unless the key already has one, and returns whichever won.
 * Two processes starting at once agree on one generated secret this way.
 */
export async function ensureSetting<T>(db: Executor, key: string, value: T): Promise<T> {
  await db.insert(settings).values({ key, value }).onConflictDoNothing()
  return (await getSetting<T>(db, key)) as T
}
