// An authenticated, parsed webhook body in; the event and its outbox rows
// stored in one transaction out, with the answer DESIGN.md's table gives.

import { createHash, randomUUID } from 'node:crypto'
import type { Db } from '../db/client.ts'
import type { NewMessage } from '../db/schema/index.ts'
import { AppError } from '../errors.ts'
import { eraseMessagesOf, foldOrInsert, insertMessages, notifyWorkers } from '../outbox/queries.ts'
import { deleteRecipient, findRecipientId, upsertRecipients } from '../recipients/queries.ts'
import { applyReminderChange } from '../reminders/queries.ts'
import { loadFanoutFlags } from '../settings/runtime.ts'
import { planEvent, SYSTEM_ERROR_FOLD_MS, type FanoutSettings } from './fanout.ts'
import { validateEvent } from './model.ts'
import { findEventByWebhookId, insertEvent, redactEventsAbout, setEventMessageCount } from './queries.ts'

export interface IngestDeps {
  db: Db
  /** The category of each notification, from its template. */
  categoryOf(notification: string): string
  /** Host part of every Message-ID we mint. */
  messageIdDomain: string
  fanout: Omit<FanoutSettings, 'adminEmails' | 'adminEnrollmentAlerts' | 'adminAlerts'>
  now?: () => Date
}

export interface IngestAnswer {
  status: 200 | 202
  body: { event_id: string; messages: number }
}

export function bodyHash(raw: Uint8Array): string {
  return createHash('sha256').update(raw).digest('hex')
}

/** The first answer again for a replay (same body), a conflict for a reused id with another body. */
function replay(existing: { id: string; bodySha256: string; messageCount: number }, sha: string): IngestAnswer {
  if (existing.bodySha256 !== sha) {
    throw new AppError('conflict', 'this webhook-id was already used for a different body')
  }
  return { status: 200, body: { event_id: existing.id, messages: existing.messageCount } }
}

class DuplicateDelivery extends Error {}

export async function ingestEvent(
  deps: IngestDeps,
  webhookId: string,
  raw: Uint8Array,
  parsed: unknown,
): Promise<IngestAnswer> {
  const sha = bodyHash(raw)
  const existing = await findEventByWebhookId(deps.db, webhookId)
  if (existing) return replay(existing, sha)

  const validation = validateEvent(parsed)
  if (!validation.ok) throw new AppError('invalid_event', validation.message, validation.details)
  const { event } = validation
  const now = deps.now?.() ?? new Date()

  try {
    return await deps.db.transaction(async (tx) => {
      const plan = planEvent(event, { ...deps.fanout, ...(await loadFanoutFlags(tx)) }, now)
      const eventId = await insertEvent(tx, {
        webhookId,
        type: event.type,
        bodySha256: sha,
        data: event.data,
        occurredAt: event.occurredAt,
        messageCount: plan.messages.length,
      })
      // Another request with this webhook-id committed first: undo ours and answer as a replay.
      if (!eventId) throw new DuplicateDelivery()

      const recipientIds = await upsertRecipients(tx, plan.upsert)
      if (plan.erase) {
        const id = (await findRecipientId(tx, plan.erase)) ?? null
        await eraseMessagesOf(tx, id, plan.erase)
        await redactEventsAbout(tx, plan.erase)
        if (id) await deleteRecipient(tx, id)
      }
      if (plan.reminder) await applyReminderChange(tx, plan.reminder)

      const rows: NewMessage[] = plan.messages.map((planned) => {
        const id = randomUUID()
        return {
          id,
          eventId,
          recipientId: planned.lmsUserId ? (recipientIds.get(planned.lmsUserId) ?? null) : null,
          notification: planned.notification,
          category: deps.categoryOf(planned.notification),
          toAddress: planned.toAddress,
          toName: planned.toName,
          locale: planned.locale,
          variables: planned.variables,
          courseId: planned.courseId ?? null,
          subjectRef: planned.subjectRef ?? null,
          foldKey: planned.foldKey ?? null,
          // Without a time the database's now() applies: the claim compares against the same clock.
          ...(planned.runAt && planned.runAt > now ? { state: 'scheduled' as const, runAt: planned.runAt } : { state: 'queued' as const }),
          messageIdHeader: `<${id}@${deps.messageIdDomain}>`,
        }
      })

      let count = 0
      const plain: NewMessage[] = []
      for (const row of rows) {
        if (row.foldKey) count += (await foldOrInsert(tx, { ...row, foldKey: row.foldKey }, SYSTEM_ERROR_FOLD_MS)) ? 1 : 0
        else plain.push(row)
      }
      await insertMessages(tx, plain)
      count += plain.length
      if (count !== plan.messages.length) await setEventMessageCount(tx, eventId, count)
      // Wake the workers only for mail due now; scheduled rows are found by the poll when their time comes.
      if (rows.some((row) => row.state === 'queued')) await notifyWorkers(tx)
      return { status: 202 as const, body: { event_id: eventId, messages: count } }
    })
  } catch (error) {
    if (!(error instanceof DuplicateDelivery)) throw error
    const winner = await findEventByWebhookId(deps.db, webhookId)
    if (!winner) throw error
    return replay(winner, sha)
  }
}
