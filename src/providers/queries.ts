// Provider feedback in the database: the events-table row that makes each
// report count once, the message it is about, and its effects (suppression,
// opt-out, a message_events row).

import { eq, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { events, messageEvents, messages, type NewEvent } from '../db/schema/index.ts'
import { insertEvent } from '../events/queries.ts'
import { addSuppression, setUnsubscribedAll } from '../preferences/queries.ts'
import { messageRef, type Feedback } from './feedback.ts'


/** Claims `webhookId` for this report; false when another delivery of it got there first. */
export async function claimReport(db: Executor, row: Omit<NewEvent, 'messageCount'>): Promise<boolean> {
  return (await insertEvent(db, { ...row, messageCount: 0 })) !== undefined
}

/** Gives a claim back, so the sender's retry is processed (used when the work after the claim failed). */
export async function releaseReport(db: Executor, webhookId: string): Promise<void> {
  await db.delete(events).where(eq(events.webhookId, webhookId))
}

export async function findStoredReport(db: Executor, webhookId: string) {
  const [row] = await db
    .select({ bodySha256: events.bodySha256, data: events.data })
    .from(events)
    .where(eq(events.webhookId, webhookId))
  return row
}

/** The message a report is about, by the provider's id for it or by our own id / Message-ID. */
export async function findReportedMessage(
  db: Executor,
  providerMessageId: string | null,
  belfryRef: string | null,
): Promise<string | undefined> {
  if (providerMessageId) {
    const [row] = await db
      .select({ id: messages.id })
      .from(messages)
      .where(eq(messages.providerMessageId, providerMessageId))
      .limit(1)
    if (row) return row.id
  }
  const ref = belfryRef ? messageRef(belfryRef) : undefined
  if (!ref) return undefined
  const [row] = await db
    .select({ id: messages.id, header: messages.messageIdHeader })
    .from(messages)
    .where(eq(messages.id, ref.id))
  // A Message-ID whose domain is not the one we minted is someone else's message that happens to share the id.
  if (!row || (ref.header !== null && row.header.toLowerCase() !== ref.header.toLowerCase())) return undefined
  return row.id
}

/** Opts every recipient with this address (any case) out of all non-essential mail. */
export async function optOutAddress(db: Executor, email: string): Promise<number> {
  // lower(email) is not indexed; complaints are rare enough for the scan.
  const found = await rows<{ id: string }>(db, sql`select id from recipients where lower(email) = ${email.toLowerCase()}`)
  for (const { id } of found) await setUnsubscribedAll(db, id, true)
  return found.length
}

export interface Applied {
  suppressed: boolean
  recorded: boolean
  messageId: string | null
}

/** Suppressions and opt-outs apply to addresses whether or not the message is known; the record needs the message. */
export async function applyFeedback(db: Executor, feedback: Feedback, source: 'ses' | 'webhook'): Promise<Applied> {
  for (const entry of feedback.suppress) await addSuppression(db, entry.email, entry.reason, entry.detail ?? undefined)
  for (const email of feedback.optOut) await optOutAddress(db, email)
  const messageId = (await findReportedMessage(db, feedback.providerMessageId, feedback.belfryMessageRef)) ?? null
  if (messageId) {
    await db.insert(messageEvents).values({
      messageId,
      kind: feedback.kind,
      source,
      detail: feedback.detail,
      occurredAt: feedback.occurredAt,
    })
  }
  return { suppressed: feedback.suppress.length > 0, recorded: messageId !== null, messageId }
}

/** Tracking and provider reports keep user agents and URLs: personal data, dropped with the person. */
export async function eraseReportDetails(db: Executor, recipientId: string | null, lmsUserId: string): Promise<void> {
  await db.execute(sql`
    update ${messageEvents} set detail = null
    where message_id in (select id from ${messages}
                         where ${recipientId ? sql`recipient_id = ${recipientId} or ` : sql``}variables->'user'->>'id' = ${lmsUserId})`)
}
