import { pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { recipients } from './recipients.ts'

/**
 * What the LMS last said about a deadline or a session (`deadline:<item>`,
 * `session:<id>`): when it is, and whether it was cancelled. A reminder is
 * checked against this just before it is sent, so one written for an older
 * date, or for something since cancelled, never goes out.
 */
export const reminderSubjects = pgTable('reminder_subjects', {
  subjectRef: text().primaryKey(),
  /** The deadline's `due_at` or the session's `starts_at`. */
  at: timestamp({ withTimezone: true }).notNull(),
  cancelledAt: timestamp({ withTimezone: true }),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
})

export const reminderExclusionReasons = ['submitted', 'cancelled'] as const
export type ReminderExclusionReason = (typeof reminderExclusionReasons)[number]

/**
 * A learner who no longer needs reminders about one subject: they handed
 * the work in, or the deadline was cancelled for them alone. A submission
 * outlives a later reschedule (the work is in); a per-learner cancellation
 * ends when a reschedule names the learner again.
 */
export const reminderExclusions = pgTable(
  'reminder_exclusions',
  {
    subjectRef: text().notNull(),
    recipientId: uuid()
      .notNull()
      .references(() => recipients.id, { onDelete: 'cascade' }),
    reason: text().$type<ReminderExclusionReason>().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.subjectRef, table.recipientId] })],
)
