// Learners as the LMS describes them. Every event that carries a user
// upserts it; user.deleted erases it.

import { eq, inArray, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
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

/** Users per statement: bounds one statement's locks and its jsonb parameter. */
const UPSERT_CHUNK = 1000

/** One statement whose text is the same for any number of users (a jsonb parameter): see outbox insertMessages. */
function upsertChunk(db: Executor, entries: [string, UserInput][]) {
  const input = entries.map(([lmsUserId, user]) => ({
    lms_user_id: lmsUserId,
    email: user.email,
    name: user.name ?? null,
    locale: user.locale ?? null,
    timezone: user.timezone ?? null,
  }))
  return rows<{ id: string; lmsUserId: string }>(
    db,
    sql`insert into ${recipients} (lms_user_id, email, name, locale, timezone)
        select lms_user_id, email, name, locale, timezone
        -- In the sorted order upsertRecipients gave: two batches lock shared rows alike and cannot deadlock.
        from rows from (jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
               as (lms_user_id text, email text, name text, locale text, timezone text))
             with ordinality as x(lms_user_id, email, name, locale, timezone, n)
        order by n
        on conflict (lms_user_id) do update
        set email = excluded.email,
            name = coalesce(excluded.name, ${recipients}.name),
            locale = coalesce(excluded.locale, ${recipients}.locale),
            timezone = coalesce(excluded.timezone, ${recipients}.timezone),
            updated_at = now()
        returning id, lms_user_id as "lmsUserId"`,
  )
}

export async function findRecipientId(db: Executor, lmsUserId: string): Promise<string | undefined> {
  return (await findRecipientIds(db, [lmsUserId])).get(lmsUserId)
}

/** Recipient ids by LMS user id, for the ones we know. */
/** The recipient the LMS knows as `lmsUserId`, or null. */
export async function findRecipient(db: Executor, lmsUserId: string) {
  const [recipient] = await db.select().from(recipients).where(eq(recipients.lmsUserId, lmsUserId))
  return recipient ?? null
}

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
