// What the operations pages read: the dashboard's counters, charts and
// transport health, the message browser, one message with its event and
// attempts, and the dead letters. Reads only; no locks beyond a snapshot.
// The dead-letter actions themselves are outbox SQL (src/outbox/queries.ts).

import { sql, type SQL } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import type { Message, MessageState } from '../db/schema/index.ts'
import { deadLetterWhere, likeContains, type DeadLetterFilter } from '../outbox/queries.ts'

/** The states the dashboard counts. */
export const COUNTED_STATES = ['queued', 'sending', 'sent', 'retrying', 'dead', 'skipped'] as const satisfies readonly MessageState[]
export type CountedState = (typeof COUNTED_STATES)[number]

export interface StateCounts {
  state: CountedState
  lastHour: number
  lastDay: number
}

/**
 * Messages created in the last hour and 24 hours, by their state now. One
 * range scan of the (state, created_at) index per state.
 */
export async function countByState(db: Executor): Promise<StateCounts[]> {
  const found = await rows<{ state: CountedState; last_hour: number; last_day: number }>(
    db,
    sql`select state::text as state,
               (count(*) filter (where created_at > now() - interval '1 hour'))::int as last_hour,
               count(*)::int as last_day
        from messages
        where state in ('queued', 'sending', 'sent', 'retrying', 'dead', 'skipped')
          and created_at > now() - interval '24 hours'
        group by state`,
  )
  const byState = new Map(found.map((row) => [row.state, row]))
  return COUNTED_STATES.map((state) => ({
    state,
    lastHour: byState.get(state)?.last_hour ?? 0,
    lastDay: byState.get(state)?.last_day ?? 0,
  }))
}

export interface HourBucket {
  /** The start of the hour (UTC). */
  hour: Date
  sent: number
  failed: number
}

/**
 * Delivery attempts per hour over the last 24 hours: sent, and failed
 * (transient → retrying, permanent → dead). The 24 buckets always come
 * back, empty ones as zeros. delivery_attempts has no index on time yet:
 * this scans the table (kept to RETENTION_DAYS by housekeeping).
 */
export async function attemptsPerHour(db: Executor, now = new Date()): Promise<HourBucket[]> {
  const found = await rows<{ hour: string; sent: number; failed: number }>(
    db,
    sql`select to_char(date_trunc('hour', finished_at at time zone 'UTC'), 'YYYY-MM-DD"T"HH24:00:00"Z"') as hour,
               (count(*) filter (where outcome = 'sent'))::int as sent,
               (count(*) filter (where outcome in ('transient', 'permanent')))::int as failed
        from delivery_attempts
        where finished_at > date_trunc('hour', now()) - interval '23 hours'
        group by 1`,
  )
  const byHour = new Map(found.map((row) => [row.hour, row]))
  const top = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate(), now.getUTCHours())
  const buckets: HourBucket[] = []
  for (let i = 23; i >= 0; i--) {
    const hour = new Date(top - i * 3_600_000)
    const row = byHour.get(hour.toISOString().replace('.000Z', 'Z'))
    buckets.push({ hour, sent: row?.sent ?? 0, failed: row?.failed ?? 0 })
  }
  return buckets
}

/** When the longest-waiting due `queued` message became due; null when none is waiting. Uses messages_due_idx. */
export async function oldestQueuedSince(db: Executor): Promise<Date | null> {
  const [row] = await rows<{ since: string | Date | null }>(
    db,
    sql`select min(run_at) as since from messages where state = 'queued' and run_at <= now()`,
  )
  return row?.since ? new Date(row.since) : null
}

export interface TransportHealth {
  transport: string
  lastSentAt: Date | null
  failuresLast15m: number
}

/** For each transport seen in delivery_attempts (and `current`): its last success and recent failures. */
export async function transportHealth(db: Executor, current: string): Promise<TransportHealth[]> {
  const found = await rows<{ transport: string; last_sent_at: string | Date | null; failures: number }>(
    db,
    sql`select transport,
               max(finished_at) filter (where outcome = 'sent') as last_sent_at,
               (count(*) filter (where outcome in ('transient', 'permanent') and finished_at > now() - interval '15 minutes'))::int as failures
        from delivery_attempts
        group by transport`,
  )
  const health = found.map((row) => ({
    transport: row.transport,
    lastSentAt: row.last_sent_at ? new Date(row.last_sent_at) : null,
    failuresLast15m: row.failures,
  }))
  if (!health.some((h) => h.transport === current)) health.unshift({ transport: current, lastSentAt: null, failuresLast15m: 0 })
  return health.sort((a, b) => (a.transport === current ? -1 : b.transport === current ? 1 : a.transport.localeCompare(b.transport)))
}

export interface MessageFilter {
  state?: MessageState | undefined
  notification?: string | undefined
  email?: string | undefined
  courseId?: string | undefined
  from?: Date | undefined
  to?: Date | undefined
}

/** A message as the admin lists show it; the views take this type as their props. */
export type MessageListRow = Pick<
  Message,
  'id' | 'createdAt' | 'state' | 'notification' | 'toAddress' | 'courseId' | 'attempts' | 'subject' | 'lastError' | 'reason'
>

function messageWhere(filter: MessageFilter): SQL {
  const parts: SQL[] = [sql`true`]
  if (filter.state) parts.push(sql`state = ${filter.state}`)
  if (filter.notification) parts.push(sql`notification = ${filter.notification}`)
  if (filter.email) parts.push(sql`to_address ilike ${likeContains(filter.email)} escape '\\'`)
  if (filter.courseId) parts.push(sql`course_id = ${filter.courseId}`)
  if (filter.from) parts.push(sql`created_at >= ${filter.from.toISOString()}::timestamptz`)
  if (filter.to) parts.push(sql`created_at < ${filter.to.toISOString()}::timestamptz`)
  return sql.join(parts, sql` and `)
}

const LIST_COLUMNS = sql`id, created_at as "createdAt", state::text as state, notification, to_address as "toAddress",
  course_id as "courseId", attempts, subject, last_error as "lastError", reason`

function listRow(row: MessageListRow): MessageListRow {
  return { ...row, createdAt: new Date(row.createdAt) }
}

/**
 * One page of messages, newest first. Asks for one row more than the page
 * so the caller knows whether there is a next page. With a state, the
 * (state, created_at) index serves the order; offset paging is fine at
 * the depths an admin reads.
 */
export async function listMessages(
  db: Executor,
  filter: MessageFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: MessageListRow[]; more: boolean }> {
  const found = await rows<MessageListRow>(
    db,
    sql`select ${LIST_COLUMNS} from messages where ${messageWhere(filter)}
        order by created_at desc, id desc limit ${page.limit + 1} offset ${page.offset}`,
  )
  return { rows: found.slice(0, page.limit).map(listRow), more: found.length > page.limit }
}

/** Dead letters matching the filter, newest first, one page (and whether more exist), with how many match in all. */
export async function listDeadLetters(
  db: Executor,
  filter: DeadLetterFilter,
  page: { limit: number; offset: number },
): Promise<{ rows: MessageListRow[]; more: boolean; total: number }> {
  const [found, [count]] = await Promise.all([
    rows<MessageListRow>(
      db,
      sql`select ${LIST_COLUMNS} from messages where ${deadLetterWhere(filter)}
          order by created_at desc, id desc limit ${page.limit + 1} offset ${page.offset}`,
    ),
    rows<{ n: number }>(db, sql`select count(*)::int as n from messages where ${deadLetterWhere(filter)}`),
  ])
  return { rows: found.slice(0, page.limit).map(listRow), more: found.length > page.limit, total: count?.n ?? 0 }
}

/** The notification names that have messages, for the filter's choices. */
export async function knownNotifications(db: Executor): Promise<string[]> {
  const found = await rows<{ notification: string }>(db, sql`select distinct notification from messages order by 1`)
  return found.map((row) => row.notification)
}

export interface MessageDetail {
  id: string
  state: MessageState
  notification: string
  category: string
  toAddress: string
  toName: string | null
  locale: string
  variables: Record<string, unknown>
  courseId: string | null
  recipientId: string | null
  subjectRef: string | null
  runAt: Date
  attempts: number
  messageIdHeader: string
  subject: string | null
  lastError: string | null
  reason: string | null
  sentAt: Date | null
  createdAt: Date
  updatedAt: Date
  event: { id: string; type: string; webhookId: string; receivedAt: Date; data: unknown } | null
}

const asDate = (value: string | Date | null): Date | null => (value === null ? null : new Date(value))
const asJson = (value: unknown): unknown => (typeof value === 'string' ? JSON.parse(value) : value)

/** One message with the event that caused it. */
export async function findMessage(db: Executor, id: string): Promise<MessageDetail | undefined> {
  const [row] = await rows<Record<string, unknown>>(
    db,
    sql`select m.id, m.state::text as state, m.notification, m.category, m.to_address, m.to_name, m.locale, m.variables,
               m.course_id, m.recipient_id, m.subject_ref, m.run_at, m.attempts, m.message_id_header, m.subject,
               m.last_error, m.reason, m.sent_at, m.created_at, m.updated_at,
               e.id as event_id, e.type as event_type, e.webhook_id, e.received_at, e.data as event_data
        from messages m left join events e on e.id = m.event_id
        where m.id = ${id}::uuid`,
  )
  if (!row) return undefined
  const text = (key: string) => (row[key] as string | null) ?? null
  return {
    id: row.id as string,
    state: row.state as MessageState,
    notification: row.notification as string,
    category: row.category as string,
    toAddress: row.to_address as string,
    toName: text('to_name'),
    locale: row.locale as string,
    variables: (asJson(row.variables) ?? {}) as Record<string, unknown>,
    courseId: text('course_id'),
    recipientId: text('recipient_id'),
    subjectRef: text('subject_ref'),
    runAt: new Date(row.run_at as string),
    attempts: row.attempts as number,
    messageIdHeader: row.message_id_header as string,
    subject: text('subject'),
    lastError: text('last_error'),
    reason: text('reason'),
    sentAt: asDate(row.sent_at as string | null),
    createdAt: new Date(row.created_at as string),
    updatedAt: new Date(row.updated_at as string),
    event: row.event_id
      ? {
          id: row.event_id as string,
          type: row.event_type as string,
          webhookId: row.webhook_id as string,
          receivedAt: new Date(row.received_at as string),
          data: asJson(row.event_data),
        }
      : null,
  }
}

export interface AttemptRow {
  attempt: number
  transport: string
  outcome: string
  code: string | null
  response: string | null
  startedAt: Date
  finishedAt: Date
}

/** Every attempt at one message, in the order they happened (delivery_attempts' message_id index). */
export async function attemptsOf(db: Executor, messageId: string): Promise<AttemptRow[]> {
  const found = await rows<AttemptRow>(
    db,
    sql`select attempt, transport, outcome, code, response, started_at as "startedAt", finished_at as "finishedAt"
        from delivery_attempts where message_id = ${messageId}::uuid order by id`,
  )
  return found.map((row) => ({ ...row, startedAt: new Date(row.startedAt), finishedAt: new Date(row.finishedAt) }))
}
