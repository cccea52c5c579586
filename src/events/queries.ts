// The events table: every accepted webhook, looked up by its webhook-id for replays.

import { eq, inArray, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { events, type NewEvent } from '../db/schema/index.ts'
import { insertMessagesSql, OUTBOX_CHANNEL, type BatchOutboxRow } from '../outbox/queries.ts'
import { upsertRecipientsSql } from '../recipients/queries.ts'
import type { UserInput } from './model.ts'

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

/** An event of an ingest batch: its id is made here, so its outbox rows can name it before it is stored. */
export type BatchEvent = NewEvent & { id: string }

/**
 * Stores an ingest batch in one statement, which is its own transaction:
 * the events whose webhook-id is free, every user upserted (in the order
 * upsertOrder gives), and the outbox rows of the events that were stored;
 * wakes the workers if any of those rows is due now. Returns the ids of the
 * stored events: one missing had its webhook-id taken by a concurrent
 * request, and its rows were not written.
 *
 * Why one statement: the same work as a transaction of six (begin, insert
 * events, upsert recipients, insert rows, notify, commit) cost the process
 * 49 µs of CPU per event in batches of 25 and 142 µs in batches of 5; one
 * statement costs 27 and 87 µs (IngestBatcher in-process on Postgres), and
 * ingest at 50 connections went from ~5,000 to ~7,000 events/s.
 */
export async function storeEventBatch(
  db: Executor,
  batch: { events: readonly BatchEvent[]; users: readonly [string, UserInput][]; messages: readonly BatchOutboxRow[] },
): Promise<Set<string>> {
  const input = batch.events.map((row) => ({
    id: row.id,
    webhook_id: row.webhookId,
    type: row.type,
    body_sha256: row.bodySha256,
    data: row.data,
    occurred_at: row.occurredAt?.toISOString() ?? null,
    message_count: row.messageCount,
  }))
  const stored = await rows<{ id: string }>(
    db,
    sql`with stored_events as (
          insert into ${events} (id, webhook_id, type, body_sha256, data, occurred_at, message_count)
          select id, webhook_id, type, body_sha256, data, occurred_at, message_count
          from jsonb_to_recordset(${JSON.stringify(input)}::jsonb)
            as x(id uuid, webhook_id text, type text, body_sha256 text, data jsonb, occurred_at timestamptz, message_count int)
          -- One order for every batch: two batches holding the same ids wait for each other instead of deadlocking.
          order by webhook_id
          on conflict (webhook_id) do nothing
          returning id
        ),
        stored_recipients as (${upsertRecipientsSql(batch.users)}),
        stored_messages as (${insertMessagesSql(batch.messages, { events: sql`stored_events`, recipients: sql`stored_recipients` })})
        select id,
          -- Evaluated once; NOTIFY is sent when the statement commits.
          (select count(*) from (select pg_notify(${OUTBOX_CHANNEL}, '') from stored_messages where state = 'queued' limit 1) woke) as woke
        from stored_events`,
  )
  return new Set(stored.map((row) => row.id))
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
