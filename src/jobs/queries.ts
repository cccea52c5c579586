// The statements the scheduled jobs run. Each comment says what it locks.
//
// Digests: a message the send-time gate folded waits as state `digested`,
// `digest_id` null, `run_at` = when its digest is due (messages_digest_wait_idx
// covers exactly those rows). Building a digest attaches every due item of
// one recipient to one new outbox row, in one transaction.

import { inArray, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { deliveryAttempts, events, messages, type Frequency } from '../db/schema/index.ts'

/** Advisory lock keys of the jobs: fixed, the same in every process ("bel" + job number). */
export const DIGEST_JOB_LOCK = 0x62656c01
export const HEALTH_JOB_LOCK = 0x62656c03
export const HOUSEKEEPING_JOB_LOCK = 0x62656c04
export const EXPERIMENTS_JOB_LOCK = 0x62656c05

/** First key of the two-key transaction locks that serialise digest building per recipient. */
const DIGEST_RECIPIENT_LOCK_SPACE = 0x62656c02

/** Ids per `in (...)` list: far below Postgres's 65,535 bind parameters. */
const ID_CHUNK = 1000

/**
 * Recipients with at least one digest item due at `now`, in id order after
 * `after` (keyset paging, so a recipient skipped in this run is not read
 * again and again). Reads the partial index messages_digest_wait_idx. No locks.
 * Items whose recipient was erased (recipient_id null) are never sent.
 */
export async function findRecipientsWithDueDigest(db: Executor, now: Date, after: string | null, limit: number): Promise<string[]> {
  const found = await rows<{ recipient_id: string }>(
    db,
    sql`
      select distinct recipient_id from ${messages}
      where state = 'digested' and digest_id is null and run_at <= ${now.toISOString()}::timestamptz
        and recipient_id is not null ${after ? sql`and recipient_id > ${after}::uuid` : sql``}
      order by recipient_id
      limit ${limit}`,
  )
  return found.map((row) => row.recipient_id)
}

/**
 * Claims the right to build this recipient's digest until the transaction
 * ends: pg_try_advisory_xact_lock, so a second run (another process whose
 * job lock was lost, or a direct call) skips the recipient at once instead
 * of waiting, and never builds a second digest from items split between two
 * runs. An advisory lock, not a row lock on `recipients`: ingest upserts that
 * row and must never wait for a digest, nor make one skip.
 */
export async function tryLockRecipientDigest(tx: Executor, recipientId: string): Promise<boolean> {
  const [row] = await rows<{ locked: boolean }>(
    tx,
    sql`select pg_try_advisory_xact_lock(${DIGEST_RECIPIENT_LOCK_SPACE}::int, hashtext(${recipientId})) as locked`,
  )
  return row?.locked === true
}

export interface DueDigestItem {
  id: string
  notification: string
  category: string
  courseId: string | null
  locale: string
  createdAt: Date
  /** Why it was folded: `preference` or `budget`. */
  reason: string | null
  /** The learner's frequency for its category now (`immediately` when they have not chosen). */
  frequency: Frequency
  /** Set when a choice made since the item was folded says it must not go out at all. */
  dropReason: 'preference' | 'course_muted' | null
}

/**
 * The recipient's items due at `now`, oldest first, each locked FOR UPDATE
 * SKIP LOCKED until the transaction ends: an item another transaction holds
 * (an erasure under way) is left for a later run rather than waited for.
 * The preference and mute are read now, not when the item was folded, so a
 * change made overnight is honoured. Returns no variables: a flood of items
 * is attached whole, but only the listed ones are read in full.
 */
export async function lockDueDigestItems(tx: Executor, recipientId: string, now: Date): Promise<DueDigestItem[]> {
  const found = await rows<{
    id: string
    notification: string
    category: string
    course_id: string | null
    locale: string
    created_at: string | Date
    reason: string | null
    frequency: Frequency | null
    muted: boolean
  }>(
    tx,
    sql`
      select m.id, m.notification, m.category, m.course_id, m.locale, m.created_at, m.reason,
             (select p.frequency from preferences p where p.recipient_id = m.recipient_id and p.category = m.category) as frequency,
             (m.course_id is not null and exists (
               select 1 from course_mutes cm where cm.recipient_id = m.recipient_id and cm.course_id = m.course_id
             )) as muted
      from ${messages} m
      where m.recipient_id = ${recipientId} and m.state = 'digested' and m.digest_id is null
        and m.run_at <= ${now.toISOString()}::timestamptz
      order by m.created_at, m.id
      for update of m skip locked`,
  )
  return found.map((row) => ({
    id: row.id,
    notification: row.notification,
    category: row.category,
    courseId: row.course_id,
    locale: row.locale,
    createdAt: new Date(row.created_at),
    reason: row.reason,
    frequency: row.frequency ?? 'immediately',
    dropReason: row.frequency === 'off' ? 'preference' : row.muted ? 'course_muted' : null,
  }))
}

/** The template variables of some items (already locked by lockDueDigestItems). No new locks. */
export async function loadItemVariables(tx: Executor, ids: readonly string[]): Promise<Map<string, Record<string, unknown>>> {
  const result = new Map<string, Record<string, unknown>>()
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    const found = await tx
      .select({ id: messages.id, variables: messages.variables })
      .from(messages)
      .where(inArray(messages.id, ids.slice(i, i + ID_CHUNK)))
    for (const row of found) {
      // postgres.js hands jsonb back parsed; keep one shape whatever the driver.
      result.set(row.id, (typeof row.variables === 'string' ? JSON.parse(row.variables) : row.variables) as Record<string, unknown>)
    }
  }
  return result
}

export interface DigestRecipient {
  lmsUserId: string
  email: string
  name: string | null
  locale: string | null
  timezone: string | null
}

/** Who the digest goes to, as they are now (address, name, locale and zone may have changed since the items). No locks. */
export async function findDigestRecipient(tx: Executor, recipientId: string): Promise<DigestRecipient | undefined> {
  const [row] = await rows<{ lms_user_id: string; email: string; name: string | null; locale: string | null; timezone: string | null }>(
    tx,
    sql`select lms_user_id, email, name, locale, timezone from recipients where id = ${recipientId}`,
  )
  return row ? { lmsUserId: row.lms_user_id, email: row.email, name: row.name, locale: row.locale, timezone: row.timezone } : undefined
}

/** Settles items a later choice ruled out: skipped, with the reason. Rows already locked by lockDueDigestItems. */
export async function skipDigestItems(tx: Executor, ids: readonly string[], reason: string): Promise<void> {
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    await tx
      .update(messages)
      .set({ state: 'skipped', reason, updatedAt: sql`now()` })
      .where(inArray(messages.id, ids.slice(i, i + ID_CHUNK)))
  }
}

/** Points items at the digest that carries them; they stay `digested`. Rows already locked by lockDueDigestItems. */
export async function attachToDigest(tx: Executor, ids: readonly string[], digestId: string): Promise<void> {
  for (let i = 0; i < ids.length; i += ID_CHUNK) {
    await tx
      .update(messages)
      .set({ digestId, updatedAt: sql`now()` })
      .where(inArray(messages.id, ids.slice(i, i + ID_CHUNK)))
  }
}

// Health: what Belfry's own alerts look at. Admin alerts are left out of
// every count, so an alert that cannot be delivered never raises another.

export interface HealthFacts {
  /** Learner and system mail that went dead in the last five minutes. */
  deadLast5m: number
  /** The longest-waiting due message (not an admin alert): when it fell due, and how many are waiting. */
  oldestDueSince: Date | null
  waiting: number
  /** Per transport whose attempts have all failed since its last success (within the last hour). */
  failing: { transport: string; since: Date; lastFailure: Date; failures: number; lastError: string | null }[]
}

const NOT_AN_ALERT = sql`notification not like 'admin\_%'`

/** Three reads on indexes (state/created_at, messages_due_idx, attempts by finished_at). No locks. */
export async function loadHealthFacts(db: Executor): Promise<HealthFacts> {
  const [counts] = await rows<{ dead: number; oldest: string | Date | null; waiting: number }>(
    db,
    sql`select
          (select count(*)::int from ${messages}
           where state = 'dead' and updated_at > now() - interval '5 minutes' and ${NOT_AN_ALERT}) as dead,
          (select min(run_at) from ${messages}
           where state in ('queued', 'retrying') and run_at <= now() and ${NOT_AN_ALERT}) as oldest,
          (select count(*)::int from ${messages}
           where state in ('queued', 'retrying') and run_at <= now() and ${NOT_AN_ALERT}) as waiting`,
  )
  const failing = await rows<{ transport: string; since: string | Date; last: string | Date; failures: number; last_error: string | null }>(
    db,
    sql`with recent as (
          select transport, outcome, finished_at, response from ${deliveryAttempts}
          where finished_at > now() - interval '1 hour'
        ), last_ok as (
          select transport, max(finished_at) as at from recent where outcome = 'sent' group by transport
        )
        select r.transport, min(r.finished_at) as since, max(r.finished_at) as last, count(*)::int as failures,
               (array_agg(r.response order by r.finished_at desc))[1] as last_error
        from recent r left join last_ok o on o.transport = r.transport
        where r.outcome = 'transient' and (o.at is null or r.finished_at > o.at)
        group by r.transport`,
  )
  return {
    deadLast5m: counts?.dead ?? 0,
    oldestDueSince: counts?.oldest ? new Date(counts.oldest) : null,
    waiting: counts?.waiting ?? 0,
    failing: failing.map((f) => ({
      transport: f.transport,
      since: new Date(f.since),
      lastFailure: new Date(f.last),
      failures: f.failures,
      lastError: f.last_error,
    })),
  }
}

// Housekeeping: each statement deletes one small batch, in its own
// transaction, so no run holds many row locks or one long transaction.

/** Terminal messages (with their attempts, by cascade) last touched before `cutoff`. Dead letters wait for an admin. */
export async function deleteOldMessages(db: Executor, cutoff: Date, batch: number): Promise<number> {
  const deleted = await rows<{ id: string }>(
    db,
    sql`delete from ${messages} where id in (
          select id from ${messages}
          where updated_at < ${cutoff.toISOString()}::timestamptz
            and (state in ('sent', 'cancelled', 'skipped') or (state = 'digested' and digest_id is not null))
          limit ${batch})
        returning id`,
  )
  return deleted.length
}

/** Attempts of messages that are kept (dead letters, long-lived reminders) but are themselves old. */
export async function deleteOldAttempts(db: Executor, cutoff: Date, batch: number): Promise<number> {
  const deleted = await rows<{ id: number }>(
    db,
    sql`delete from ${deliveryAttempts} where id in (
          select id from ${deliveryAttempts} where finished_at < ${cutoff.toISOString()}::timestamptz
          order by finished_at limit ${batch})
        returning id`,
  )
  return deleted.length
}

/** Stored webhooks; a message that outlives its event keeps everything it needs in its own variables. */
export async function deleteOldEvents(db: Executor, cutoff: Date, batch: number): Promise<number> {
  const deleted = await rows<{ id: string }>(
    db,
    sql`delete from ${events} where id in (
          select id from ${events} where received_at < ${cutoff.toISOString()}::timestamptz limit ${batch})
        returning id`,
  )
  return deleted.length
}
