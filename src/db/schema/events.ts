import { integer, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

/**
 * Every accepted webhook, kept so a replayed `webhook-id` gets the first
 * answer again (same body) or a 409 (other body).
 */
export const events = pgTable('events', {
  id: uuid().primaryKey().defaultRandom(),
  webhookId: text().notNull().unique(),
  type: text().notNull(),
  /** SHA-256 of the raw body, hex: how a replay is told from a conflicting reuse of the id. */
  bodySha256: text().notNull(),
  data: jsonb().notNull(),
  occurredAt: timestamp({ withTimezone: true }),
  receivedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  messageCount: integer().notNull(),
})

export type Event = typeof events.$inferSelect
export type NewEvent = typeof events.$inferInsert
