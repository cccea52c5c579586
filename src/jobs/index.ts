// Belfry's scheduled jobs, registered with croner and run once across all
// processes (see scheduler.ts). Started by the service when ROLE is `all`
// or `worker`.
//
// Three kinds of timed work need no job, because the outbox claim already
// does them exactly once (FOR UPDATE SKIP LOCKED) within a poll interval:
// reminders are outbox rows with a future `run_at`; an alert's fold window
// ends with its follow-up row's `run_at`; and a lease left by a process
// that died is taken over by the next claim, which records the interrupted
// attempt. A cron for any of them would only add delay.

import type { Db, Database } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { runDueDigests, type DigestDeps, type DigestRunResult } from './digests.ts'
import { runHealthChecks, type HealthDeps } from './health.ts'
import { runHousekeeping } from './housekeeping.ts'
import { autoPromote, type DeclaredExperiment } from '../experiments/results.ts'
import { DIGEST_JOB_LOCK, EXPERIMENTS_JOB_LOCK, HEALTH_JOB_LOCK, HOUSEKEEPING_JOB_LOCK } from './queries.ts'
import { JobScheduler, type JobOutcome } from './scheduler.ts'

/**
 * Every five minutes, on the minute. Digests fall due at 08:00 local, and
 * every zone's offset is a whole number of quarter hours, so a digest is due
 * exactly on one of these ticks and goes out on time.
 */
export const DIGEST_SCHEDULE = '*/5 * * * *'

/** Every minute: Belfry's own alerts look at the last five minutes. */
export const HEALTH_SCHEDULE = '* * * * *'

/** Hourly, off the hour when other systems' jobs pile up. */
export const HOUSEKEEPING_SCHEDULE = '17 * * * *'

/** Every quarter hour: an experiment needs hundreds of sends to move, so checking more often changes nothing. */
export const EXPERIMENTS_SCHEDULE = '*/15 * * * *'

/** Every ten seconds: a native event waiting for an LMS lookup is retried within its backoff plus this. */
export const ADAPTERS_SCHEDULE = '*/10 * * * * *'

/** Every two seconds: a scheduled announcement starts within that, and a sending one keeps its batches coming. */
export const ANNOUNCEMENTS_SCHEDULE = '*/2 * * * * *'

export type JobName = 'digests' | 'health' | 'housekeeping' | 'experiments' | 'adapters' | 'announcements'

export interface JobsDeps extends Omit<DigestDeps, 'db' | 'log'> {
  database: Database
  log: Logger
  health: Omit<HealthDeps, 'db' | 'log'>
  /** RETENTION_DAYS. */
  retentionDays: number
  /** False: nothing runs by itself; trigger() still does (tests). */
  schedule: boolean
  /** The experiments the templates declare now (admin edits included). */
  experiments: () => readonly DeclaredExperiment[]
  /** Native LMS events waiting in `enriching` (src/adapters). */
  adapters?: { retryDue(now: Date): Promise<Record<string, unknown>>; lockKey: number }
  /** Announcements being sent: expanded into the outbox batch by batch (src/announcements). */
  announcements?: { run(now: Date): Promise<Record<string, unknown>>; lockKey: number }
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
    {
      name: 'health',
      pattern: HEALTH_SCHEDULE,
      lockKey: HEALTH_JOB_LOCK,
      run: (now) => runHealthChecks({ ...deps.health, db, log }, now),
    },
    {
      name: 'experiments',
      pattern: EXPERIMENTS_SCHEDULE,
      lockKey: EXPERIMENTS_JOB_LOCK,
      run: (now) => autoPromote(db, deps.experiments(), log, now),
    },
    {
      name: 'housekeeping',
      pattern: HOUSEKEEPING_SCHEDULE,
      lockKey: HOUSEKEEPING_JOB_LOCK,
      run: async (now) => ({ ...(await runHousekeeping({ db, retentionDays: deps.retentionDays }, now)) }),
    },
    ...(deps.adapters
      ? [{ name: 'adapters', pattern: ADAPTERS_SCHEDULE, lockKey: deps.adapters.lockKey, run: (now: Date) => deps.adapters!.retryDue(now) }]
      : []),
    ...(deps.announcements
      ? [{ name: 'announcements', pattern: ANNOUNCEMENTS_SCHEDULE, lockKey: deps.announcements.lockKey, run: (now: Date) => deps.announcements!.run(now) }]
      : []),
  ])
  if (deps.schedule) scheduler.start()
  return {
    runDigests,
    trigger: (name, now) => scheduler.trigger(name, now),
    nextRuns: () => scheduler.nextRuns(),
    stop: () => scheduler.stop(),
  }
}
