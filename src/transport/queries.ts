// The one statement the send-rate limiter runs, and its cleanup.

import { sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { sendRateWindows } from '../db/schema/index.ts'

/**
 * Takes up to `chunk` sends from one window of one transport, shared by all
 * processes. The row lock on the window serialises takers; a full window is
 * not written to. Returns how many were granted (0 when the window is full).
 */
export async function takeSendTokens(db: Executor, transport: string, windowStart: number, chunk: number, capacity: number): Promise<number> {
  const [row] = await rows<{ granted: number }>(
    db,
    sql`insert into ${sendRateWindows} as w (transport, window_start, granted)
        values (${transport}, ${windowStart}, ${Math.min(chunk, capacity)})
        on conflict (transport, window_start) do update set granted = w.granted + ${chunk}
        where w.granted < ${capacity}
        returning w.granted`,
  )
  if (!row) return 0
  // Past the capacity by the overshoot of this take: those were not ours to have.
  return Math.max(0, Math.min(chunk, chunk - (row.granted - capacity)))
}

/** Windows that ended before `before`; nothing reads them again. */
export async function deleteRateWindowsBefore(db: Executor, before: Date): Promise<number> {
  const deleted = await rows<{ transport: string }>(
    db,
    sql`delete from ${sendRateWindows} where window_start < ${before.getTime()} returning transport`,
  )
  return deleted.length
}
