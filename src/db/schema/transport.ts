import { bigint, integer, pgTable, primaryKey, text } from 'drizzle-orm/pg-core'

/**
 * Sends granted per transport per time window, shared by every process so
 * that SES_MAX_PER_SECOND and SMTP_MAX_PER_SECOND hold for all of them
 * together. Processes take tokens in chunks, not one per message. Old
 * windows are worthless after they pass; housekeeping deletes them.
 */
export const sendRateWindows = pgTable(
  'send_rate_windows',
  {
    transport: text().notNull(),
    /** Start of the window, in milliseconds since the epoch. */
    windowStart: bigint({ mode: 'number' }).notNull(),
    granted: integer().notNull(),
  },
  (table) => [primaryKey({ columns: [table.transport, table.windowStart] })],
)
