// The tracking module's SQL: the message a hit is about, and the
// message_events rows it writes (kind `open` / `click`, source `tracking`).

import { and, eq, gt, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { messageEvents, messages, type Message } from '../db/schema/index.ts'
import { CLICK_BURST_MS } from './machines.ts'

export interface TrackedMessage extends Pick<Message, 'id' | 'notification' | 'category'> {
  /** Milliseconds since it was sent, by the database's clock (null: not recorded as sent yet). */
  sinceSentMs: number | null
}

export async function findTrackedMessage(db: Executor, id: string): Promise<TrackedMessage | undefined> {
  const [row] = await db
    .select({
      id: messages.id,
      notification: messages.notification,
      category: messages.category,
      sinceSentMs: sql<string | number | null>`(extract(epoch from now() - ${messages.sentAt}) * 1000)::float8`,
    })
    .from(messages)
    .where(eq(messages.id, id))
  return row ? { ...row, sinceSentMs: row.sinceSentMs === null ? null : Number(row.sinceSentMs) } : undefined
}

export interface HitDetail extends Record<string, unknown> {
  machine: boolean
  why?: string
  user_agent: string
  url?: string
}

/**
 * Tracking rows kept per message. A person opens and clicks an email a few
 * times; anyone holding one of its links can request it without end, and
 * each request would be a row. Past this, hits still redirect and still get
 * the pixel, but are not stored: the results already say the email was read.
 */
export const MAX_HITS_PER_MESSAGE = 100

/** Stores a hit unless the message already has MAX_HITS_PER_MESSAGE; false when it was not stored. */
export async function recordHit(db: Executor, messageId: string, kind: 'open' | 'click', detail: HitDetail): Promise<boolean> {
  // now(): the same clock findTrackedMessage measured the time since sending with.
  const inserted = await rows<{ id: number }>(
    db,
    sql`insert into ${messageEvents} (message_id, kind, source, detail, occurred_at)
        select ${messageId}::uuid, ${kind}, 'tracking', ${JSON.stringify(detail)}::jsonb, now()
        where (select count(*) from ${messageEvents} where message_id = ${messageId}::uuid and source = 'tracking') < ${MAX_HITS_PER_MESSAGE}
        returning id`,
  )
  return inserted.length > 0
}

/**
 * When clicks on different links of one message fall within CLICK_BURST_MS,
 * a scanner is following every link: all of them, the earlier ones included,
 * are marked as machine clicks. Returns how many were marked.
 */
export async function flagClickBurst(db: Executor, messageId: string): Promise<number> {
  const since = sql`now() - ${CLICK_BURST_MS} * interval '1 millisecond'`
  const recent = and(
    eq(messageEvents.messageId, messageId),
    eq(messageEvents.kind, 'click'),
    eq(messageEvents.source, 'tracking'),
    gt(messageEvents.occurredAt, since),
  )
  const flagged = await rows<{ id: number }>(
    db,
    sql`
      update ${messageEvents}
      set detail = ${messageEvents.detail} || '{"machine": true, "why": "click_burst"}'::jsonb
      where ${recent}
        and coalesce((${messageEvents.detail} ->> 'machine')::boolean, false) = false
        and (select count(distinct e.detail ->> 'url') from ${messageEvents} e
             where e.message_id = ${messageId} and e.kind = 'click' and e.source = 'tracking' and e.occurred_at > ${since}) >= 2
      returning ${messageEvents.id}
    `,
  )
  return flagged.length
}
