import { sql } from 'drizzle-orm'
import { boolean, index, integer, jsonb, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core'

/** What an admin configured for one LMS adapter (`canvas`, `moodle`, `openedx`). */
export const adapterSettings = pgTable('adapter_settings', {
  adapter: text().primaryKey(),
  enabled: boolean().notNull().default(false),
  /** The LMS's own address, for REST lookups (enrichment). */
  baseUrl: text(),
  /** Token for the LMS's REST API (Canvas access token, Moodle web service token). Never logged, shown masked. */
  apiToken: text(),
  /** Shared secret the LMS sends with each event (Moodle, Open edX, unsigned Canvas). Never logged, shown masked. */
  inboundToken: text(),
  /** Canvas only: where the keys that sign Live Events are published. */
  jwksUrl: text(),
  updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
})

/**
 * Every native event an adapter accepted, stored before it is mapped so that
 * nothing is lost while an enrichment lookup waits. `deliveryId` is derived
 * (event name, object id, event time): native events carry no delivery id of
 * their own, and a re-delivered one must land on the same row.
 */
export const nativeEvents = pgTable(
  'native_events',
  {
    id: uuid().primaryKey().defaultRandom(),
    adapter: text().notNull(),
    deliveryId: text().notNull(),
    eventName: text().notNull(),
    objectId: text(),
    eventTime: timestamp({ withTimezone: true }),
    payload: jsonb().notNull(),
    /** `received` → `mapped` | `ignored` | `enriching` (lookups pending or failing) → … → `dead`. */
    state: text().notNull().default('received'),
    /** Why it was ignored, why it waits, or why it died. */
    reason: text(),
    attempts: integer().notNull().default(0),
    nextAttemptAt: timestamp({ withTimezone: true }),
    /** The Belfry events it became: `[{type, event_id, messages}]`. */
    mapped: jsonb(),
    receivedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [
    uniqueIndex('native_events_delivery_idx').on(table.adapter, table.deliveryId),
    index('native_events_due_idx').on(table.nextAttemptAt).where(sql`state in ('received', 'enriching')`),
    index('native_events_received_idx').on(table.receivedAt),
  ],
)

export type NativeEvent = typeof nativeEvents.$inferSelect
export type AdapterSettingsRow = typeof adapterSettings.$inferSelect
