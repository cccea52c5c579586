// Retention: what Belfry keeps only for RETENTION_DAYS. Old stored events,
// finished messages (their attempts go with them) and old attempts of
// messages that are kept; and send-rate windows long past. Dead letters stay until an admin replays or
// discards them. Deleted in small batches, each its own statement, so the
// job never holds many locks or one long transaction against live traffic.

import { syncEnrollments } from '../announcements/queries.ts'
import type { Db } from '../db/client.ts'
import { deleteRateWindowsBefore } from '../transport/queries.ts'
import { deleteOldAttempts, deleteOldEvents, deleteOldMessages } from './queries.ts'

export interface HousekeepingDeps {
  db: Db
  retentionDays: number
  /** Rows per statement. */
  batch?: number
  /** Batches per table per run; the rest waits for the next run, so one run stays short. */
  maxBatches?: number
}

export interface HousekeepingResult {
  messages: number
  attempts: number
  events: number
}

export async function runHousekeeping(deps: HousekeepingDeps, now: Date): Promise<HousekeepingResult> {
  const cutoff = new Date(now.getTime() - deps.retentionDays * 86_400_000)
  const batch = deps.batch ?? 500
  const maxBatches = deps.maxBatches ?? 200
  const drain = async (step: (db: Db, cutoff: Date, batch: number) => Promise<number>) => {
    let total = 0
    for (let i = 0; i < maxBatches; i++) {
      const deleted = await step(deps.db, cutoff, batch)
      total += deleted
      if (deleted < batch) break
    }
    return total
  }
  // Messages first: their attempts go with them, and fewer attempts are left to delete one by one.
  const messages = await drain(deleteOldMessages)
  const attempts = await drain(deleteOldAttempts)
  // Course segments (announcements) know who is in a course from stored
  // events; copy what the events say before retention deletes them.
  await syncEnrollments(deps.db)
  const events = await drain(deleteOldEvents)
  // Send-rate windows matter only while they last; an hour's margin covers any clock skew between processes.
  await deleteRateWindowsBefore(deps.db, new Date(now.getTime() - 3_600_000))
  return { messages, attempts, events }
}
