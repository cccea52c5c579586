// Every statement announcements run. Each comment says what it locks.
//
// Sending is a cursor over the segment in id order: a batch reads the next
// ANNOUNCE_BATCH members after `cursor`, inserts their outbox rows and moves
// the cursor, all in one transaction that holds the announcement's row lock.
// A batch therefore happens entirely or not at all, and two processes can
// never expand the same members: the second waits for the lock and then
// reads the moved cursor.

import { createHash } from 'node:crypto'
import { desc, eq, inArray, sql, type SQL } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { announcements, messages, type Announcement, type AnnouncementState, type NewAnnouncement, type Segment } from '../db/schema/index.ts'
import { messageOutcomes, outcomeCounts, type Outcomes } from '../analytics/queries.ts'
import { insertMessages, notifyWorkers, type NewOutboxRow } from '../outbox/queries.ts'

/** Advisory lock of the announcements job ("bel" + job number, like src/jobs/queries.ts). */
export const ANNOUNCEMENTS_JOB_LOCK = 0x62656c07

export const ANNOUNCEMENT_NOTIFICATION = 'announcement'
export const ANNOUNCEMENT_CATEGORY = 'announcements'

/** What the outbox rows of one announcement are found by (messages.subject_ref is indexed). */
export const subjectRefOf = (id: string) => `announcement:${id}`

/** Held rows of a paused announcement wait here until it resumes; far enough to never fall due. */
export const PAUSED_UNTIL = new Date('9999-01-01T00:00:00Z')

// ---- announcements ----

export async function insertAnnouncement(db: Executor, row: NewAnnouncement): Promise<Announcement> {
  const [created] = await db.insert(announcements).values(row).returning()
  return created!
}

export async function findAnnouncement(db: Executor, id: string): Promise<Announcement | undefined> {
  const [found] = await db.select().from(announcements).where(eq(announcements.id, id))
  return found
}

export async function listAnnouncements(db: Executor, limit = 100): Promise<Announcement[]> {
  return db.select().from(announcements).orderBy(desc(announcements.createdAt)).limit(limit)
}

/** Changes a draft or a scheduled one; false when it has started meanwhile. Row lock for the update. */
export async function updateUnsent(db: Executor, id: string, change: Partial<NewAnnouncement>): Promise<boolean> {
  const updated = await db
    .update(announcements)
    .set({ ...change, version: sql`${announcements.version} + 1`, updatedAt: sql`now()` })
    .where(sql`${announcements.id} = ${id} and ${announcements.state} in ('draft', 'scheduled')`)
    .returning({ id: announcements.id })
  return updated.length === 1
}

/**
 * Moves an announcement from one of `from` to `to`; false when it was in
 * none of them (another admin or the job got there first). Row lock: waits
 * for a batch being expanded to commit, so a pause lands between batches.
 */
export async function transition(
  db: Executor,
  id: string,
  from: readonly AnnouncementState[],
  to: AnnouncementState,
  extra: Partial<NewAnnouncement> = {},
): Promise<boolean> {
  const updated = await db
    .update(announcements)
    .set({ ...extra, state: to, updatedAt: sql`now()` })
    .where(sql`${announcements.id} = ${id} and ${announcements.state} in ${from}`)
    .returning({ id: announcements.id })
  return updated.length === 1
}

/** Scheduled announcements whose time has come, and those sending: what the job works on. Reads announcements_active_idx. */
export async function findActive(db: Executor, now: Date): Promise<Pick<Announcement, 'id' | 'state'>[]> {
  return rows<Pick<Announcement, 'id' | 'state'>>(
    db,
    sql`select id, state from ${announcements}
        where state = 'sending' or (state = 'scheduled' and send_at <= ${now.toISOString()}::timestamptz)
        order by send_at nulls first, created_at`,
  )
}

/** The state and version of each announcement named; for the send-time gate. No locks. */
export async function announcementStates(db: Executor, ids: readonly string[]): Promise<Map<string, Pick<Announcement, 'state' | 'version'>>> {
  if (ids.length === 0) return new Map()
  const found = await db
    .select({ id: announcements.id, state: announcements.state, version: announcements.version })
    .from(announcements)
    .where(inArray(announcements.id, [...ids]))
  return new Map(found.map((row) => [row.id, row]))
}

// ---- segments ----

/**
 * Copies "who is in which course" out of the stored events, from a little
 * before the newest copied one onwards (a transaction that committed late
 * is caught by the overlap; the upsert makes a second copy harmless). Reads
 * events by type; row locks on course_enrollments only.
 */
export async function syncEnrollments(db: Executor): Promise<number> {
  const copied = await rows<{ n: number }>(
    db,
    sql`with since as (
          select coalesce(max(seen_at) - interval '10 minutes', '-infinity'::timestamptz) as at from course_enrollments
        ), seen as (
          select e.data->'user'->>'id' as user_id, e.data->'course'->>'id' as course_id, e.received_at
          from events e, since
          where e.type in ('enrollment.created', 'course.completed', 'assignment.submitted') and e.received_at > since.at
          union all
          select u->>'id', e.data->'course'->>'id', e.received_at
          from events e cross join since cross join lateral jsonb_array_elements(
            case when jsonb_typeof(e.data->'users') = 'array' then e.data->'users' else '[]'::jsonb end) u
          where e.type in ('deadline.scheduled', 'session.scheduled') and e.received_at > since.at
        ), upserted as (
          insert into course_enrollments (recipient_id, course_id, seen_at)
          select r.id, s.course_id, max(s.received_at)
          from seen s join recipients r on r.lms_user_id = s.user_id
          where s.course_id is not null
          group by r.id, s.course_id
          on conflict (course_id, recipient_id) do update set seen_at = greatest(course_enrollments.seen_at, excluded.seen_at)
          returning 1
        )
        select count(*)::int as n from upserted`,
  )
  return copied[0]?.n ?? 0
}

/** The recipients a learner segment takes, as a condition on `r` (recipients). */
function learnerCondition(segment: Exclude<Segment, { kind: 'admins' }>, defaultLocale: string): SQL {
  switch (segment.kind) {
    case 'everyone':
      return sql`true`
    case 'courses':
      return sql`exists (select 1 from course_enrollments ce
                         where ce.recipient_id = r.id and ce.course_id in ${segment.courseIds.length ? segment.courseIds : ['']})`
    case 'locale': {
      // `fr` takes fr-CA too; a learner with no locale reads DEFAULT_LOCALE.
      const locale = sql`lower(coalesce(r.locale, ${defaultLocale}))`
      const wanted = segment.locale.toLowerCase()
      return sql`(${locale} = ${wanted} or ${locale} like ${`${wanted}-%`})`
    }
  }
}

export interface SegmentSize {
  members: number
  /** Of those, how many the outbox will skip as things stand: opted out of announcements or of everything, or suppressed. */
  optedOut: number
}

/** How many the segment holds now. Reads recipients (or admins); no locks. */
export async function segmentSize(db: Executor, segment: Segment, defaultLocale: string): Promise<SegmentSize> {
  if (segment.kind === 'admins') {
    const [row] = await rows<{ n: number }>(db, sql`select count(*)::int as n from admins`)
    return { members: row?.n ?? 0, optedOut: 0 }
  }
  const [row] = await rows<SegmentSize>(
    db,
    sql`select count(*)::int as members,
               count(*) filter (where r.unsubscribed_at is not null
                 or exists (select 1 from preferences p where p.recipient_id = r.id and p.category = ${ANNOUNCEMENT_CATEGORY} and p.frequency = 'off')
                 or exists (select 1 from suppressions s where s.email = lower(r.email)))::int as "optedOut"
        from recipients r
        where ${learnerCondition(segment, defaultLocale)}`,
  )
  return row ?? { members: 0, optedOut: 0 }
}

interface Member {
  id: string
  lms_user_id: string | null
  email: string
  name: string | null
  locale: string | null
  timezone: string | null
}

/** The next `limit` members after `cursor`, in id order (the primary key's index). No locks. */
async function nextMembers(db: Executor, segment: Segment, defaultLocale: string, cursor: string | null, limit: number): Promise<Member[]> {
  const after = cursor ? sql`and id > ${cursor}::uuid` : sql``
  if (segment.kind === 'admins') {
    return rows<Member>(
      db,
      sql`select id, null as lms_user_id, email, null as name, null as locale, null as timezone from admins
          where true ${after} order by id limit ${limit}`,
    )
  }
  return rows<Member>(
    db,
    sql`select id, lms_user_id, email, name, locale, timezone from recipients r
        where ${learnerCondition(segment, defaultLocale)} ${cursor ? sql`and r.id > ${cursor}::uuid` : sql``}
        order by r.id limit ${limit}`,
  )
}

/**
 * One id per (announcement, member), the same however often it is worked
 * out: a member expanded twice would collide on messages' primary key and
 * the batch would fail, never send twice.
 */
export function messageIdFor(announcementId: string, memberId: string): string {
  const hex = createHash('sha256').update(`${announcementId}:${memberId}`).digest('hex')
  // An RFC 9562 version 8 (custom) UUID.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-8${hex.slice(13, 16)}-${((parseInt(hex[16]!, 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`
}

export interface BatchResult {
  /** Rows inserted by this batch (0: nothing left, or the announcement is no longer sending). */
  inserted: number
  /** The batch's number within the announcement, from 1. */
  batch: number
  /** True when the segment is exhausted and the announcement is now `done`. */
  finished: boolean
}

export interface ExpandOptions {
  batchSize: number
  defaultLocale: string
  messageIdDomain: string
}

/**
 * Expands the next batch of one sending announcement, in the caller's
 * transaction: locks the announcement's row (FOR UPDATE, so a pause or a
 * second expander waits for this batch), inserts up to `batchSize` outbox
 * rows, and moves the cursor. Nothing happens unless it is `sending`.
 */
export async function expandBatch(tx: Executor, id: string, options: ExpandOptions): Promise<BatchResult> {
  const [current] = await rows<Pick<Announcement, 'state' | 'cursor' | 'segment' | 'version' | 'batches'>>(
    tx,
    sql`select state, cursor, segment, version, batches from ${announcements} where id = ${id} for update`,
  )
  if (!current || current.state !== 'sending') return { inserted: 0, batch: current?.batches ?? 0, finished: false }
  const segment = (typeof current.segment === 'string' ? JSON.parse(current.segment) : current.segment) as Segment
  const members = await nextMembers(tx, segment, options.defaultLocale, current.cursor, options.batchSize)
  if (members.length === 0) {
    await tx.execute(sql`update ${announcements} set state = 'done', finished_at = now(), updated_at = now() where id = ${id}`)
    return { inserted: 0, batch: current.batches, finished: true }
  }
  const batch = current.batches + 1
  const announcement = { id, version: current.version, batch }
  const outbox: NewOutboxRow[] = members.map((member) => {
    const messageId = messageIdFor(id, member.id)
    const learner = member.lms_user_id !== null
    return {
      id: messageId,
      messageIdHeader: `<${messageId}@${options.messageIdDomain}>`,
      notification: ANNOUNCEMENT_NOTIFICATION,
      category: ANNOUNCEMENT_CATEGORY,
      toAddress: member.email,
      toName: member.name,
      locale: member.locale ?? options.defaultLocale,
      recipientId: learner ? member.id : null,
      subjectRef: subjectRefOf(id),
      variables: {
        announcement,
        ...(learner
          ? { user: { id: member.lms_user_id, email: member.email, name: member.name, locale: member.locale, timezone: member.timezone } }
          : {}),
      },
    }
  })
  await insertMessages(tx, outbox)
  await tx.execute(sql`
    update ${announcements}
    set cursor = ${members.at(-1)!.id}::uuid, expanded = expanded + ${members.length}, batches = ${batch}, updated_at = now()
    where id = ${id}`)
  await notifyWorkers(tx)
  return { inserted: members.length, batch, finished: false }
}

// ---- pause, resume, cancel: the outbox rows already expanded ----

/** Holds an announcement's rows that have not gone out (row locks); ones being sent right now finish. */
export async function holdPending(tx: Executor, id: string): Promise<number> {
  const held = await tx
    .update(messages)
    .set({ state: 'scheduled', runAt: PAUSED_UNTIL, reason: 'paused', updatedAt: sql`now()` })
    .where(sql`${messages.subjectRef} = ${subjectRefOf(id)} and ${messages.state} in ('queued', 'retrying', 'scheduled')`)
    .returning({ id: messages.id })
  return held.length
}

/** Puts held rows back in the queue (row locks). */
export async function releaseHeld(tx: Executor, id: string): Promise<number> {
  const released = await tx
    .update(messages)
    .set({ state: 'queued', runAt: sql`now()`, reason: null, updatedAt: sql`now()` })
    .where(sql`${messages.subjectRef} = ${subjectRefOf(id)} and ${messages.state} = 'scheduled' and ${messages.reason} = 'paused'`)
    .returning({ id: messages.id })
  if (released.length > 0) await notifyWorkers(tx)
  return released.length
}

/** Cancels every row that has not gone out (row locks). */
export async function cancelPendingRows(tx: Executor, id: string): Promise<number> {
  const cancelled = await tx
    .update(messages)
    .set({ state: 'cancelled', reason: 'announcement_cancelled', updatedAt: sql`now()` })
    .where(sql`${messages.subjectRef} = ${subjectRefOf(id)} and ${messages.state} in ('queued', 'retrying', 'scheduled')`)
    .returning({ id: messages.id })
  return cancelled.length
}

// ---- progress and results ----

export interface Progress {
  /** Outbox rows written so far. */
  expanded: number
  /** Waiting to go out (queued, retrying, held, being sent). */
  queued: number
  sent: number
  /** Not sent on purpose: skipped (preference, suppression), folded into a digest, or cancelled. */
  skipped: number
  /** Dead letters. */
  failed: number
  /** Skips by reason, for the results. */
  reasons: Record<string, number>
  /** When the first row went out and the latest did: the send rate for the ETA. */
  firstSentAt: Date | null
  lastSentAt: Date | null
}

/** The announcement's outbox rows by state. Reads messages by subject_ref (indexed); no locks. */
export async function progressOf(db: Executor, id: string): Promise<Progress> {
  const found = await rows<{ state: string; reason: string | null; n: number; first: string | null; last: string | null }>(
    db,
    sql`select state, reason, count(*)::int as n, min(sent_at) as first, max(sent_at) as last
        from ${messages} where subject_ref = ${subjectRefOf(id)}
        group by state, reason`,
  )
  const progress: Progress = { expanded: 0, queued: 0, sent: 0, skipped: 0, failed: 0, reasons: {}, firstSentAt: null, lastSentAt: null }
  for (const row of found) {
    progress.expanded += row.n
    if (row.state === 'sent') {
      progress.sent += row.n
      progress.firstSentAt = row.first ? new Date(row.first) : null
      progress.lastSentAt = row.last ? new Date(row.last) : null
    } else if (row.state === 'dead') progress.failed += row.n
    else if (row.state === 'skipped' || row.state === 'digested' || row.state === 'cancelled') {
      progress.skipped += row.n
      const reason = `${row.state}: ${row.reason ?? 'unknown'}`
      progress.reasons[reason] = (progress.reasons[reason] ?? 0) + row.n
    } else progress.queued += row.n
  }
  return progress
}

export interface VariantOutcome extends Outcomes {
  /** The A/B variant; null without a test. */
  variant: string | null
  /** Sent and not bounced. */
  delivered: number
}

/** What became of the sent rows, per variant (analytics' outcome counts). Reads messages by subject_ref and their events. */
export async function resultsOf(db: Executor, id: string): Promise<VariantOutcome[]> {
  const found = await rows<Omit<VariantOutcome, 'delivered'>>(
    db,
    sql`select m.variant, ${outcomeCounts}
        from messages m ${messageOutcomes}
        where m.subject_ref = ${subjectRefOf(id)} and m.state = 'sent'
        group by m.variant
        order by m.variant nulls first`,
  )
  return found.map((row) => ({ ...row, delivered: row.sent - row.bounced }))
}

/**
 * How many of the announcement's rows wait to be sent, counted up to `cap`
 * (enough to decide whether to expand more). Reads messages by subject_ref; no locks.
 */
export async function backlogOf(db: Executor, id: string, cap: number): Promise<number> {
  const [row] = await rows<{ n: number }>(
    db,
    sql`select count(*)::int as n from (
          select 1 from ${messages}
          where subject_ref = ${subjectRefOf(id)} and state in ('queued', 'retrying', 'sending')
          limit ${cap}) waiting`,
  )
  return row?.n ?? 0
}
