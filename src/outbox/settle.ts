// Group commit for the end of each delivery. Every finished message hands
// its settlement here; whatever arrives while one batch is being written
// goes out together in the next, in one statement (queries.ts settle()).
// At a trickle a batch is one message and costs no wait; under load the
// batches grow by themselves, so the database sees one round trip per batch
// instead of one per message.

import type { Executor } from '../db/client.ts'
import { settle, type Settlement } from './queries.ts'

interface Pending {
  item: Settlement
  resolve(settled: boolean): void
  reject(error: unknown): void
}

export class SettleBatcher {
  private queue: Pending[] = []
  private running: Promise<void> | null = null

  /** `maxBatch` bounds one statement's size (the jsonb parameter and the rows it locks). */
  constructor(
    private readonly db: Executor,
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
          const moved = await settle(this.db, batch.map((pending) => pending.item))
          for (const pending of batch) pending.resolve(moved.has(pending.item.id))
        } catch (error) {
          for (const pending of batch) pending.reject(error)
        }
      }
    } finally {
      this.running = null
    }
  }
}
