// The in-process outbox worker. It claims due rows in batches while its
// claim window has room, sends up to `concurrency` at once, settles what
// finished in group-committed batches (settle.ts), and sleeps until
// something can have changed: a NOTIFY from an ingest, a delivery finishing,
// or the poll timer (the safety net for a missed NOTIFY and for scheduled
// rows coming due). stop() stops claiming and waits for what is in flight.

import { hostname } from 'node:os'
import { randomBytes } from 'node:crypto'
import type { Database } from '../db/client.ts'
import { deliver, hold, type DeliveryDeps, type DeliveryOutcome, type Gate, type GateDecision } from './deliver.ts'
import { SettleBatcher } from './settle.ts'
import { SendSlots } from './slots.ts'
import { claimDue, OUTBOX_CHANNEL, type ClaimedMessage } from './queries.ts'

/**
 * Messages claimed and not yet settled, at most, whatever WORKER_CONCURRENCY
 * allows to be sending. A claim takes up to half of it, so one batch is
 * claimed and gated while the one before is rendered, sent and settled.
 * Claiming only as many as could be sent at once (16) kept a worker with
 * the null transport at a third of the rate this window gives.
 */
const CLAIM_WINDOW = 100

/**
 * A worker that finishes messages fast may claim further ahead: as many as
 * it finished in the last CLAIM_AHEAD_SECONDS, up to MAX_CLAIM_WINDOW.
 * Bigger claims mean fewer claim, gate and settle statements per message:
 * with the null transport a fixed window of 100, 200, 400 and 800 gave
 * 6,641–7,884, 7,232–8,447, 7,907–9,787 and 8,882–9,236 messages/s
 * (`BENCH_ONLY=pipeline npm run bench`, interleaved). A fixed large window
 * would hurt a slow server instead: rows waiting longer than a third of
 * the lease for a send slot go back to the queue, so a worker sending 10 a
 * second keeps the window of 100.
 */
const CLAIM_AHEAD_SECONDS = 0.1
const MAX_CLAIM_WINDOW = 800

/** Messages finished per second over the last full second. */
class FinishRate {
  private count = 0
  private since = performance.now()
  private last = 0

  finished(): void {
    this.count += 1
  }

  perSecond(now = performance.now()): number {
    const elapsed = now - this.since
    if (elapsed >= 1000) {
      this.last = (this.count * 1000) / elapsed
      this.count = 0
      this.since = now
    }
    return this.last
  }
}

export interface WorkerOptions extends Omit<DeliveryDeps, 'db' | 'settle' | 'slots'> {
  database: Database
  /** The preference check; without one every message is sent. */
  gate?: Gate
  concurrency: number
  leaseMs: number
  /** Longest sleep between two claims when nothing wakes the worker. */
  pollMs?: number
  /** Tells tests and metrics what happened to each message. */
  onDelivered?(messageId: string, outcome: DeliveryOutcome): void
}

export class OutboxWorker {
  /** Names this process in `lease_owner`, so an operator can tell who holds a row. */
  readonly owner = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
  private running = false
  private loopDone: Promise<void> = Promise.resolve()
  private readonly inflight = new Set<Promise<void>>()
  private wakeUp: (() => void) | null = null
  private woken = false
  private unlisten: (() => Promise<void>) | null = null
  private readonly settler: SettleBatcher
  private readonly slots: SendSlots
  private readonly minWindow: number
  private readonly finishRate = new FinishRate()

  constructor(private readonly options: WorkerOptions) {
    this.settler = new SettleBatcher(options.database.db, options.leaseMs)
    this.slots = new SendSlots(options.concurrency)
    this.minWindow = Math.max(CLAIM_WINDOW, options.concurrency)
  }

  get inFlight(): number {
    return this.inflight.size
  }

  async start(): Promise<void> {
    if (this.running) return
    this.unlisten = await this.options.database.listen(OUTBOX_CHANNEL, () => this.wake())
    this.running = true
    this.loopDone = this.loop()
  }

  /**
   * Stops claiming, then waits for every message in flight to finish — at
   * most `graceMs`: a send or a query that hangs must not keep the process
   * from exiting. What is still out then keeps its lease and is taken over
   * by another process, or by this one after a restart.
   */
  async stop(graceMs = 30_000): Promise<void> {
    if (!this.running) return
    this.running = false
    this.wake()
    let timer: ReturnType<typeof setTimeout> | undefined
    const deadline = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), graceMs)))
    const finished = (async () => {
      await this.loopDone
      await Promise.all(this.inflight)
      return 'done' as const
    })()
    if ((await Promise.race([finished, deadline])) === 'late') {
      this.options.log.warn('stopped with messages still in flight; their leases will expire', { inFlight: this.inflight.size })
    }
    clearTimeout(timer)
    await this.unlisten?.().catch(() => {})
    this.unlisten = null
  }

  wake(): void {
    this.woken = true
    this.wakeUp?.()
  }

  private async loop(): Promise<void> {
    const { database, leaseMs, log } = this.options
    const pollMs = this.options.pollMs ?? 1000
    while (this.running) {
      const window = Math.max(this.minWindow, Math.min(MAX_CLAIM_WINDOW, Math.round(this.finishRate.perSecond() * CLAIM_AHEAD_SECONDS)))
      const free = Math.min(window - this.inflight.size, Math.ceil(window / 2))
      if (free > 0) {
        this.woken = false
        let claimed: Awaited<ReturnType<typeof claimDue>> = []
        try {
          claimed = await claimDue(database.db, this.owner, free, leaseMs)
        } catch (error) {
          // The database is away (restart, network): keep trying at the poll rate.
          log.error('claim failed', { error })
        }
        if (claimed.length > 0) this.dispatch(claimed)
        // A full batch means more may be waiting: claim again before sleeping.
        if (claimed.length === free && this.running) continue
      }
      await this.sleep(pollMs)
    }
  }

  /** Asks the gate about the batch, then sends, skips or folds each message. */
  private dispatch(claimed: ClaimedMessage[]): void {
    const db = this.options.database.db
    const settle = (item: Parameters<SettleBatcher['settle']>[0]) => this.settler.settle(item)
    // A third of the lease for a slot: time left to send and to record the attempt before anyone may take the message over.
    const slots = { slots: this.slots, waitMs: Math.floor(this.options.leaseMs / 3) }
    const decisions = this.options.gate ? this.options.gate.decide(claimed) : Promise.resolve(new Map<string, GateDecision>())
    for (const message of claimed) {
      this.track(
        message.id,
        decisions.then((byId) => {
          const decision = byId.get(message.id) ?? { action: 'send' }
          return decision.action === 'send'
            ? deliver({ ...this.options, db, settle, slots }, message, this.owner)
            : hold(settle, message, this.owner, decision)
        }),
      )
    }
  }

  private track(messageId: string, delivery: Promise<DeliveryOutcome>): void {
    const done = delivery
      .then((outcome) => this.options.onDelivered?.(messageId, outcome))
      .catch((error) => {
        // The row keeps its lease and is retried when it expires; nothing is lost.
        this.options.log.error('delivery bookkeeping failed', { messageId, error })
      })
      .finally(() => {
        this.inflight.delete(done)
        this.finishRate.finished()
        this.wake()
      })
    this.inflight.add(done)
  }

  private sleep(ms: number): Promise<void> {
    // A wake that came while we were busy counts once, then it is used up.
    if (this.woken || !this.running) {
      this.woken = false
      return Promise.resolve()
    }
    return new Promise((resolve) => {
      const timer = setTimeout(finish, ms)
      const self = this
      function finish() {
        clearTimeout(timer)
        self.wakeUp = null
        resolve()
      }
      this.wakeUp = finish
    })
  }
}
