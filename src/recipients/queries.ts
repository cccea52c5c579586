// Learners as the LMS describes them. Every event that carries a user
// upserts it; user.deleted erases it.

import { eq, inArray, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { recipients } from '../db/schema/index.ts'
import type { UserInput } from '../events/model.ts'

/**
 * Inserts or updates each user (last one wins when an event names a user
 * twice) and returns their recipient ids by LMS user id. A field the event
 * leaves out keeps its stored value; an email always comes with a user.
 */
export async function upsertRecipients(db: Executor, users: readonly UserInput[]): Promise<Map<string, string>> {
  const byId = new Map(users.map((user) => [String(user.id), user]))
  // Sorted, so two events upserting overlapping users lock rows in one order and cannot deadlock.
  const entries = [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  const ids = new Map<string, string>()
  for (let i = 0; i < entries.length; i += UPSERT_CHUNK) {
    for (const row of await upsertChunk(db, entries.slice(i, i + UPSERT_CHUNK))) ids.set(row.lmsUserId, row.id)
  }
  return ids
}

/** Users per statement: 5 parameters each, far below Postgres's 65,535 bind parameters. */
const UPSERT_CHUNK = 1000

function upsertChunk(db: Executor, entries: [string, UserInput][]) {
  return db
    .insert(recipients)
    .values(
      entries.map(([lmsUserId, user]) => ({
        lmsUserId,
        email: user.email,
        name: user.name ?? null,
        locale: user.locale ?? null,
        timezone: user.timezone ?? null,
      })),
    )
    .onConflictDoUpdate({
      target: recipients.lmsUserId,
      set: {
        email: sql`excluded.email`,
        name: sql`coalesce(excluded.name, ${recipients.name})`,
        locale: sql`coalesce(excluded.locale, ${recipients.locale})`,
        timezone: sql`coalesce(excluded.timezone, ${recipients.timezone})`,
        updatedAt: sql`now()`,
      },
    })
    .returning({ id: recipients.id, lmsUserId: recipients.lmsUserId })
}

export async function findRecipientId(db: Executor, lmsUserId: string): Promise<string | undefined> {
  return (await findRecipientIds(db, [lmsUserId])).get(lmsUserId)
}

/** Recipient ids by LMS user id, for the ones we know. */
export async function findRecipientIds(db: Executor, lmsUserIds: readonly string[]): Promise<Map<string, string>> {
  if (lmsUserIds.length === 0) return new Map()
  const found = await db
    .select({ id: recipients.id, lmsUserId: recipients.lmsUserId })
    .from(recipients)
    .where(inArray(recipients.lmsUserId, [...lmsUserIds]))
  return new Map(found.map((row) => [row.lmsUserId, row.id]))
}

export async function deleteRecipient(db: Executor, id: string): Promise<void> {
  await db.delete(recipients).where(eq(recipients.id, id))
}
