// An authenticated, parsed webhook body in; the event and its outbox rows
// stored in one transaction out, with the answer DESIGN.md's table gives.

import { createHash, randomUUID } from 'node:crypto'
import type { Db } from '../db/client.ts'
import { AppError } from '../errors.ts'
import { foldOrInsert, insertMessages, notifyWorkers, type BatchOutboxRow, type NewOutboxRow } from '../outbox/queries.ts'
import { eraseRecipient } from '../recipients/erase.ts'
import { upsertOrder, upsertRecipients } from '../recipients/queries.ts'
import { applyReminderChange } from '../reminders/queries.ts'
import { loadFanoutFlags, type FanoutFlags } from '../settings/runtime.ts'
import { planEvent, SYSTEM_ERROR_FOLD_MS, type FanoutSettings, type Plan } from './fanout.ts'
import { validateEvent, type IncomingEvent } from './model.ts'
import {
  findEventByWebhookId,
  findEventsByWebhookIds,
  insertEvent,
  setEventMessageCount,
  storeEventBatch,
  type BatchEvent,
} from './queries.ts'

export interface IngestDeps {
  db: Db
  /** The category of each notification, from its template. */
  categoryOf(notification: string): string
  /** Host part of every Message-ID we mint. */
  messageIdDomain: string
  /** APP_SECRET: keys the HMAC an erased person's opt-out is kept as (user.deleted). */
  addressSecret: string
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

/**
 * The plan's outbox rows, each with its own id and the Message-ID it keeps
 * across retries. Without `recipientIds` (the batch statement) a row names
 * its recipient by LMS user id and the statement finds the id.
 */
function outboxRows(deps: IngestDeps, plan: Plan, eventId: string, now: Date, recipientIds?: Map<string, string>): BatchOutboxRow[] {
  return plan.messages.map((planned) => {
    const id = randomUUID()
    return {
      id,
      eventId,
      recipientId: planned.lmsUserId ? (recipientIds?.get(planned.lmsUserId) ?? null) : null,
      recipientLmsUserId: planned.lmsUserId ?? null,
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
      if (plan.erase) await eraseRecipient(tx, plan.erase, deps.addressSecret)
      if (plan.reminder) await applyReminderChange(tx, plan.reminder)

      const rows = outboxRows(deps, plan, eventId, now, recipientIds)
      let count = 0
      const plain: NewOutboxRow[] = []
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

/** A request waiting for its batch. */
interface Submitted {
  webhookId: string
  raw: Uint8Array
  parsed: unknown
  resolve(answer: IngestAnswer): void
  reject(error: unknown): void
}

/** A submitted event that is new and valid, with what the batch will store for it. */
interface Fresh extends Submitted {
  event: IncomingEvent
  sha: string
}

/**
 * Group commit for webhook requests. Requests that arrive while a batch is
 * being written wait and are written together in the next one: one lookup
 * of their webhook-ids beside one read of the fan-out settings, then one
 * statement that inserts every event, upserts every recipient and inserts
 * every outbox row (storeEventBatch).
 * At a trickle a batch is one request and waits for nothing; under load the
 * batches grow by themselves. Each request still gets its own answer, only
 * after its batch has committed.
 *
 * Events whose plan does more than insert — erasure, reminder changes,
 * folding system errors — or that name more than BATCH_USERS_PER_EVENT
 * users take the one-event path (ingestEvent), as does every event of a
 * batch whose statement failed, so one bad event fails alone.
 *
 * Why: the one-event path costs about nine round trips per request; at 50
 * concurrent connections it accepted ~680 events/s where a bare endpoint
 * inserting one row per request accepts ~10,000/s on the same machine.
 */
export class IngestBatcher {
  private queue: Submitted[] = []
  private running: Promise<void> | null = null

  constructor(
    private readonly deps: IngestDeps,
    private readonly maxBatch = 200,
  ) {}

  submit(webhookId: string, raw: Uint8Array, parsed: unknown): Promise<IngestAnswer> {
    return new Promise((resolve, reject) => {
      this.queue.push({ webhookId, raw, parsed, resolve, reject })
      // setImmediate: requests already read in this turn join the first batch.
      this.running ??= new Promise<void>((started) => setImmediate(started)).then(() => this.drain())
    })
  }

  /**
   * One batch at a time. Two in flight measured worse (`BENCH_ONLY=ingest,latency
   * npm run bench`): 6,134 vs 6,997 events/s flat out, p99 at 500/s 19.1 vs
   * 11.1 ms; the batches halve, and Postgres pays per statement.
   */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch)
        await this.ingestBatch(batch).catch((error: unknown) => {
          for (const item of batch) item.reject(error)
        })
      }
    } finally {
      this.running = null
    }
  }

  private async ingestBatch(batch: Submitted[]): Promise<void> {
    const deps = this.deps
    let stored: Map<string, { id: string; bodySha256: string; messageCount: number }>
    let flags: FanoutFlags
    try {
      // Both at once: two connections, one wait.
      ;[stored, flags] = await Promise.all([
        findEventsByWebhookIds(deps.db, [...new Set(batch.map((item) => item.webhookId))]),
        loadFanoutFlags(deps.db),
      ])
    } catch (error) {
      for (const item of batch) item.reject(error)
      return
    }
    const fresh: Fresh[] = []
    const alone: Submitted[] = []
    const taken = new Set<string>()
    for (const item of batch) {
      const existing = stored.get(item.webhookId)
      if (existing) {
        answer(item, () => replay(existing, bodyHash(item.raw)))
      } else if (taken.has(item.webhookId)) {
        // The same id twice in one batch: the second is a replay of the first, answered once the first is stored.
        alone.push(item)
      } else {
        taken.add(item.webhookId)
        const validation = validateEvent(item.parsed)
        if (!validation.ok) item.reject(new AppError('invalid_event', validation.message, validation.details))
        else fresh.push({ ...item, event: validation.event, sha: bodyHash(item.raw) })
      }
    }
    alone.push(...(await this.storeTogether(fresh, { ...deps.fanout, ...flags })))
    for (const item of alone) answer(item, () => ingestEvent(deps, item.webhookId, item.raw, item.parsed))
  }

  /** Stores the plain events of `fresh` with one statement and answers them; returns the ones left for the one-event path. */
  private async storeTogether(fresh: Fresh[], settings: FanoutSettings): Promise<Submitted[]> {
    if (fresh.length === 0) return []
    const deps = this.deps
    const now = deps.now?.() ?? new Date()
    const left: Submitted[] = []
    const planned: { item: Fresh; plan: Plan; event: BatchEvent }[] = []
    for (const item of fresh) {
      let plan: Plan
      try {
        plan = planEvent(item.event, settings, now)
      } catch {
        // Fails again, alone, with its own answer.
        left.push(item)
        continue
      }
      // An event that names many users (a forum's subscribers) goes alone: upsertRecipients bounds each statement's locks.
      if (plan.erase || plan.reminder || plan.messages.some((m) => m.foldKey) || plan.upsert.length > BATCH_USERS_PER_EVENT) {
        left.push(item)
        continue
      }
      const event: BatchEvent = {
        id: randomUUID(),
        webhookId: item.webhookId,
        type: item.event.type,
        bodySha256: item.sha,
        data: item.event.data,
        occurredAt: item.event.occurredAt,
        messageCount: plan.messages.length,
      }
      planned.push({ item, plan, event })
    }
    let stored: Set<string>
    try {
      stored = await storeEventBatch(deps.db, {
        events: planned.map(({ event }) => event),
        users: upsertOrder(planned.flatMap(({ plan }) => plan.upsert)),
        messages: planned.flatMap(({ plan, event }) => outboxRows(deps, plan, event.id, now)),
      })
    } catch {
      // Which event broke the batch is not known: each goes again on its own, and only that one fails.
      return fresh
    }
    for (const { item, plan, event } of planned) {
      // Another request committed this webhook-id first: answered as a replay.
      if (!stored.has(event.id)) left.push(item)
      else item.resolve({ status: 202, body: { event_id: event.id, messages: plan.messages.length } })
    }
    return left
  }
}

/** More users than this in one event, and it takes the one-event path (see storeTogether). */
const BATCH_USERS_PER_EVENT = 50

/** Settles a request with what `work` answers or throws. */
function answer(item: Submitted, work: () => IngestAnswer | Promise<IngestAnswer>): void {
  Promise.resolve()
    .then(work)
    .then(item.resolve, item.reject)
}
