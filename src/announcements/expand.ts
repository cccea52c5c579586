// The announcements job: starts scheduled announcements when their time
// comes and expands sending ones into the outbox, batch by batch. It is
// driven entirely by the database (state + cursor), so a process that
// stops mid-send leaves nothing to recover: the next tick, in any process,
// carries on after the last committed batch.
//
// Expansion keeps pace with sending instead of running ahead of it: a new
// batch is written only while fewer than ANNOUNCE_BATCH of the
// announcement's rows wait. The outbox is first come, first served, so a
// password reset that arrives during a 100,000-learner announcement waits
// behind at most one batch, not the whole announcement; and a pause holds
// at most that many rows.

import type { Db } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { backlogOf, expandBatch, findActive, findAnnouncement, releaseHeld, segmentSize, syncEnrollments, transition, type ExpandOptions } from './queries.ts'

export interface AnnouncementJobDeps extends ExpandOptions {
  db: Db
  log: Logger
  /** How long one tick may keep expanding before it hands back to the scheduler. */
  budgetMs?: number
}

const DEFAULT_BUDGET_MS = 5_000
/** How long to wait for the worker to drain a full backlog before looking again, within one tick. */
const BACKLOG_WAIT_MS = 100

export interface AnnouncementRunResult extends Record<string, unknown> {
  started: number
  batches: number
  rows: number
  finished: number
}

export async function runAnnouncements(deps: AnnouncementJobDeps, now: Date): Promise<AnnouncementRunResult> {
  const { db } = deps
  const result: AnnouncementRunResult = { started: 0, batches: 0, rows: 0, finished: 0 }
  const deadline = Date.now() + (deps.budgetMs ?? DEFAULT_BUDGET_MS)
  for (const active of await findActive(db, now)) {
    if (active.state === 'scheduled' && !(await start(deps, active.id, now))) continue
    if (active.state === 'scheduled') result.started++
    // A row the gate held just as the announcement resumed settled after the release: release it now.
    else await releaseHeld(db, active.id)
    while (Date.now() < deadline) {
      if ((await backlogOf(db, active.id, deps.batchSize)) >= deps.batchSize) {
        await Bun.sleep(BACKLOG_WAIT_MS)
        continue
      }
      // Each batch its own transaction: a crash loses at most the batch in flight, which was never committed.
      const batch = await db.transaction((tx) => expandBatch(tx, active.id, deps))
      if (batch.finished) {
        result.finished++
        deps.log.info('announcement expanded', { announcement: active.id, batches: batch.batch })
      }
      if (batch.inserted === 0) break
      result.batches++
      result.rows += batch.inserted
    }
  }
  return result
}

/** Scheduled → sending, with the segment's size as it is now; false when someone else moved it first. */
async function start(deps: AnnouncementJobDeps, id: string, now: Date): Promise<boolean> {
  const announcement = await findAnnouncement(deps.db, id)
  if (!announcement || announcement.state !== 'scheduled') return false
  if (announcement.segment.kind === 'courses') await syncEnrollments(deps.db)
  const size = await segmentSize(deps.db, announcement.segment, deps.defaultLocale)
  const started = await transition(deps.db, id, ['scheduled'], 'sending', { startedAt: now, total: size.members })
  if (started) deps.log.info('announcement sending', { announcement: id, members: size.members })
  return started
}
