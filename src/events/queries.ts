// The events table: every accepted webhook, looked up by its webhook-id for replays.

import { eq, inArray, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
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

/** The stored events among these webhook-ids, by webhook-id: one lookup for a whole batch of requests. */
export async function findEventsByWebhookIds(db: Executor, webhookIds: readonly string[]): Promise<Map<string, StoredEvent>> {
  if (webhookIds.length === 0) return new Map()
  const found = await db
    .select({ webhookId: events.webhookId, id: events.id, bodySha256: events.bodySha256, messageCount: events.messageCount })
    .from(events)
    .where(inArray(events.webhookId, [...webhookIds]))
  return new Map(found.map(({ webhookId, ...stored }) => [webhookId, stored]))
}

/**
 * Inserts the events whose webhook-id is free, in one statement (one jsonb
 * parameter, the same text for any count: see insertMessages); returns the
 * new ids by webhook-id — a taken one is missing.
 */
export async function insertEvents(db: Executor, batch: readonly NewEvent[]): Promise<Map<string, string>> {
  if (batch.length === 0) return new Map()
  const input = batch.map((row) => ({
    webhook_id: row.webhookId,
    type: row.type,
    body_sha256: row.bodySha256,
    data: row.data,
    occurred_at: row.occurredAt?.toISOString() ?? null,
    message_count: row.messageCount,
  }))
  const inserted = await rows<{ id: string; webhook_id: string }>(
    db,
    sql`insert into ${events} (webhook_id, type, body_sha256, data, occurred_at, message_count)
        select webhook_id, type, body_sha256, data, occurred_at, message_count
        from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
          as x(webhook_id text, type text, body_sha256 text, data jsonb, occurred_at timestamptz, message_count int)
        on conflict (webhook_id) do nothing
        returning id, webhook_id`,
  )
  return new Map(inserted.map((row) => [row.webhook_id, row.id]))
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
