// Recipients and suppressions as the admin UI reads them. Read-only apart
// from what preferences/queries.ts already does (add/lift a suppression).

import { and, count, desc, eq, ilike, or, sql } from 'drizzle-orm'
import type { Executor } from '../db/client.ts'
import { messages, recipients, suppressions, type MessageState, type Suppression } from '../db/schema/index.ts'

/** `%`, `_` and `\` typed by an admin are searched for literally, not as LIKE wildcards. */
function likePattern(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

export interface RecipientRow {
  id: string
  lmsUserId: string
  email: string
  name: string | null
  locale: string | null
  timezone: string | null
  unsubscribedAt: Date | null
  createdAt: Date
  suppressed: boolean
}

const recipientColumns = {
  id: recipients.id,
  lmsUserId: recipients.lmsUserId,
  email: recipients.email,
  name: recipients.name,
  locale: recipients.locale,
  timezone: recipients.timezone,
  unsubscribedAt: recipients.unsubscribedAt,
  createdAt: recipients.createdAt,
  suppressed: sql<boolean>`exists (select 1 from suppressions s where s.email = lower(${recipients.email}))`,
}

/**
 * Recipients whose email, name or LMS id contains `text` (any case), newest
 * first, one page plus the total. No lock. A substring search cannot use the
 * email index; at tens of thousands of recipients a sequential scan is a few
 * milliseconds, and an admin searches rarely.
 */
export async function searchRecipients(
  db: Executor,
  text: string,
  page: { limit: number; offset: number },
): Promise<{ rows: RecipientRow[]; total: number }> {
  const pattern = likePattern(text.trim())
  const where = text.trim()
    ? or(ilike(recipients.email, pattern), ilike(recipients.name, pattern), ilike(recipients.lmsUserId, pattern))
    : undefined
  const [found, [total]] = await Promise.all([
    db
      .select(recipientColumns)
      .from(recipients)
      .where(where)
      .orderBy(desc(recipients.createdAt), desc(recipients.id))
      .limit(page.limit)
      .offset(page.offset),
    db.select({ n: count() }).from(recipients).where(where),
  ])
  return { rows: found, total: total?.n ?? 0 }
}

export async function findRecipient(db: Executor, id: string): Promise<RecipientRow | undefined> {
  const [row] = await db.select(recipientColumns).from(recipients).where(eq(recipients.id, id))
  return row
}

export interface RecentMessage {
  id: string
  state: MessageState
  notification: string
  subject: string | null
  reason: string | null
  createdAt: Date
  sentAt: Date | null
}

/** A recipient's latest messages, newest first (messages_recipient_id index). */
export async function recentMessagesOf(db: Executor, recipientId: string, limit = 20): Promise<RecentMessage[]> {
  return db
    .select({
      id: messages.id,
      state: messages.state,
      notification: messages.notification,
      subject: messages.subject,
      reason: messages.reason,
      createdAt: messages.createdAt,
      sentAt: messages.sentAt,
    })
    .from(messages)
    .where(eq(messages.recipientId, recipientId))
    .orderBy(desc(messages.createdAt), desc(messages.id))
    .limit(limit)
}

export async function findSuppression(db: Executor, email: string): Promise<Suppression | undefined> {
  const [row] = await db.select().from(suppressions).where(eq(suppressions.email, email.toLowerCase()))
  return row
}

/** The suppression list, newest first, optionally narrowed to addresses containing `text`. No lock. */
export async function listSuppressions(
  db: Executor,
  text: string,
  page: { limit: number; offset: number },
): Promise<{ rows: Suppression[]; total: number }> {
  const where = text.trim() ? and(ilike(suppressions.email, likePattern(text.trim().toLowerCase()))) : undefined
  const [found, [total]] = await Promise.all([
    db
      .select()
      .from(suppressions)
      .where(where)
      .orderBy(desc(suppressions.createdAt), suppressions.email)
      .limit(page.limit)
      .offset(page.offset),
    db.select({ n: count() }).from(suppressions).where(where),
  ])
  return { rows: found, total: total?.n ?? 0 }
}
