// Engagement read from the outbox and message_events: per notification and
// day, and the per-message facts (bounced, opened by a person, clicked,
// complained, unsubscribed soon after) that experiments count too.

import { sql, type SQL } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'

/**
 * Columns about one sent message `m`: whether it bounced, was opened by a
 * person (machine opens by proxies and scanners apart), clicked by a person,
 * complained about, and whether its recipient unsubscribed — from
 * everything, or from its category — within 7 days (no link names the
 * message it came from, so the week after a send is what is counted).
 * Reads message_events by its message_id index.
 */
export const messageOutcomes: SQL = sql`
  left join lateral (
    select bool_or(kind = 'bounce') as bounced,
           bool_or(kind = 'open' and coalesce((detail->>'machine')::boolean, false) = false) as human_open,
           bool_or(kind = 'open' and coalesce((detail->>'machine')::boolean, false)) as machine_open,
           bool_or(kind = 'click' and coalesce((detail->>'machine')::boolean, false) = false) as human_click,
           bool_or(kind = 'complaint') as complained
    from message_events where message_id = m.id
  ) e on true
  left join lateral (
    select (exists (
              select 1 from recipients r where r.id = m.recipient_id
                and r.unsubscribed_at between m.sent_at and m.sent_at + interval '7 days')
            or exists (
              select 1 from preferences p where p.recipient_id = m.recipient_id and p.category = m.category
                and p.frequency = 'off' and p.updated_at between m.sent_at and m.sent_at + interval '7 days')
           ) as unsubscribed
  ) u on true`

/** The counts every engagement row has, over the rows `messageOutcomes` joined. */
export const outcomeCounts: SQL = sql`
  count(*)::int as sent,
  count(*) filter (where e.bounced)::int as bounced,
  count(*) filter (where e.human_open)::int as "humanOpens",
  count(*) filter (where e.machine_open and not coalesce(e.human_open, false))::int as "machineOpens",
  count(*) filter (where e.human_click)::int as clicks,
  count(*) filter (where e.complained)::int as complaints,
  count(*) filter (where u.unsubscribed)::int as unsubscribes`

export interface Outcomes {
  sent: number
  bounced: number
  humanOpens: number
  machineOpens: number
  clicks: number
  complaints: number
  unsubscribes: number
}

export interface DailyRow extends Outcomes {
  notification: string
  /** The UTC day, `YYYY-MM-DD`. */
  day: string
}

/** Sent messages per notification and UTC day since `from`, newest day first. Walks (state, created_at), then each row's events. */
export async function dailyEngagement(db: Executor, from: Date, notification?: string): Promise<DailyRow[]> {
  return rows<DailyRow>(
    db,
    sql`select m.notification, to_char(date_trunc('day', m.sent_at at time zone 'UTC'), 'YYYY-MM-DD') as day, ${outcomeCounts}
        from messages m ${messageOutcomes}
        where m.state = 'sent' and m.created_at >= ${from.toISOString()}::timestamptz - interval '1 day'
          and m.sent_at >= ${from.toISOString()}::timestamptz
          ${notification ? sql`and m.notification = ${notification}` : sql``}
        group by 1, 2
        order by 2 desc, 1`,
  )
}
