// Runs periodic jobs with croner, each at most once at a time across every
// process on one database: the body runs under a Postgres advisory lock
// taken with pg_try_advisory_lock, so a process that finds it held skips
// that tick instead of queueing behind it (a queued run would only repeat
// work the holder just did). Within one process croner's `protect` keeps a
// slow run from overlapping the next tick.
//
// The lock is a session lock on one reserved connection: if that connection
// dies mid-run, Postgres releases it and another process may start the same
// job. Job bodies are therefore written to be safe when run twice at once
// (digests lock per learner); the lock saves the duplicate work, it is not
// what keeps the data right.

import { Cron } from 'croner'
import type { Database } from '../db/client.ts'
import type { Logger } from '../log.ts'

export interface JobDefinition {
  name: string
  /** Croner pattern (5 fields, or 6 with seconds), read in UTC. */
  pattern: string
  /** Advisory lock key; one per job, the same in every process. */
  lockKey: number
  /** The body; `now` is the tick's time. What it resolves to is logged. */
  run(now: Date): Promise<Record<string, unknown> | void>
}

/** What one trigger did: ran the body, ran it and it threw (logged), or skipped it (running elsewhere, or stopping). */
export type JobOutcome = 'ran' | 'failed' | 'skipped'

export class JobScheduler {
  private readonly crons: Cron[] = []
  private readonly running = new Set<Promise<unknown>>()
  private stopped = false

  constructor(
    private readonly database: Database,
    private readonly log: Logger,
    private readonly jobs: readonly JobDefinition[],
  ) {
    const names = new Set(jobs.map((job) => job.name))
    if (names.size !== jobs.length) throw new Error('job names must be unique')
  }

  start(): void {
    if (this.stopped || this.crons.length > 0) return
    for (const job of this.jobs) {
      // No croner `name`: it registers jobs process-wide, and two services in one process (tests) would collide.
      this.crons.push(
        new Cron(job.pattern, { protect: true, timezone: 'UTC' }, async () => {
          await this.trigger(job.name)
        }),
      )
    }
  }

  /** When each job runs next (for logs and tests). */
  nextRuns(): Record<string, Date | null> {
    return Object.fromEntries(this.jobs.map((job, i) => [job.name, this.crons[i]?.nextRun() ?? null]))
  }

  /**
   * Runs a job now, as its schedule does: under its lock, skipped when any
   * process (this one included) is running it. A run that fails does not
   * reject: it is logged, and the next tick tries again.
   */
  trigger(name: string, now: Date = new Date()): Promise<JobOutcome> {
    const job = this.jobs.find((j) => j.name === name)
    if (!job) return Promise.reject(new Error(`unknown job "${name}"`))
    if (this.stopped) return Promise.resolve('skipped')
    const run = this.runLocked(job, now)
    this.running.add(run)
    void run.finally(() => this.running.delete(run))
    return run
  }

  /** Stops every schedule and waits for the runs in progress to finish. */
  async stop(): Promise<void> {
    this.stopped = true
    for (const cron of this.crons.splice(0)) cron.stop()
    await Promise.allSettled([...this.running])
  }

  private async runLocked(job: JobDefinition, now: Date): Promise<JobOutcome> {
    const log = this.log.child({ job: job.name })
    const started = Date.now()
    try {
      const result = await this.database.tryAdvisoryLock(job.lockKey, () => job.run(now))
      if (!result.acquired) {
        log.debug('job skipped: running in another process')
        return 'skipped'
      }
      // Every five minutes in every process: say so at info level only when the run did something.
      const fields = { ms: Date.now() - started, ...(result.value ?? {}) }
      if (Object.values(result.value ?? {}).some((value) => value !== 0)) log.info('job ran', fields)
      else log.debug('job ran', fields)
      return 'ran'
    } catch (error) {
      log.error('job failed', { ms: Date.now() - started, error })
      return 'failed'
    }
  }
}
