// What a scrape reads from the database. Scrapes come every few seconds
// from every Prometheus that watches us, so each statement here is bounded
// by an index range, never by the size of the whole table.

import { sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import type { MessageState } from '../db/schema/index.ts'

/**
 * States whose rows leave soon (or wait for an admin): every row is
 * counted, one range of the (state, created_at) index each. A large count
 * here is itself the incident worth seeing.
 */
export const LIVE_STATES = ['scheduled', 'queued', 'sending', 'retrying', 'dead'] as const satisfies readonly MessageState[]

/**
 * States where rows pile up until housekeeping (RETENTION_DAYS): millions of
 * `sent` rows would make a whole count cost a scan of millions of index
 * entries per scrape, so only those created within this window are counted.
 */
export const SETTLED_STATES = ['sent', 'skipped', 'cancelled', 'digested'] as const satisfies readonly MessageState[]
export const SETTLED_WINDOW_HOURS = 24

export interface OutboxSnapshot {
  byState: Map<string, number>
  /** Due `queued` and `retrying` rows: what the workers have not caught up with. */
  queueDepth: number
  /** How long the longest-waiting due row has been due; 0 with none. */
  oldestAgeSeconds: number
}

/**
 * One statement, one round trip. The queue part reads only messages_due_idx
 * (partial on the due states), so its cost follows the backlog, not the
 * table. The admin dashboard's countByState and oldestQueuedSince answer
 * other questions (a 24-hour window for every state; `queued` alone), and
 * calling them would take three round trips instead of one.
 */
export async function outboxSnapshot(db: Executor): Promise<OutboxSnapshot> {
  // Literals, not parameters: the planner matches them against the index ranges at plan time.
  const live = sql.raw(LIVE_STATES.map((s) => `'${s}'`).join(', '))
  const settled = sql.raw(SETTLED_STATES.map((s) => `'${s}'`).join(', '))
  const found = await rows<{ state: string | null; n: number | string; age: number | string | null }>(
    db,
    sql`select state::text as state, count(*)::float8 as n, null::float8 as age
          from messages where state in (${live}) group by state
        union all
        select state::text, count(*)::float8, null::float8
          from messages
          where state in (${settled}) and created_at > now() - interval '${sql.raw(String(SETTLED_WINDOW_HOURS))} hours'
          group by state
        union all
        select null, count(*)::float8, coalesce(extract(epoch from now() - min(run_at)), 0)::float8
          from messages where state in ('queued', 'retrying') and run_at <= now()`,
  )
  const byState = new Map<string, number>()
  let queueDepth = 0
  let oldestAgeSeconds = 0
  for (const row of found) {
    if (row.state === null) {
      queueDepth = Number(row.n)
      oldestAgeSeconds = Math.max(0, Number(row.age ?? 0))
    } else {
      byState.set(row.state, Number(row.n))
    }
  }
  return { byState, queueDepth, oldestAgeSeconds }
}

export interface EngagementDelta {
  /** The highest message_events id seen; the next read starts after it. */
  upTo: number
  counts: { kind: 'open' | 'click'; machine: boolean; n: number }[]
}

/** Where counting starts: events already stored belong to before this process. */
export async function lastMessageEventId(db: Executor): Promise<number> {
  const [row] = await rows<{ last: number | string | null }>(db, sql`select max(id) as last from message_events`)
  return Number(row?.last ?? 0)
}

/**
 * How old a row must be before it is counted. Tracking may still re-mark a
 * click as a scanner's about a second after storing it (a burst of clicks
 * on one message), and a row whose transaction commits late can appear
 * behind a higher id; counting only settled rows keeps both from slipping
 * past the mark.
 */
export const SETTLE_SECONDS = 10

/**
 * Opens and clicks stored after `after` and settled, by whether tracking
 * judged them a machine (proxy, prefetcher, scanner). A primary-key range:
 * each scrape reads only the rows added since the one before. The mark
 * stops before the first unsettled row, so the counted ids stay one prefix.
 */
export async function engagementSince(db: Executor, after: number): Promise<EngagementDelta> {
  const found = await rows<{ up_to: number | string | null; kind: string | null; machine: boolean | null; n: number | string }>(
    db,
    sql`with fresh as (select id, kind, detail, created_at from message_events where id > ${after}),
             cut as (select coalesce(
               (select min(id) - 1 from fresh where created_at > now() - make_interval(secs => ${SETTLE_SECONDS})),
               (select max(id) from fresh)) as up_to)
        select (select up_to from cut) as up_to, kind, coalesce(detail->>'machine', 'false') = 'true' as machine,
               count(*)::int as n
          from fresh where kind in ('open', 'click') and id <= (select up_to from cut)
          group by kind, machine
        union all
        select (select up_to from cut), null, null, 0`,
  )
  let upTo = after
  const counts: EngagementDelta['counts'] = []
  for (const row of found) {
    if (row.up_to !== null) upTo = Math.max(upTo, Number(row.up_to))
    if (row.kind === 'open' || row.kind === 'click') counts.push({ kind: row.kind, machine: row.machine === true, n: Number(row.n) })
  }
  return { upTo, counts }
}
