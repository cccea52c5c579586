// A learner's choices (frequency per category, muted courses, unsubscribe
// from everything), the suppression list, and what the send-time check reads.

import { and, eq, inArray, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import {
  courseMutes,
  preferences,
  recipients,
  suppressions,
  type Frequency,
  type SuppressionReason,
} from '../db/schema/index.ts'
import { LEARNER_CATEGORIES, NON_BUDGET_CATEGORIES, type LearnerCategory } from './categories.ts'

export interface PreferenceView {
  recipient: { id: string; email: string; name: string | null; locale: string | null; unsubscribedAt: Date | null }
  frequencies: Record<LearnerCategory, Frequency>
  /** Courses this learner has had mail about, newest first, and whether each is muted. */
  courses: { id: string; title: string; muted: boolean }[]
}

export async function getPreferenceView(db: Executor, recipientId: string): Promise<PreferenceView | undefined> {
  const [recipient] = await db
    .select({
      id: recipients.id,
      email: recipients.email,
      name: recipients.name,
      locale: recipients.locale,
      unsubscribedAt: recipients.unsubscribedAt,
    })
    .from(recipients)
    .where(eq(recipients.id, recipientId))
  if (!recipient) return undefined
  const chosen = await db.select().from(preferences).where(eq(preferences.recipientId, recipientId))
  const frequencies = Object.fromEntries(
    LEARNER_CATEGORIES.map((category) => [category, chosen.find((p) => p.category === category)?.frequency ?? 'immediately']),
  ) as Record<LearnerCategory, Frequency>
  const courses = await rows<{ id: string; title: string | null; muted: boolean }>(
    db,
    sql`
      select c.course_id as id, c.title, exists (
               select 1 from course_mutes cm where cm.recipient_id = ${recipientId} and cm.course_id = c.course_id
             ) as muted
      from (
        select distinct on (course_id) course_id, variables->'course'->>'title' as title, created_at
        from messages
        where recipient_id = ${recipientId} and course_id is not null
        order by course_id, created_at desc
      ) c
      order by c.created_at desc
      limit 100`,
  )
  return { recipient, frequencies, courses: courses.map((c) => ({ ...c, title: c.title ?? c.id })) }
}

export async function setFrequency(db: Executor, recipientId: string, category: string, frequency: Frequency): Promise<void> {
  await db
    .insert(preferences)
    .values({ recipientId, category, frequency })
    .onConflictDoUpdate({
      target: [preferences.recipientId, preferences.category],
      set: { frequency, updatedAt: sql`now()` },
    })
}

export async function setCourseMuted(db: Executor, recipientId: string, courseId: string, muted: boolean): Promise<void> {
  if (muted) await db.insert(courseMutes).values({ recipientId, courseId }).onConflictDoNothing()
  else await db.delete(courseMutes).where(and(eq(courseMutes.recipientId, recipientId), eq(courseMutes.courseId, courseId)))
}

export async function setUnsubscribedAll(db: Executor, recipientId: string, unsubscribed: boolean): Promise<void> {
  await db
    .update(recipients)
    .set({ unsubscribedAt: unsubscribed ? sql`coalesce(${recipients.unsubscribedAt}, now())` : null })
    .where(eq(recipients.id, recipientId))
}

/** One-click from a digest: every category the learner gets as a digest is switched off. */
export async function turnOffDigestedCategories(db: Executor, recipientId: string): Promise<void> {
  await db
    .update(preferences)
    .set({ frequency: 'off', updatedAt: sql`now()` })
    .where(and(eq(preferences.recipientId, recipientId), inArray(preferences.frequency, ['daily', 'weekly'])))
}

export async function recipientExists(db: Executor, recipientId: string): Promise<boolean> {
  const [row] = await db.select({ id: recipients.id }).from(recipients).where(eq(recipients.id, recipientId))
  return row !== undefined
}

export async function addSuppression(db: Executor, email: string, reason: SuppressionReason, detail?: string): Promise<void> {
  await db
    .insert(suppressions)
    .values({ email: email.toLowerCase(), reason, detail: detail ?? null })
    .onConflictDoNothing()
}

/** Replaces the plain suppression entry of an address by its erased-address key, keeping the reason. */
export async function keepOptOut(
  db: Executor,
  email: string,
  erasedKey: string,
  fallback: { reason: 'manual'; detail: string } | null,
): Promise<boolean> {
  const [plain] = await db.delete(suppressions).where(eq(suppressions.email, email.toLowerCase())).returning()
  const entry = plain ? { reason: plain.reason, detail: `kept after erasure (${plain.reason})` } : fallback
  if (!entry) return false
  await db.insert(suppressions).values({ email: erasedKey, reason: entry.reason, detail: entry.detail }).onConflictDoNothing()
  return true
}

export async function liftSuppression(db: Executor, email: string): Promise<void> {
  await db.delete(suppressions).where(eq(suppressions.email, email.toLowerCase()))
}

/** What the send-time check needs about one message, read for a whole claimed batch at once. */
export interface GateFacts {
  frequency: Frequency
  courseMuted: boolean
  unsubscribed: boolean
  suppressed: boolean
  timeZone: string | null
  /**
   * Non-essential course mail this recipient got for this course in the
   * last 24 hours, plus what is being sent right now and was queued before
   * this message: the budget's count, ordered so concurrent batches agree.
   */
  budgetUsed: number
}

export interface GateSubject {
  id: string
  recipientId: string | null
  toAddress: string
  category: string
  courseId: string | null
}

/**
 * One round trip per claimed batch, erased addresses' opt-outs included
 * (the HMAC is computed here: PGlite has no pgcrypto). Each subquery is an
 * index lookup (preferences and course_mutes by primary key, suppressions by email,
 * messages_budget_idx for the count).
 */
export async function loadGateFacts(
  db: Executor,
  batch: readonly GateSubject[],
  /** An erased person's address as the suppression list keeps it (erased.ts); without it only plain entries count. */
  erasedKeyOf?: (address: string) => string,
): Promise<Map<string, GateFacts>> {
  if (batch.length === 0) return new Map()
  // One jsonb parameter carries the batch: its ids and, per address, the erased-address key to look for.
  const input = batch.map((m) => ({ id: m.id, erased_key: erasedKeyOf?.(m.toAddress) ?? null }))
  const found = await rows<{
    id: string
    frequency: Frequency | null
    muted: boolean
    unsubscribed: boolean
    suppressed: boolean
    time_zone: string | null
    budget_used: number
  }>(
    db,
    sql`
      select m.id,
             p.frequency,
             (m.course_id is not null and exists (
               select 1 from course_mutes cm where cm.recipient_id = m.recipient_id and cm.course_id = m.course_id
             )) as muted,
             (r.unsubscribed_at is not null) as unsubscribed,
             exists (select 1 from suppressions s where s.email in (lower(m.to_address), x.erased_key)) as suppressed,
             r.timezone as time_zone,
             case when m.course_id is null or m.recipient_id is null then 0 else (
               select count(*)::int from messages o
               where o.recipient_id = m.recipient_id and o.course_id = m.course_id and o.id <> m.id
                 and o.category not in (${sql.join(
                   NON_BUDGET_CATEGORIES.map((c) => sql`${c}`),
                   sql`, `,
                 )})
                 and ((o.state = 'sent' and o.sent_at > now() - interval '24 hours')
                   or (o.state = 'sending' and (o.created_at, o.id) < (m.created_at, m.id)))
             ) end as budget_used
      from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as x(id uuid, erased_key text)
      join messages m on m.id = x.id
      left join recipients r on r.id = m.recipient_id
      left join preferences p on p.recipient_id = m.recipient_id and p.category = m.category`,
  )
  return new Map(
    found.map((row) => [
      row.id,
      {
        frequency: row.frequency ?? 'immediately',
        courseMuted: row.muted,
        unsubscribed: row.unsubscribed,
        suppressed: row.suppressed,
        timeZone: row.time_zone,
        budgetUsed: row.budget_used,
      },
    ]),
  )
}
