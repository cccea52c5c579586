import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

/** A learner known from LMS events, keyed by the LMS's own user id. */
export const recipients = pgTable(
  'recipients',
  {
    id: uuid().primaryKey().defaultRandom(),
    lmsUserId: text().notNull().unique(),
    email: text().notNull(),
    name: text(),
    locale: text(),
    timezone: text(),
    /** Set when the learner unsubscribed from everything non-essential; only they can undo it. */
    unsubscribedAt: timestamp({ withTimezone: true }),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index().on(table.email)],
)

export type Recipient = typeof recipients.$inferSelect
export type NewRecipient = typeof recipients.$inferInsert
