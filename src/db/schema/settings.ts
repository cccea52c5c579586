import { jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'

/** Runtime settings an admin can change, and secrets generated on first start. */
export const settings = pgTable('settings', {
  key: text().primaryKey(),
  value: jsonb().notNull(),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
})
