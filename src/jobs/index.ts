// Belfry's scheduled jobs, registered with croner and run once across all
// processes (see scheduler.ts). Started by the service when ROLE is `all`
// or `worker`. Reminders need no job: they are outbox rows with a future
// `run_at`, which the worker's claim picks up when due.

import type { Db, Database } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { runDueDigests, type DigestDeps, type DigestRunResult } from './digests.ts'
import { DIGEST_JOB_LOCK } from './queries.ts'
import { JobScheduler, type JobOutcome } from './scheduler.ts'

/**
 * Every five minutes, on the minute. Digests fall due at 08:00 local, and
 * every zone's offset is a whole number of quarter hours, so a digest is due
 * exactly on one of these ticks and goes out on time.
 */
export const DIGEST_SCHEDULE = '*/5 * * * *'

export type JobName = 'digests'

export interface JobsDeps extends Omit<DigestDeps, 'db' | 'log'> {
  database: Database
  log: Logger
}

export interface Jobs {
  /** The digest job's body, with the clock given: what tests drive. No job lock (it is safe to run twice at once anyway). */
  runDigests(now: Date): Promise<DigestRunResult>
  /** Runs a job now as its schedule would: under its lock, skipped when any process is running it. */
  trigger(name: JobName, now?: Date): Promise<JobOutcome>
  /** When each job runs next. */
  nextRuns(): Record<string, Date | null>
  /** Stops the schedules and waits for a running job to finish. */
  stop(): Promise<void>
}

export function startJobs(deps: JobsDeps): Jobs {
  const log = deps.log.child({ component: 'jobs' })
  const db: Db = deps.database.db
  const digestDeps: DigestDeps = { ...deps, db, log }
  const runDigests = (now: Date) => runDueDigests(digestDeps, now)
  const scheduler = new JobScheduler(deps.database, log, [
    {
      name: 'digests',
      pattern: DIGEST_SCHEDULE,
      lockKey: DIGEST_JOB_LOCK,
      run: async (now) => ({ ...(await runDigests(now)) }),
    },
  ])
  scheduler.start()
  return {
    runDigests,
    trigger: (name, now) => scheduler.trigger(name, now),
    nextRuns: () => scheduler.nextRuns(),
    stop: () => scheduler.stop(),
  }
}
