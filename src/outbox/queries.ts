// Every statement that touches the outbox. Each comment says what it locks.

import { and, eq, inArray, notInArray, sql, type SQL } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { deliveryAttempts, events, messages, type MessageState, type NewMessage } from '../db/schema/index.ts'
import { REDACTED } from '../render/secrets.ts'

export const OUTBOX_CHANNEL = 'belfry_outbox'

/** States a message can still leave without being sent: what cancelling touches. */
const PENDING: MessageState[] = ['scheduled', 'queued', 'retrying']

/** What callers give for a new outbox row; everything else starts at its column default. */
export type NewOutboxRow = Pick<NewMessage, 'id' | 'messageIdHeader' | 'notification' | 'category' | 'toAddress' | 'locale' | 'variables'> &
  Partial<Pick<NewMessage, 'eventId' | 'recipientId' | 'toName' | 'courseId' | 'subjectRef' | 'foldKey' | 'state' | 'runAt'>> & { id: string }

/**
 * Inserts outbox rows, however many, in one statement. The rows travel as
 * one jsonb parameter: one bind value for 1 row or 1,000, and one
 * JSON.stringify to build it. Building a multi-row VALUES list instead cost
 * ~20% of ingest's CPU in the query builder (a CPU profile of ingest).
 */
export async function insertMessages(db: Executor, rows: readonly NewOutboxRow[]): Promise<void> {
  if (rows.length === 0) return
  await db.execute(insertMessagesSql(rows))
}

/** An outbox row of an ingest batch: its recipient is named by LMS user id and found in the same statement. */
export type BatchOutboxRow = NewOutboxRow & { recipientLmsUserId: string | null }

/**
 * The insert of insertMessages as SQL, for a statement that writes more
 * than the outbox. With `batch`, the statement's earlier parts are named:
 * a row is written only if its event was (`events` returns `id`), and its
 * recipient_id comes from the recipients upsert (`recipients` returns `id,
 * lms_user_id`), and the statement returns each written row's state.
 */
export function insertMessagesSql(rows: readonly NewOutboxRow[] | readonly BatchOutboxRow[], batch?: { events: SQL; recipients: SQL }): SQL {
  const input = rows.map((row) => ({
    id: row.id,
    event_id: row.eventId ?? null,
    recipient_id: row.recipientId ?? null,
    recipient_lms_user_id: 'recipientLmsUserId' in row ? row.recipientLmsUserId : null,
    notification: row.notification,
    category: row.category,
    to_address: row.toAddress,
    to_name: row.toName ?? null,
    locale: row.locale,
    variables: row.variables,
    course_id: row.courseId ?? null,
    subject_ref: row.subjectRef ?? null,
    fold_key: row.foldKey ?? null,
    state: row.state ?? null,
    run_at: row.runAt?.toISOString() ?? null,
    message_id_header: row.messageIdHeader,
  }))
  return sql`
    insert into ${messages} (id, event_id, recipient_id, notification, category, to_address, to_name, locale, variables,
                             course_id, subject_ref, fold_key, state, run_at, message_id_header)
    select x.id, x.event_id, ${batch ? sql`r.id` : sql`x.recipient_id`}, x.notification, x.category, x.to_address, x.to_name,
           x.locale, x.variables, x.course_id, x.subject_ref, x.fold_key, coalesce(x.state, 'queued'), coalesce(x.run_at, now()),
           x.message_id_header
    from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as x(
      id uuid, event_id uuid, recipient_id uuid, recipient_lms_user_id text, notification text, category text, to_address text,
      to_name text, locale text, variables jsonb, course_id text, subject_ref text, fold_key text, state message_state,
      run_at timestamptz, message_id_header text)
    ${batch ? sql`join ${batch.events} e on e.id = x.event_id left join ${batch.recipients} r on r.lms_user_id = x.recipient_lms_user_id returning state` : sql``}`
}

/** Wakes every listening worker when the surrounding transaction commits (NOTIFY is transactional). */
export async function notifyWorkers(db: Executor): Promise<void> {
  await db.execute(sql`select pg_notify(${OUTBOX_CHANNEL}, '')`)
}

/**
 * Cancels pending rows about one subject (a deadline, a session) with
 * `reason`: everyone's, or `only` these recipients', or everyone's `except`
 * theirs. Row locks only.
 */
export async function cancelPending(
  db: Executor,
  subjectRef: string,
  reason: string,
  scope: { only?: string[]; except?: string[] } = {},
): Promise<number> {
  if (scope.only?.length === 0) return 0
  const cancelled = await db
    .update(messages)
    .set({ state: 'cancelled', reason, updatedAt: sql`now()` })
    .where(
      and(
        eq(messages.subjectRef, subjectRef),
        inArray(messages.state, PENDING),
        scope.only ? inArray(messages.recipientId, scope.only) : undefined,
        scope.except?.length ? notInArray(messages.recipientId, scope.except) : undefined,
      ),
    )
    .returning({ id: messages.id })
  return cancelled.length
}

/**
 * Erasure (user.deleted): every message to or about the person that has not
 * gone out yet is cancelled — `sending` too, so a lease taken over later
 * cannot send it — and every message to or about them keeps no address,
 * name, template data or provider response. Row locks only.
 */
export async function eraseMessagesOf(db: Executor, recipientId: string | null, lmsUserId: string): Promise<void> {
  const concerns = sql`(${recipientId ? sql`recipient_id = ${recipientId} or ` : sql``}variables->'user'->>'id' = ${lmsUserId})`
  // Digest items still waiting for their digest are pending too.
  const unsent = sql`(state in ('scheduled', 'queued', 'retrying', 'sending') or (state = 'digested' and digest_id is null))`
  await db.execute(sql`
    update ${messages}
    set state = case when ${unsent} then 'cancelled'::message_state else state end,
        reason = case when ${unsent} then 'recipient erased' else reason end,
        to_address = case when recipient_id is not null then 'erased' else to_address end,
        to_name = case when recipient_id is not null then null else to_name end,
        variables = '{}'::jsonb, subject = null, lease_owner = null, lease_until = null, updated_at = now()
    where ${concerns}`)
  await db.execute(sql`
    update ${deliveryAttempts} set response = null
    where message_id in (select id from ${messages} where ${concerns})`)
}

/** Pending messages to or about the person, counted before erasure cancels them. */
export async function countPending(db: Executor, recipientId: string | null, lmsUserId: string): Promise<number> {
  const [row] = await rows<{ n: number }>(
    db,
    sql`select count(*)::int as n from ${messages}
        where (${recipientId ? sql`recipient_id = ${recipientId} or ` : sql``}variables->'user'->>'id' = ${lmsUserId})
          and (state in ('scheduled', 'queued', 'retrying', 'sending') or (state = 'digested' and digest_id is null))`,
  )
  return row?.n ?? 0
}

/**
 * Folds a repeat into the pending message with the same fold key and
 * address, or else inserts `row` — at once, or at the end of the window if
 * one with this key went out less than `windowMs` ago. Takes a transaction
 * advisory lock on the key so two events with one fingerprint cannot both
 * insert. Returns true when a row was inserted.
 */
export async function foldOrInsert(db: Executor, row: NewOutboxRow & { foldKey: string }, windowMs: number): Promise<boolean> {
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
  // The window runs from when the last alert went (or goes) out, not from when it was written:
  // a follow-up written at T+1m that goes out at T+15m opens the next window at T+15m.
  const [recent] = await rows<{ next: number }>(
    db,
    sql`select (extract(epoch from run_at) * 1000 + ${windowMs})::float8 as next from ${messages}
        where fold_key = ${row.foldKey} and to_address = ${row.toAddress}
          and run_at > now() - ${windowMs} * interval '1 millisecond'
        order by run_at desc limit 1`,
  )
  await insertMessages(db, [recent ? { ...row, state: 'scheduled', runAt: new Date(Number(recent.next)) } : row])
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
  courseId: string | null
  /** The deadline or session a reminder is about (`deadline:<id>`). */
  subjectRef: string | null
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
 *
 * The two kinds of due row are picked by two locking subqueries, each
 * walking its own partial index in order. One `where a or b` instead made
 * Postgres fetch and sort every due row per claim: 37 ms at 100k queued
 * rows, 413 ms (a full scan) at 1M, against 0.2 ms for this form (measured
 * with EXPLAIN ANALYZE on Postgres 15).
 */
export async function claimDue(db: Executor, owner: string, limit: number, leaseMs: number): Promise<ClaimedMessage[]> {
  const claimed = await rows<ClaimedMessage & { variables: unknown }>(
    db,
    sql`
      with expired as (
        select id, state as previous_state from ${messages}
        where state = 'sending' and lease_until < now()
        order by lease_until
        limit ${limit}
        for update skip locked
      ), due as (
        select id, state as previous_state from ${messages}
        where state in ('scheduled', 'queued', 'retrying') and run_at <= now()
        order by run_at
        limit ${limit}
        for update skip locked
      ), picked as (
        select * from expired union all select * from due limit ${limit}
      )
      update ${messages} as m
      set state = 'sending', lease_owner = ${owner}, lease_until = now() + ${leaseMs} * interval '1 millisecond',
          attempts = m.attempts + 1, updated_at = now()
      from picked
      where m.id = picked.id
      returning m.id, m.notification, m.category, m.to_address as "toAddress", m.to_name as "toName", m.locale,
                m.variables, m.message_id_header as "messageIdHeader", m.attempts, m.recipient_id as "recipientId",
                m.course_id as "courseId", m.subject_ref as "subjectRef", picked.previous_state as "previousState"`,
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

/** What a sent row keeps of how it was sent. */
export interface SentFacts {
  subject: string
  providerMessageId: string | null
  experiment: string | null
  variant: string | null
}

/** How one claim of a row ends: the row's next state, and the attempt made, if one was. */
export interface Settlement {
  id: string
  owner: string
  /** The attempt number the claim counted. */
  attempt: number
  state: 'sent' | 'retrying' | 'dead' | 'skipped' | 'digested' | 'scheduled' | 'cancelled'
  reason: string | null
  /** The error to keep on the row; `undefined` keeps the one already there. */
  lastError?: string | null
  /** When the row is due next (retrying, scheduled, digested); the row's own time when absent. */
  runAt?: Date
  /** No attempt was made (a gate held the row, a paused provider): the one counted at claim time is given back. */
  giveBack?: boolean
  sent?: SentFacts
  /** The attempt to record; recorded whether or not the row still belonged to this claim, because it happened. */
  record?: AttemptRecord
}

/**
 * Ends many claims in one statement: each row moves to its next state only
 * while its claim still holds it (same owner and attempt number, still
 * `sending`: a process whose lease ran out, even one that has since claimed
 * the row again, must not settle the newer claim), and every attempt made
 * is recorded. Returns the ids that moved.
 *
 * One round trip per batch instead of one per message: with the null
 * transport, settling row by row capped the worker at ~760 messages/s;
 * the batch is what group commit in the worker (settle.ts) hands over.
 * The rows travel as one jsonb parameter: one bind value however big the
 * batch (see insertMessages).
 */
export async function settle(db: Executor, items: readonly Settlement[]): Promise<Set<string>> {
  if (items.length === 0) return new Set()
  const input = items.map((item) => ({
    id: item.id,
    owner: item.owner,
    attempt: item.attempt,
    state: item.state,
    reason: item.reason,
    keep_error: item.lastError === undefined,
    last_error: item.lastError ?? null,
    run_at: item.runAt?.toISOString() ?? null,
    give_back: item.giveBack ?? false,
    subject: item.sent?.subject ?? null,
    provider_message_id: item.sent?.providerMessageId ?? null,
    experiment: item.sent?.experiment ?? null,
    variant: item.sent?.variant ?? null,
    a_attempt: item.record?.attempt ?? null,
    a_transport: item.record?.transport ?? null,
    a_outcome: item.record?.outcome ?? null,
    a_code: item.record?.code ?? null,
    a_response: item.record?.response ?? null,
    a_started_at: item.record?.startedAt.toISOString() ?? null,
  }))
  const updated = await rows<{ id: string }>(
    db,
    sql`
      with input as (
        select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as x(
          id uuid, owner text, attempt int, state message_state, reason text, keep_error boolean, last_error text,
          run_at timestamptz, give_back boolean, subject text, provider_message_id text, experiment text, variant text,
          a_attempt int, a_transport text, a_outcome text, a_code text, a_response text, a_started_at timestamptz)
      ), updated as (
        update ${messages} as m
        set state = x.state,
            reason = x.reason,
            last_error = case when x.keep_error then m.last_error else x.last_error end,
            run_at = coalesce(x.run_at, m.run_at),
            attempts = case when x.give_back then m.attempts - 1 else m.attempts end,
            sent_at = case when x.state = 'sent' then now() else m.sent_at end,
            subject = case when x.state = 'sent' then x.subject else m.subject end,
            provider_message_id = case when x.state = 'sent' then x.provider_message_id else m.provider_message_id end,
            experiment = case when x.state = 'sent' then x.experiment else m.experiment end,
            variant = case when x.state = 'sent' then x.variant else m.variant end,
            lease_owner = null, lease_until = null, updated_at = now()
        from input as x
        where m.id = x.id and m.lease_owner = x.owner and m.attempts = x.attempt and m.state = 'sending'
        returning m.id
      ), recorded as (
        insert into ${deliveryAttempts} (message_id, attempt, transport, outcome, code, response, started_at)
        select id, a_attempt, a_transport, a_outcome, a_code, a_response, a_started_at from input where a_outcome is not null
      )
      select id from updated`,
  )
  return new Set(updated.map((row) => row.id))
}

/** One settlement on its own; true when the row still belonged to this claim. */
async function settleOne(db: Executor, item: Settlement): Promise<boolean> {
  return (await settle(db, [item])).has(item.id)
}

export function markSent(db: Executor, id: string, owner: string, sent: SentFacts, record: AttemptRecord) {
  return settleOne(db, { id, owner, attempt: record.attempt, state: 'sent', reason: null, lastError: null, sent, record })
}

/**
 * Overwrites the secret values (dotted paths, see render/secrets.ts) of a
 * sent message in its variables and in the stored event that caused it:
 * a password-reset link must not outlive its email in the database. A path
 * that is not there is left alone. Row locks on the two rows only.
 */
export async function redactSecrets(db: Executor, messageId: string, paths: readonly string[]): Promise<void> {
  if (paths.length === 0) return
  const redact = (column: SQL) =>
    paths.reduce<SQL>(
      (expression, path) => sql`jsonb_set(${expression}, ${`{${path.split('.').join(',')}}`}::text[], ${JSON.stringify(REDACTED)}::jsonb, false)`,
      column,
    )
  await db.execute(sql`
    with message as (
      update ${messages} set variables = ${redact(sql`variables`)} where id = ${messageId} returning event_id
    )
    update ${events} set data = ${redact(sql`data`)} where id = (select event_id from message)`)
}

/** Records the attempt a stopped process never finished; its row was just claimed again. */
export async function recordInterrupted(db: Executor, id: string, record: AttemptRecord): Promise<void> {
  await db.execute(
    sql`insert into ${deliveryAttempts} (message_id, attempt, transport, outcome, code, response, started_at)
        values ${attemptValues(id, record)}`,
  )
}

/**
 * Which dead letters an admin action applies to: some ids, or everything
 * matching the dead-letter page's filter (every field optional).
 */
export type DeadLetterFilter =
  | { ids: readonly string[] }
  | { notification?: string | undefined; email?: string | undefined; from?: Date | undefined; to?: Date | undefined }

/** `%` and `_` in what an admin types are meant literally in an ILIKE pattern. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** The WHERE condition for dead rows matching `filter`; walks the (state, created_at) index. */
export function deadLetterWhere(filter: DeadLetterFilter): SQL {
  const parts: SQL[] = [sql`state = 'dead'`]
  if ('ids' in filter) {
    parts.push(filter.ids.length > 0 ? sql`id in (${sql.join(filter.ids.map((id) => sql`${id}::uuid`), sql`, `)})` : sql`false`)
  } else {
    if (filter.notification) parts.push(sql`notification = ${filter.notification}`)
    if (filter.email) parts.push(sql`to_address ilike ${likeContains(filter.email)} escape '\\'`)
    if (filter.from) parts.push(sql`created_at >= ${filter.from.toISOString()}::timestamptz`)
    if (filter.to) parts.push(sql`created_at < ${filter.to.toISOString()}::timestamptz`)
  }
  return sql.join(parts, sql` and `)
}

/**
 * Puts dead letters back in the queue, due now, with a fresh set of
 * attempts. Their Message-ID stays, so a retry is the same email; the
 * failures stay in delivery_attempts (and last_error until a send succeeds).
 * Row locks only; call notifyWorkers in the same transaction. Returns the ids.
 */
export async function requeueDead(db: Executor, filter: DeadLetterFilter): Promise<string[]> {
  const requeued = await rows<{ id: string }>(
    db,
    sql`update ${messages}
        set state = 'queued', run_at = now(), attempts = 0, lease_owner = null, lease_until = null, updated_at = now()
        where ${deadLetterWhere(filter)}
        returning id`,
  )
  return requeued.map((row) => row.id)
}

/** Gives dead letters up for good: `cancelled`, with the reason. Row locks only. Returns the ids. */
export async function discardDead(db: Executor, filter: DeadLetterFilter, reason = 'discarded by admin'): Promise<string[]> {
  const discarded = await rows<{ id: string }>(
    db,
    sql`update ${messages}
        set state = 'cancelled', reason = ${reason}, updated_at = now()
        where ${deadLetterWhere(filter)}
        returning id`,
  )
  return discarded.map((row) => row.id)
}
