// Several transports behind one: a weighted split (MAIL_TRANSPORTS), a
// fallback (MAIL_FALLBACK) for when the chosen one's circuit is open, the
// per-transport send rate, and a provider's pause (SES SendingPaused,
// AccountSuspended) — the transport is left alone for a while and the
// message goes another way, or waits without using up an attempt.

import type { WeightedTransport } from '../config.ts'
import { CircuitBreaker } from './breaker.ts'
import type { SendRateLimiter } from './rate-limit.ts'
import { TransportError, type OutgoingMail, type SendResult, type Transport } from './types.ts'

/** What SES says when it stopped taking our mail: nothing about this message, so no attempt is spent on it. */
const PAUSE_CODES = new Set(['SendingPausedException', 'AccountSuspendedException'])

export interface RouterOptions {
  transports: ReadonlyMap<string, Transport>
  split: readonly WeightedTransport[]
  fallback?: string | undefined
  breaker: { failures: number; coolDownMs: number }
  /** How long a paused provider is left alone before it is tried again. */
  pauseMs: number
  limiter?: SendRateLimiter
  /** Told once per pause, for the admins' alert. */
  onPause?(transport: string, error: TransportError): void
  random?: () => number
  now?: () => number
}

export interface RouteHealth {
  transport: string
  weight: number
  fallback: boolean
  state: 'closed' | 'open' | 'half-open'
  retryAt: Date | null
}

export class TransportRouter implements Transport {
  private readonly breakers = new Map<string, CircuitBreaker>()
  private split: readonly WeightedTransport[]
  private fallback: string | undefined
  private readonly random: () => number

  constructor(private readonly options: RouterOptions) {
    this.split = options.split
    this.fallback = options.fallback
    this.random = options.random ?? Math.random
    for (const name of options.transports.keys()) {
      this.breakers.set(name, new CircuitBreaker({ ...options.breaker, ...(options.now ? { now: options.now } : {}) }))
    }
  }

  /** The primary's name, for the admin pages; each attempt records the transport that actually took it. */
  get name(): string {
    return this.split.find((s) => s.weight > 0)?.name ?? this.split[0]!.name
  }

  /** The transports this process has (MAIL_TRANSPORTS and MAIL_FALLBACK): what a new routing may use. */
  get configured(): string[] {
    return [...this.options.transports.keys()]
  }

  /** The split and fallback as they are now. */
  get routing(): { split: readonly WeightedTransport[]; fallback: string | undefined } {
    return { split: this.split, fallback: this.fallback }
  }

  /**
   * A new split and fallback (the admin settings), or back to the ones it
   * started with. Only configured transports may be named: the others have
   * no credentials here. Returns why a routing is refused, or null.
   */
  reroute(routing: { split: readonly WeightedTransport[]; fallback: string | undefined } | null): string | null {
    const next = routing ?? { split: this.options.split, fallback: this.options.fallback }
    const unknown = [...next.split.map((s) => s.name), ...(next.fallback ? [next.fallback] : [])].find((n) => !this.options.transports.has(n))
    if (unknown) return `${unknown} is not configured in this process (MAIL_TRANSPORTS, MAIL_FALLBACK)`
    if (!next.split.some((s) => s.weight > 0)) return 'at least one transport needs a weight above zero'
    this.split = next.split
    this.fallback = next.fallback
    return null
  }

  health(): RouteHealth[] {
    return [...this.options.transports.keys()].map((transport) => {
      const breaker = this.breakers.get(transport)!
      return {
        transport,
        weight: this.split.find((s) => s.name === transport)?.weight ?? 0,
        fallback: this.fallback === transport,
        state: breaker.state,
        retryAt: breaker.state === 'closed' ? null : breaker.retryAt,
      }
    })
  }

  async send(mail: OutgoingMail): Promise<SendResult> {
    const tried = new Set<string>()
    for (;;) {
      const name = this.choose(tried)
      if (!name) throw this.nothingAvailable()
      tried.add(name)
      const breaker = this.breakers.get(name)!
      try {
        await this.options.limiter?.acquire(name)
        const result = await this.options.transports.get(name)!.send(mail)
        breaker.success()
        return { ...result, transport: name }
      } catch (error) {
        const failure = error instanceof TransportError ? error : new TransportError('transient', String((error as Error)?.message ?? error))
        failure.transport = name
        if (failure.code && PAUSE_CODES.has(failure.code)) {
          // Nothing was sent: try the next way out now, with this message's attempt intact.
          breaker.openFor(this.options.pauseMs)
          this.options.onPause?.(name, failure)
          continue
        }
        // A refusal of this one message (a 550) says the transport itself works.
        if (failure.kind === 'permanent') breaker.success()
        else if (this.hasAlternative()) breaker.failure()
        throw failure
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.options.transports.values()].map((t) => t.close()))
  }

  /** With one way out there is nothing to fail over to: a failing transport is retried message by message, as before. */
  private hasAlternative(): boolean {
    return this.split.filter((s) => s.weight > 0).length > 1 || (this.fallback !== undefined && !this.split.every((s) => s.name === this.fallback))
  }

  /** A weighted pick among the transports whose circuit lets a message through; then the fallback. */
  private choose(tried: ReadonlySet<string>): string | undefined {
    const open = (name: string) => !tried.has(name) && this.breakers.get(name)!.state !== 'open'
    let candidates = this.split.filter((s) => s.weight > 0 && open(s.name))
    while (candidates.length > 0) {
      const total = candidates.reduce((sum, c) => sum + c.weight, 0)
      let point = this.random() * total
      const picked = candidates.find((c) => (point -= c.weight) < 0) ?? candidates[candidates.length - 1]!
      if (this.breakers.get(picked.name)!.tryAcquire()) return picked.name
      // Half open with its one probe already out: the others, or the fallback.
      candidates = candidates.filter((c) => c !== picked)
    }
    if (this.fallback && open(this.fallback) && this.breakers.get(this.fallback)!.tryAcquire()) return this.fallback
    return undefined
  }

  private nothingAvailable(): TransportError {
    const waits = [...this.breakers.entries()].map(([name, b]) => ({ name, at: b.retryAt?.getTime() ?? 0 }))
    const next = Math.min(...waits.map((w) => w.at).filter((at) => at > 0))
    const error = new TransportError(
      'paused',
      `no transport is taking mail: ${waits.map((w) => `${w.name} ${w.at ? `resting until ${new Date(w.at).toISOString()}` : 'busy'}`).join(', ')}`,
      'ENOTRANSPORT',
    )
    error.retryAt = Number.isFinite(next) ? new Date(next) : new Date(Date.now() + 1000)
    return error
  }
}
