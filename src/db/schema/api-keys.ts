import { index, pgTable, text, timestamp, uuid } from 'drizzle-orm/pg-core'

/**
 * Keys for the management API. Only the SHA-256 of a key is stored: a key is
 * 32 random bytes, so a plain hash is as good as a slow one and costs nothing
 * per request. `prefix` is the key's first characters, shown to admins so
 * they can tell keys apart without the key.
 */
export const apiKeys = pgTable(
  'api_keys',
  {
    id: uuid().primaryKey().defaultRandom(),
    name: text().notNull(),
    keyHash: text().notNull().unique(),
    prefix: text().notNull(),
    createdBy: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    lastUsedAt: timestamp({ withTimezone: true }),
    revokedAt: timestamp({ withTimezone: true }),
  },
  (table) => [index().on(table.createdAt)],
)

export type ApiKey = typeof apiKeys.$inferSelect
