// Learners as the LMS describes them. Every event that carries a user
// upserts it; user.deleted erases it.

import { eq, inArray, sql, type SQL } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { recipients } from '../db/schema/index.ts'
import type { UserInput } from '../events/model.ts'

/**
 * Inserts or updates each user (last one wins when an event names a user
 * twice) and returns their recipient ids by LMS user id. A field the event
 * leaves out keeps its stored value; an email always comes with a user.
 */
export async function upsertRecipients(db: Executor, users: readonly UserInput[]): Promise<Map<string, string>> {
  const entries = upsertOrder(users)
  const ids = new Map<string, string>()
  for (let i = 0; i < entries.length; i += UPSERT_CHUNK) {
    const upserted = await rows<{ id: string; lms_user_id: string }>(db, upsertRecipientsSql(entries.slice(i, i + UPSERT_CHUNK)))
    for (const row of upserted) ids.set(row.lms_user_id, row.id)
  }
  return ids
}

/**
 * One entry per user (the last one wins when an event names a user twice:
 * one statement may not update a row twice), sorted by LMS user id, so two
 * events upserting overlapping users lock rows in one order and cannot deadlock.
 */
export function upsertOrder(users: readonly UserInput[]): [string, UserInput][] {
  const byId = new Map(users.map((user) => [String(user.id), user]))
  return [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
}

/** Users per statement: bounds one statement's locks and its jsonb parameter. */
const UPSERT_CHUNK = 1000

/**
 * The upsert of `entries` (sorted by LMS user id, one entry per user) as
 * one statement whose text is the same for any number of users (a jsonb
 * parameter: see outbox insertMessages). Returns `id, lms_user_id`; the
 * ingest batch's statement uses it as one of its parts.
 */
export function upsertRecipientsSql(entries: readonly [string, UserInput][]): SQL {
  const input = entries.map(([lmsUserId, user]) => ({
    lms_user_id: lmsUserId,
    email: user.email,
    name: user.name ?? null,
    locale: user.locale ?? null,
    timezone: user.timezone ?? null,
  }))
  return sql`insert into ${recipients} (lms_user_id, email, name, locale, timezone)
        select lms_user_id, email, name, locale, timezone
        -- In the sorted order the caller gave: two batches lock shared rows alike and cannot deadlock.
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
        returning id, lms_user_id`
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
