// In-process token buckets: each key (an API key, a client address) holds
// up to `capacity` tokens and gets `capacity` back per `windowMs`, smoothly.
// Per process, not cluster-wide: N processes behind a balancer allow up to
// N times the rate, which is enough to stop a runaway client and costs no
// database round trip per request.

export interface Rate {
  /** Requests allowed per window, and the burst size. */
  capacity: number
  windowMs: number
}

interface Bucket {
  tokens: number
  at: number
}

export type Take = { ok: true } | { ok: false; retryAfterSeconds: number }

export class TokenBuckets {
  private readonly buckets = new Map<string, Bucket>()
  private readonly perMs: number

  constructor(
    readonly rate: Rate,
    private readonly now: () => number = Date.now,
    /** Past this many keys, full buckets are forgotten (they would hold no state worth keeping). */
    private readonly maxKeys = 100_000,
  ) {
    this.perMs = rate.capacity / rate.windowMs
  }

  take(key: string): Take {
    const now = this.now()
    const bucket = this.buckets.get(key) ?? { tokens: this.rate.capacity, at: now }
    bucket.tokens = Math.min(this.rate.capacity, bucket.tokens + (now - bucket.at) * this.perMs)
    bucket.at = now
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1
      this.remember(key, bucket)
      return { ok: true }
    }
    this.remember(key, bucket)
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - bucket.tokens) / this.perMs / 1000)) }
  }

  private remember(key: string, bucket: Bucket) {
    this.buckets.set(key, bucket)
    if (this.buckets.size <= this.maxKeys) return
    const now = this.now()
    for (const [k, b] of this.buckets) {
      if (b.tokens + (now - b.at) * this.perMs >= this.rate.capacity) this.buckets.delete(k)
    }
    // Everyone is mid-burst: drop the oldest keys rather than grow without bound.
    for (const k of this.buckets.keys()) {
      if (this.buckets.size <= this.maxKeys) break
      this.buckets.delete(k)
    }
  }
}

/** A 429 with Retry-After, in the API's JSON error shape. */
export function tooManyRequests(retryAfterSeconds: number, what: string): Response {
  return new Response(JSON.stringify({ error: 'rate_limited', message: `too many requests ${what}; retry after ${retryAfterSeconds} s` }), {
    status: 429,
    headers: { 'content-type': 'application/json', 'retry-after': String(retryAfterSeconds) },
  })
}
