// Every statement the management API runs. Reads take no locks; erasure
// runs in one transaction and takes row locks on what it rewrites.

import { and, desc, eq, inArray, isNull, or, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import {
  apiKeys,
  courseMutes,
  deliveryAttempts,
  messageEvents,
  messages,
  preferences,
  suppressions,
  type ApiKey,
} from '../db/schema/index.ts'

export async function insertApiKey(db: Executor, key: { name: string; keyHash: string; prefix: string; createdBy: string | null }): Promise<string> {
  const [row] = await db.insert(apiKeys).values(key).returning({ id: apiKeys.id })
  return row!.id
}

export async function listApiKeys(db: Executor): Promise<ApiKey[]> {
  return db.select().from(apiKeys).orderBy(desc(apiKeys.createdAt))
}

/** Revokes a key (idempotent); the row stays for the audit trail. Returns its name, or null when no such key. */
export async function revokeApiKey(db: Executor, id: string): Promise<string | null> {
  const [row] = await db
    .update(apiKeys)
    .set({ revokedAt: sql`coalesce(${apiKeys.revokedAt}, now())` })
    .where(eq(apiKeys.id, id))
    .returning({ name: apiKeys.name })
  return row?.name ?? null
}

/**
 * The active key with this hash, or null. Notes its use at most once a
 * minute, so a busy client costs one indexed read per request, not a write.
 */
export async function useApiKey(db: Executor, keyHash: string): Promise<{ id: string; name: string } | null> {
  const [row] = await db
    .select({ id: apiKeys.id, name: apiKeys.name, lastUsedAt: apiKeys.lastUsedAt })
    .from(apiKeys)
    .where(and(eq(apiKeys.keyHash, keyHash), isNull(apiKeys.revokedAt)))
  if (!row) return null
  if (!row.lastUsedAt || Date.now() - row.lastUsedAt.getTime() > 60_000) {
    await db.update(apiKeys).set({ lastUsedAt: sql`now()` }).where(eq(apiKeys.id, row.id))
  }
  return { id: row.id, name: row.name }
}

export async function findMessage(db: Executor, id: string) {
  const [message] = await db.select().from(messages).where(eq(messages.id, id))
  if (!message) return null
  const attempts = await db.select().from(deliveryAttempts).where(eq(deliveryAttempts.messageId, id)).orderBy(deliveryAttempts.attempt, deliveryAttempts.id)
  return { message, attempts }
}

export async function recipientChoices(db: Executor, recipientId: string, email: string) {
  const [chosen, muted, suppressed] = await Promise.all([
    db.select({ category: preferences.category, frequency: preferences.frequency, updatedAt: preferences.updatedAt }).from(preferences).where(eq(preferences.recipientId, recipientId)),
    db.select({ courseId: courseMutes.courseId, createdAt: courseMutes.createdAt }).from(courseMutes).where(eq(courseMutes.recipientId, recipientId)),
    db.select().from(suppressions).where(eq(suppressions.email, email.toLowerCase())),
  ])
  return { chosen, muted, suppressions: suppressed }
}

/** Messages to the person (by recipient row) or about them (their LMS id in the template data). */
function concerning(recipientId: string | null, lmsUserId: string) {
  return or(
    recipientId ? eq(messages.recipientId, recipientId) : undefined,
    sql`${messages.variables}->'user'->>'id' = ${lmsUserId}`,
  )
}

/** Everything held about one person (GDPR Art. 15/20), table by table. */
export async function exportPerson(db: Executor, recipientId: string | null, lmsUserId: string, email: string | null) {
  const held = await db.select().from(messages).where(concerning(recipientId, lmsUserId)).orderBy(messages.createdAt)
  const ids = held.map((m) => m.id)
  const [attempts, reports, events] = await Promise.all([
    ids.length ? db.select().from(deliveryAttempts).where(inArray(deliveryAttempts.messageId, ids)).orderBy(deliveryAttempts.id) : [],
    ids.length ? db.select().from(messageEvents).where(inArray(messageEvents.messageId, ids)).orderBy(messageEvents.id) : [],
    rows<{ id: string; webhook_id: string; type: string; data: unknown; occurred_at: Date | null; received_at: Date }>(
      db,
      sql`select id, webhook_id, type, data, occurred_at, received_at from events
          where data->'user'->>'id' = ${lmsUserId}
             or (jsonb_typeof(data->'users') = 'array' and exists (select 1 from jsonb_array_elements(data->'users') u where u->>'id' = ${lmsUserId}))
             or (jsonb_typeof(data->'recipients') = 'array' and exists (select 1 from jsonb_array_elements(data->'recipients') u where u->>'id' = ${lmsUserId}))
             or data->'post'->'author'->>'id' = ${lmsUserId}
          order by received_at`,
    ),
  ])
  const suppressed = email ? await db.select().from(suppressions).where(eq(suppressions.email, email.toLowerCase())) : []
  return { messages: held, attempts, reports, events, suppressions: suppressed }
}
