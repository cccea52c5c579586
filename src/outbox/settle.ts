// Group commit for the end of each delivery. Every finished message hands
// its settlement here; whatever arrives while one batch is being written
// goes out together in the next, in one statement (queries.ts settle()).
// At a trickle a batch is one message and costs no wait; under load the
// batches grow by themselves, so the database sees one round trip per batch
// instead of one per message.

import { isDatabaseUnavailable, type Executor } from '../db/client.ts'
import { settle, type Settlement } from './queries.ts'

/** Waits between tries of a batch while the database is away: short, as the server usually comes back in seconds. */
const RETRY_MS = [100, 250, 500, 1000, 2000]

interface Pending {
  item: Settlement
  resolve(settled: boolean): void
  reject(error: unknown): void
}

export class SettleBatcher {
  private queue: Pending[] = []
  private running: Promise<void> | null = null

  /**
   * `maxBatch` bounds one statement's size (the jsonb parameter and the rows it locks).
   * `retryForMs`: how long a batch is tried again while the database is away —
   * the lease's length, after which another process may take the rows over anyway.
   */
  constructor(
    private readonly db: Executor,
    private readonly retryForMs = 0,
    private readonly maxBatch = 500,
  ) {}

  /** Resolves once written: true when the row still belonged to this claim (see settle()). */
  settle(item: Settlement): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject })
      // setImmediate, not a microtask: the other deliveries of the same
      // claimed batch finish in this turn and join the first write.
      this.running ??= new Promise<void>((started) => setImmediate(started)).then(() => this.drain())
    })
  }

  /** Settles until the queue is empty; a failed batch fails its own messages only (their leases expire and they are retried). */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch)
        try {
          const moved = await this.write(batch.map((pending) => pending.item))
          for (const pending of batch) pending.resolve(moved.has(pending.item.id))
        } catch (error) {
          for (const pending of batch) pending.reject(error)
        }
      }
    } finally {
      this.running = null
    }
  }

  /**
   * One batch, tried again while the database is away. These messages were
   * handed to the mail server already: given up, they would be sent a second
   * time once their leases expired. Written late, they are settled once; the
   * lease check in settle() still refuses rows another process took over.
   */
  private async write(items: Settlement[]): Promise<Set<string>> {
    const deadline = Date.now() + this.retryForMs
    for (let attempt = 0; ; attempt++) {
      try {
        return await settle(this.db, items)
      } catch (error) {
        const wait = RETRY_MS[Math.min(attempt, RETRY_MS.length - 1)]!
        if (!isDatabaseUnavailable(error) || Date.now() + wait > deadline) throw error
        await Bun.sleep(wait)
      }
    }
  }
}
