import { bigserial, index, jsonb, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { messages } from './messages.ts'

/**
 * What providers and readers tell us about a message after it left:
 * delivered, bounced, complained, delayed, rejected, opened, clicked. One
 * row per report; `detail` keeps the provider's own words (bounce type and
 * diagnostic, user agent) for the admin.
 */
export const messageEvents = pgTable(
  'message_events',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    messageId: uuid()
      .notNull()
      .references(() => messages.id, { onDelete: 'cascade' }),
    /** `delivery`, `bounce`, `complaint`, `delivery_delay`, `reject`, `open`, `click`, … */
    kind: text().notNull(),
    /** Who reported it: `ses`, `smtp`, `webhook` (the generic bounce endpoint), `tracking`. */
    source: text().notNull(),
    detail: jsonb().$type<Record<string, unknown>>(),
    occurredAt: timestamp({ withTimezone: true }).notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index().on(table.messageId), index().on(table.kind, table.occurredAt)],
)

export type MessageEvent = typeof messageEvents.$inferSelect
export type NewMessageEvent = typeof messageEvents.$inferInsert
