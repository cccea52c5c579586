// The events table: every accepted webhook, looked up by its webhook-id for replays.

import { eq, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { events, type NewEvent } from '../db/schema/index.ts'

export interface StoredEvent {
  id: string
  bodySha256: string
  messageCount: number
}

export async function findEventByWebhookId(db: Executor, webhookId: string): Promise<StoredEvent | undefined> {
  const [row] = await db
    .select({ id: events.id, bodySha256: events.bodySha256, messageCount: events.messageCount })
    .from(events)
    .where(eq(events.webhookId, webhookId))
  return row
}

/** Inserts the event unless its webhook-id is taken (a concurrent duplicate); returns the new id or undefined. */
export async function insertEvent(db: Executor, event: NewEvent): Promise<string | undefined> {
  const [row] = await db.insert(events).values(event).onConflictDoNothing({ target: events.webhookId }).returning({ id: events.id })
  return row?.id
}

export async function setEventMessageCount(db: Executor, id: string, messageCount: number): Promise<void> {
  await db.update(events).set({ messageCount }).where(eq(events.id, id))
}

/**
 * Erasure (user.deleted): stored payloads lose the person. An event about
 * them alone keeps only its type; in events that list several users
 * (reminders, discussion recipients) their entry is removed from the list.
 * Scans the events table; user.deleted is rare.
 */
export async function redactEventsAbout(db: Executor, lmsUserId: string): Promise<void> {
  await db.execute(sql`
    update ${events} set data = '{"erased": true}'::jsonb
    where data->'user'->>'id' = ${lmsUserId}`)
  for (const list of ['users', 'recipients']) {
    await db.execute(sql`
      update ${events}
      set data = jsonb_set(data, ${`{${list}}`}::text[],
        (select coalesce(jsonb_agg(u), '[]'::jsonb) from jsonb_array_elements(data->${list}) u where u->>'id' <> ${lmsUserId}))
      where jsonb_typeof(data->${list}) = 'array'
        and exists (select 1 from jsonb_array_elements(data->${list}) u where u->>'id' = ${lmsUserId})`)
  }
}
