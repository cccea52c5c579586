// The reminder bookkeeping an event writes in its ingest transaction, and
// the facts the send-time check reads for a claimed batch.

import { and, eq, inArray, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { reminderExclusions, reminderSubjects } from '../db/schema/index.ts'
import { cancelPending } from '../outbox/queries.ts'
import { findRecipientIds } from '../recipients/queries.ts'
import type { ReminderFacts } from './currency.ts'

/** What one event changes about a deadline's or a session's reminders. */
export type ReminderChange =
  /** (Re)scheduled for `at`, for exactly these learners. */
  | { kind: 'scheduled'; subjectRef: string; at: Date; lmsUserIds: string[] }
  /** Cancelled for everyone, or only for the learners named. */
  | { kind: 'cancelled'; subjectRef: string; lmsUserIds?: string[] }
  /** One learner handed the work in. */
  | { kind: 'submitted'; subjectRef: string; lmsUserId: string }

/**
 * Records the change and cancels the pending reminders it makes wrong, each
 * with the reason an admin will read. The new reminders themselves are
 * ordinary outbox rows written by the caller. Row locks only.
 */
export async function applyReminderChange(db: Executor, change: ReminderChange): Promise<void> {
  const { subjectRef } = change
  switch (change.kind) {
    case 'scheduled': {
      const ids = [...(await findRecipientIds(db, change.lmsUserIds)).values()]
      await db
        .insert(reminderSubjects)
        .values({ subjectRef, at: change.at })
        .onConflictDoUpdate({ target: reminderSubjects.subjectRef, set: { at: change.at, cancelledAt: null, updatedAt: sql`now()` } })
      // Named again: a learner cancelled alone is back in; one who handed the work in stays out.
      if (ids.length > 0) {
        await db
          .delete(reminderExclusions)
          .where(
            and(
              eq(reminderExclusions.subjectRef, subjectRef),
              eq(reminderExclusions.reason, 'cancelled'),
              inArray(reminderExclusions.recipientId, ids),
            ),
          )
      }
      await cancelPending(db, subjectRef, 'rescheduled', { only: ids })
      await cancelPending(db, subjectRef, 'removed', { except: ids })
      return
    }
    case 'cancelled': {
      if (!change.lmsUserIds) {
        await db
          .update(reminderSubjects)
          .set({ cancelledAt: sql`now()`, updatedAt: sql`now()` })
          .where(eq(reminderSubjects.subjectRef, subjectRef))
        await cancelPending(db, subjectRef, 'cancelled')
        return
      }
      await exclude(db, subjectRef, change.lmsUserIds, 'cancelled')
      return
    }
    case 'submitted':
      await exclude(db, subjectRef, [change.lmsUserId], 'submitted')
      return
  }
}

async function exclude(db: Executor, subjectRef: string, lmsUserIds: string[], reason: 'submitted' | 'cancelled') {
  const ids = [...(await findRecipientIds(db, lmsUserIds)).values()]
  if (ids.length === 0) return
  const values = ids.map((recipientId) => ({ subjectRef, recipientId, reason }))
  // A submission is the stronger fact: it replaces a cancellation, never the other way round.
  await (reason === 'submitted'
    ? db.insert(reminderExclusions).values(values).onConflictDoUpdate({
        target: [reminderExclusions.subjectRef, reminderExclusions.recipientId],
        set: { reason },
      })
    : db.insert(reminderExclusions).values(values).onConflictDoNothing())
  await cancelPending(db, subjectRef, reason, { only: ids })
}

/** The facts for every reminder in a claimed batch, in two queries; keyed by message id. */
export async function loadReminderFacts(
  db: Executor,
  batch: readonly { id: string; subjectRef: string | null; recipientId: string | null }[],
): Promise<Map<string, ReminderFacts>> {
  const reminders = batch.filter((m): m is typeof m & { subjectRef: string } => m.subjectRef !== null)
  if (reminders.length === 0) return new Map()
  const refs = [...new Set(reminders.map((m) => m.subjectRef))]
  const recipientIds = [...new Set(reminders.flatMap((m) => (m.recipientId ? [m.recipientId] : [])))]
  const subjects = await db
    .select({ subjectRef: reminderSubjects.subjectRef, at: reminderSubjects.at, cancelledAt: reminderSubjects.cancelledAt })
    .from(reminderSubjects)
    .where(inArray(reminderSubjects.subjectRef, refs))
  const exclusions =
    recipientIds.length === 0
      ? []
      : await db
          .select()
          .from(reminderExclusions)
          .where(and(inArray(reminderExclusions.subjectRef, refs), inArray(reminderExclusions.recipientId, recipientIds)))
  const subjectOf = new Map(subjects.map((s) => [s.subjectRef, { at: s.at, cancelledAt: s.cancelledAt }]))
  const exclusionOf = new Map(exclusions.map((e) => [`${e.subjectRef}\n${e.recipientId}`, e.reason]))
  return new Map(
    reminders.map((m) => {
      const subject = subjectOf.get(m.subjectRef)
      const exclusion = m.recipientId ? exclusionOf.get(`${m.subjectRef}\n${m.recipientId}`) : undefined
      return [m.id, { ...(subject ? { subject } : {}), ...(exclusion ? { exclusion } : {}) }]
    }),
  )
}
