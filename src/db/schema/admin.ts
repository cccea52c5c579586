import { bigserial, boolean, index, integer, jsonb, pgTable, text, timestamp, unique, uuid } from 'drizzle-orm/pg-core'

/** People who run Belfry. Passwords are argon2id hashes (Bun.password). */
export const admins = pgTable('admins', {
  id: uuid().primaryKey().defaultRandom(),
  email: text().notNull().unique(),
  passwordHash: text().notNull(),
  createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  lastLoginAt: timestamp({ withTimezone: true }),
})

/**
 * Signed-in sessions. The cookie holds a random token; only its SHA-256 is
 * stored, so a copy of this table signs nobody in. Each has its own CSRF token.
 */
export const adminSessions = pgTable(
  'admin_sessions',
  {
    tokenHash: text().primaryKey(),
    adminId: uuid()
      .notNull()
      .references(() => admins.id, { onDelete: 'cascade' }),
    csrfToken: text().notNull(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    expiresAt: timestamp({ withTimezone: true }).notNull(),
  },
  (table) => [index().on(table.adminId), index().on(table.expiresAt)],
)

/** Failed logins, per key (address and client), for the rate limit; old rows are swept. */
export const loginFailures = pgTable(
  'login_failures',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    key: text().notNull(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index().on(table.key, table.at)],
)

/** Who did what in the admin UI, and when (retries, discards, template edits, settings). */
export const auditLog = pgTable(
  'audit_log',
  {
    id: bigserial({ mode: 'number' }).primaryKey(),
    adminId: uuid().references(() => admins.id, { onDelete: 'set null' }),
    adminEmail: text(),
    action: text().notNull(),
    target: text(),
    detail: jsonb().$type<Record<string, unknown>>(),
    at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index().on(table.at)],
)

/**
 * Admin edits of a template, stored over the file default. The newest
 * version of a (notification, locale) is the one in use; a rollback writes
 * a new version with an older one's content, so history only grows.
 * `revertedToDefault` marks a version that hands the template back to its file.
 */
export const templateVersions = pgTable(
  'template_versions',
  {
    id: uuid().primaryKey().defaultRandom(),
    notification: text().notNull(),
    locale: text().notNull(),
    version: integer().notNull(),
    subject: text().notNull(),
    preheader: text(),
    /** The A/B test's front matter lines (`variants: a:50, b:50`, `subject.b: …`); null for none. */
    experiment: text(),
    mjml: text().notNull(),
    text: text().notNull(),
    revertedToDefault: boolean().notNull().default(false),
    note: text(),
    createdBy: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [unique().on(table.notification, table.locale, table.version)],
)

export type Admin = typeof admins.$inferSelect
export type TemplateVersion = typeof templateVersions.$inferSelect
