// SES_MAX_PER_SECOND / SMTP_MAX_PER_SECOND across every process. Time is
// cut into short windows (see rateShape);
// each window's sends are counted in Postgres, and a process takes them a
// chunk at a time, so a busy process makes a few queries a second rather
// than one per message. Tokens a process took but did not use die with
// their window: the limit may be under-used, never exceeded.

import type { Db } from '../db/client.ts'
import { takeSendTokens } from './queries.ts'

interface Bucket {
  windowStart: number
  tokens: number
  /** The shared window had nothing left when we last asked. */
  full: boolean
  /** The query in flight for this transport, which every waiter shares. */
  taking: Promise<void> | null
}

export interface RateShape {
  windowMs: number
  perSecond: number
  /** Tokens taken per query. */
  chunk: number
}

/**
 * Quarter-second windows once the rate allows one send in each: a burst at
 * a window's edge is then a quarter of a second's worth, not a whole
 * second's. Slower rates get whole seconds, or longer windows below one a
 * second. Each process takes half a window's tokens per query.
 */
export function rateShape(perSecond: number): RateShape {
  const windowMs = perSecond >= 4 ? 250 : perSecond >= 1 ? 1000 : Math.round(1000 / perSecond)
  return { windowMs, perSecond, chunk: Math.max(1, Math.ceil((perSecond * windowMs) / 1000 / 2)) }
}

/**
 * Sends allowed in the window starting at `windowStart`: the whole sends
 * due by its end less those due by its start, so windows of a fractional
 * rate (14.5/s: 3 or 4 per quarter second) add up to the rate exactly.
 */
export function windowCapacity(shape: RateShape, windowStart: number): number {
  const due = (at: number) => Math.floor((shape.perSecond * at) / 1000 + 1e-9)
  return due(windowStart + shape.windowMs) - due(windowStart)
}

export class SendRateLimiter {
  private readonly shapes: Map<string, RateShape>
  private readonly buckets = new Map<string, Bucket>()

  constructor(
    private readonly db: Db,
    perSecond: Readonly<Record<string, number | undefined>>,
    private readonly now: () => number = Date.now,
  ) {
    this.shapes = new Map(
      Object.entries(perSecond).flatMap(([name, rate]) => (rate === undefined ? [] : [[name, rateShape(rate)] as const])),
    )
  }

  limits(transport: string): boolean {
    return this.shapes.has(transport)
  }

  /** Resolves when this process may hand one message to `transport`. */
  async acquire(transport: string): Promise<void> {
    const shape = this.shapes.get(transport)
    if (!shape) return
    let bucket = this.buckets.get(transport)
    if (!bucket) this.buckets.set(transport, (bucket = { windowStart: -1, tokens: 0, full: false, taking: null }))
    for (;;) {
      const windowStart = Math.floor(this.now() / shape.windowMs) * shape.windowMs
      if (bucket.windowStart !== windowStart) Object.assign(bucket, { windowStart, tokens: 0, full: false })
      if (bucket.tokens > 0) {
        bucket.tokens--
        return
      }
      if (bucket.taking) {
        await bucket.taking
        continue
      }
      if (!bucket.full) {
        bucket.taking = this.take(transport, bucket, windowStart, shape).finally(() => (bucket.taking = null))
        await bucket.taking
        continue
      }
      // Spread the wake-ups a little, so processes do not all ask in the same millisecond.
      await Bun.sleep(windowStart + shape.windowMs - this.now() + Math.random() * 5)
    }
  }

  private async take(transport: string, bucket: Bucket, windowStart: number, shape: RateShape): Promise<void> {
    const capacity = windowCapacity(shape, windowStart)
    const granted = capacity === 0 ? 0 : await takeSendTokens(this.db, transport, windowStart, shape.chunk, capacity)
    if (bucket.windowStart !== windowStart) return
    bucket.tokens += granted
    if (granted < shape.chunk) bucket.full = true
  }
}
