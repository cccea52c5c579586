import { index, pgEnum, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { recipients } from './recipients.ts'

export const frequencies = ['immediately', 'daily', 'weekly', 'off'] as const
export type Frequency = (typeof frequencies)[number]
export const frequency = pgEnum('frequency', frequencies)

/** A learner's choice for one category; no row means `immediately`. */
export const preferences = pgTable(
  'preferences',
  {
    recipientId: uuid()
      .notNull()
      .references(() => recipients.id, { onDelete: 'cascade' }),
    category: text().notNull(),
    frequency: frequency().notNull(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.recipientId, table.category] })],
)

/** A course a learner silenced: no non-essential mail about it, whatever the category. */
export const courseMutes = pgTable(
  'course_mutes',
  {
    recipientId: uuid()
      .notNull()
      .references(() => recipients.id, { onDelete: 'cascade' }),
    courseId: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [primaryKey({ columns: [table.recipientId, table.courseId] })],
)

export const suppressionReasons = ['hard_bounce', 'complaint', 'manual'] as const
export type SuppressionReason = (typeof suppressionReasons)[number]
export const suppressionReason = pgEnum('suppression_reason', suppressionReasons)

/** Addresses that get nothing at all, not even essential mail, until an admin lifts the entry. */
export const suppressions = pgTable(
  'suppressions',
  {
    /** Lower-cased, so one address cannot slip through in another case. */
    email: text().primaryKey(),
    reason: suppressionReason().notNull(),
    detail: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index().on(table.createdAt)],
)

export type Preference = typeof preferences.$inferSelect
export type Suppression = typeof suppressions.$inferSelect
