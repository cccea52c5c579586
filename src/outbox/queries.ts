// Every statement that touches the outbox. Each comment says what it locks.

import { and, eq, inArray, sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { deliveryAttempts, messages, type MessageState, type NewMessage } from '../db/schema/index.ts'

export const OUTBOX_CHANNEL = 'belfry_outbox'

/** States a message can still leave without being sent: what cancelling touches. */
const PENDING: MessageState[] = ['scheduled', 'queued', 'retrying']

export async function insertMessages(db: Executor, rows: NewMessage[]): Promise<void> {
  if (rows.length > 0) await db.insert(messages).values(rows)
}

/** Wakes every listening worker when the surrounding transaction commits (NOTIFY is transactional). */
export async function notifyWorkers(db: Executor): Promise<void> {
  await db.execute(sql`select pg_notify(${OUTBOX_CHANNEL}, '')`)
}

/** Cancels pending rows about one subject (a deadline, a session), optionally only some recipients'. Row locks only. */
export async function cancelPending(
  db: Executor,
  subjectRef: string,
  reason: string,
  recipientIds?: string[],
): Promise<number> {
  if (recipientIds?.length === 0) return 0
  const cancelled = await db
    .update(messages)
    .set({ state: 'cancelled', reason, updatedAt: sql`now()` })
    .where(
      and(
        eq(messages.subjectRef, subjectRef),
        inArray(messages.state, PENDING),
        recipientIds ? inArray(messages.recipientId, recipientIds) : undefined,
      ),
    )
    .returning({ id: messages.id })
  return cancelled.length
}

/**
 * Erasure (user.deleted): pending rows are cancelled, and every row of the
 * person keeps no address, name or template data. Row locks only.
 */
export async function eraseRecipientMessages(db: Executor, recipientId: string): Promise<void> {
  await db
    .update(messages)
    .set({ state: 'cancelled', reason: 'recipient erased', updatedAt: sql`now()` })
    .where(and(eq(messages.recipientId, recipientId), inArray(messages.state, PENDING)))
  await db
    .update(messages)
    .set({ toAddress: 'erased', toName: null, variables: {}, subject: null, updatedAt: sql`now()` })
    .where(eq(messages.recipientId, recipientId))
}

/**
 * Folds a repeat into the pending message with the same fold key and
 * address, or else inserts `row` — at once, or at the end of the window if
 * one with this key went out less than `windowMs` ago. Takes a transaction
 * advisory lock on the key so two events with one fingerprint cannot both
 * insert. Returns true when a row was inserted.
 */
export async function foldOrInsert(db: Executor, row: NewMessage & { foldKey: string }, windowMs: number): Promise<boolean> {
  await db.execute(sql`select pg_advisory_xact_lock(hashtext(${row.foldKey + '\n' + row.toAddress}))`)
  const [pending] = await rows<{ id: string }>(
    db,
    sql`select id from ${messages}
        where fold_key = ${row.foldKey} and to_address = ${row.toAddress} and state in ('scheduled', 'queued', 'retrying')
        order by created_at desc limit 1 for update`,
  )
  if (pending) {
    await db.execute(sql`
      update ${messages}
      set variables = jsonb_set(jsonb_set(variables, '{count}', to_jsonb(coalesce((variables->>'count')::int, 1) + 1)),
                                '{last_seen}', to_jsonb(${new Date().toISOString()}::text)),
          updated_at = now()
      where id = ${pending.id}`)
    return false
  }
  const [recent] = await rows<{ next: Date | string }>(
    db,
    sql`select created_at + ${windowMs} * interval '1 millisecond' as next from ${messages}
        where fold_key = ${row.foldKey} and to_address = ${row.toAddress}
          and created_at > now() - ${windowMs} * interval '1 millisecond'
        order by created_at desc limit 1`,
  )
  await insertMessages(db, [recent ? { ...row, state: 'scheduled', runAt: new Date(recent.next) } : row])
  return true
}

/** A claimed row, as the worker needs it. */
export interface ClaimedMessage {
  id: string
  notification: string
  category: string
  toAddress: string
  toName: string | null
  locale: string
  variables: Record<string, unknown>
  messageIdHeader: string
  attempts: number
  recipientId: string | null
  /** `sending` when an earlier lease expired: that process stopped mid-send. */
  previousState: MessageState
}

/**
 * Takes up to `limit` due rows (queued, retrying or scheduled whose time
 * has come, or sending whose lease ran out) and leases them to `owner`.
 * FOR UPDATE SKIP LOCKED: concurrent claimers each get different rows and
 * never wait on each other; the lease is what stops a second claim after
 * this transaction commits. Counts the attempt at claim time, so a message
 * that crashes its sender every time still runs out of attempts.
 */
export async function claimDue(db: Executor, owner: string, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
  const claimed = await rows<ClaimedMessage & { variables: unknown }>(
    db,
    sql`
      with due as (
        select id, state as previous_state from ${messages}
        where (state in ('scheduled', 'queued', 'retrying') and run_at <= now())
           or (state = 'sending' and lease_until < now())
        order by run_at
        limit ${limit}
        for update skip locked
      )
      update ${messages} as m
      set state = 'sending', lease_owner = ${owner}, lease_until = now() + ${leaseMs} * interval '1 millisecond',
          attempts = m.attempts + 1, updated_at = now()
      from due
      where m.id = due.id
      returning m.id, m.notification, m.category, m.to_address as "toAddress", m.to_name as "toName", m.locale,
                m.variables, m.message_id_header as "messageIdHeader", m.attempts, m.recipient_id as "recipientId",
                due.previous_state as "previousState"`,
  )
  // postgres.js hands jsonb back parsed; keep one shape whatever the driver.
  return claimed.map((row) => ({
    ...row,
    variables: (typeof row.variables === 'string' ? JSON.parse(row.variables) : row.variables) as Record<string, unknown>,
  }))
}

export interface AttemptRecord {
  attempt: number
  transport: string
  outcome: 'sent' | 'transient' | 'permanent' | 'interrupted'
  code: string | null
  response: string | null
  startedAt: Date
}

function attemptValues(messageId: string, record: AttemptRecord) {
  return sql`(${messageId}, ${record.attempt}, ${record.transport}, ${record.outcome}, ${record.code},
              ${record.response}, ${record.startedAt.toISOString()}::timestamptz)`
}

/**
 * Moves a leased row to its next state and records the attempt, in one
 * round trip. The row changes only while `owner` still holds the lease (a
 * process whose lease ran out must not overwrite its successor); the
 * attempt is recorded either way, because it happened.
 */
async function finish(
  db: Executor,
  id: string,
  owner: string,
  record: AttemptRecord,
  set: ReturnType<typeof sql>,
): Promise<boolean> {
  const [result] = await rows<{ updated: number }>(
    db,
    sql`
      with updated as (
        update ${messages} set ${set}, lease_owner = null, lease_until = null, updated_at = now()
        where id = ${id} and lease_owner = ${owner} and state = 'sending'
        returning id
      ), recorded as (
        insert into ${deliveryAttempts} (message_id, attempt, transport, outcome, code, response, started_at)
        values ${attemptValues(id, record)}
      )
      select count(*)::int as updated from updated`,
  )
  return (result?.updated ?? 0) > 0
}

export function markSent(db: Executor, id: string, owner: string, subject: string, record: AttemptRecord) {
  return finish(db, id, owner, record, sql`state = 'sent', sent_at = now(), subject = ${subject}, last_error = null`)
}

export function markRetrying(db: Executor, id: string, owner: string, runAt: Date, error: string, record: AttemptRecord) {
  return finish(db, id, owner, record, sql`state = 'retrying', run_at = ${runAt.toISOString()}::timestamptz, last_error = ${error}`)
}

export function markDead(db: Executor, id: string, owner: string, error: string, record: AttemptRecord) {
  return finish(db, id, owner, record, sql`state = 'dead', last_error = ${error}`)
}

/** Records the attempt a stopped process never finished; its row was just claimed again. */
export async function recordInterrupted(db: Executor, id: string, record: AttemptRecord): Promise<void> {
  await db.execute(
    sql`insert into ${deliveryAttempts} (message_id, attempt, transport, outcome, code, response, started_at)
        values ${attemptValues(id, record)}`,
  )
}
