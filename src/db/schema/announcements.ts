import { sql } from 'drizzle-orm'
import { index, integer, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core'
import { recipients } from './recipients.ts'

export const announcementStates = ['draft', 'scheduled', 'sending', 'paused', 'done', 'cancelled'] as const
export type AnnouncementState = (typeof announcementStates)[number]

/** Who an announcement goes to; resolved from what the LMS told Belfry (see src/announcements/segments.ts). */
export type Segment =
  | { kind: 'everyone' }
  | { kind: 'courses'; courseIds: string[] }
  | { kind: 'locale'; locale: string }
  | { kind: 'admins' }

/**
 * An admin-written broadcast to a segment. Sending expands the segment into
 * outbox rows in batches, each its own transaction that also moves
 * `cursor` (the last recipient id expanded, in id order) — so a pause, a
 * crash or a restart resumes exactly after the last committed batch.
 */
export const announcements = pgTable(
  'announcements',
  {
    id: uuid().primaryKey().defaultRandom(),
    subject: text().notNull(),
    /** A/B test: variant `b`'s subject; null for none. */
    subjectB: text(),
    preheader: text(),
    /** The email card's MJML, composed into the shared layout like a template file. */
    mjml: text().notNull(),
    text: text().notNull(),
    segment: jsonb().$type<Segment>().notNull(),
    state: text().$type<AnnouncementState>().notNull().default('draft'),
    /** Bumped by every edit: compiled bodies are cached per (id, version). */
    version: integer().notNull().default(1),
    sendAt: timestamp({ withTimezone: true }),
    /** The admin's IANA zone when they chose the send time, to show it back to them. */
    timeZone: text().notNull().default('UTC'),
    /** Last recipient (or admin) id expanded; null before the first batch. */
    cursor: uuid(),
    expanded: integer().notNull().default(0),
    batches: integer().notNull().default(0),
    /** The segment's size when sending started. */
    total: integer(),
    createdBy: text(),
    createdAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp({ withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp({ withTimezone: true }),
    /** When the last batch was expanded (or the send was cancelled). */
    finishedAt: timestamp({ withTimezone: true }),
  },
  (table) => [
    // The job's tick reads only announcements with work to do.
    index('announcements_active_idx')
      .on(table.sendAt)
      .where(sql`${table.state} in ('scheduled', 'sending')`),
    index().on(table.createdAt),
  ],
)

/**
 * Which learners are in which course, as the LMS's events said (enrollment,
 * completion, submissions, deadlines). Copied out of the stored events so a
 * course segment still finds learners after RETENTION_DAYS deletes the events.
 */
export const courseEnrollments = pgTable(
  'course_enrollments',
  {
    recipientId: uuid()
      .notNull()
      .references(() => recipients.id, { onDelete: 'cascade' }),
    courseId: text().notNull(),
    /** The newest event that showed it: the copy's watermark. */
    seenAt: timestamp({ withTimezone: true }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.courseId, table.recipientId] }), index().on(table.recipientId), index().on(table.seenAt)],
)

export type Announcement = typeof announcements.$inferSelect
export type NewAnnouncement = typeof announcements.$inferInsert
