// Is a reminder still worth sending? Asked just before it goes out, because
// the world moves between scheduling and sending: the work gets handed in,
// the deadline moves or is cancelled, or the moment passes while the mail
// server was down. Pure; the facts come from queries.ts.

import type { ReminderExclusionReason } from '../db/schema/index.ts'

/** Why a reminder ended `cancelled` instead of being sent: the closed set its `reason` holds. */
export type StaleReason = ReminderExclusionReason | 'rescheduled' | 'removed' | 'too_late'

export interface ReminderFacts {
  /** What the LMS last said about the deadline or session; absent for rows older than this check. */
  subject?: { at: Date; cancelledAt: Date | null }
  /** Why this learner no longer needs reminders about it, if they don't. */
  exclusion?: ReminderExclusionReason
}

/** The time a reminder is about: its deadline's `due_at` or its session's `starts_at`. */
export function remindedTime(variables: Record<string, unknown>): Date | undefined {
  const item = variables.item as { due_at?: string } | undefined
  const session = variables.session as { starts_at?: string } | undefined
  const at = item?.due_at ?? session?.starts_at
  const date = at ? new Date(at) : undefined
  return date && !Number.isNaN(date.getTime()) ? date : undefined
}

export function staleReason(variables: Record<string, unknown>, facts: ReminderFacts, now: Date): StaleReason | null {
  if (facts.subject?.cancelledAt) return 'cancelled'
  if (facts.exclusion) return facts.exclusion
  const at = remindedTime(variables)
  // Written for a date the LMS has since changed: the reminder for the new date is its own row.
  if (at && facts.subject && facts.subject.at.getTime() !== at.getTime()) return 'rescheduled'
  // Held past the moment by retries or an outage: "due 3 hours ago" helps nobody.
  if (at && at.getTime() <= now.getTime()) return 'too_late'
  return null
}
