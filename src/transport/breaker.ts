// A circuit breaker per transport, in this process. After `failures`
// transient failures in a row the circuit opens and the transport is
// skipped for `coolDownMs`; then one message at a time probes it (half
// open), and the first success closes the circuit again. Each process
// learns on its own: that costs each a few failed attempts, and needs no
// shared state to be wrong about.

export interface BreakerOptions {
  /** Transient failures in a row that open the circuit. */
  failures: number
  coolDownMs: number
  now?: () => number
}

export type BreakerState = 'closed' | 'open' | 'half-open'

export class CircuitBreaker {
  private streak = 0
  private openUntil = 0
  private probing = false
  private readonly now: () => number

  constructor(private readonly options: BreakerOptions) {
    this.now = options.now ?? Date.now
  }

  get state(): BreakerState {
    if (this.openUntil === 0) return 'closed'
    return this.now() < this.openUntil ? 'open' : 'half-open'
  }

  /** When an open circuit lets its next probe through. */
  get retryAt(): Date | null {
    return this.openUntil === 0 ? null : new Date(this.openUntil)
  }

  /**
   * May a message go through now? In half-open state only one probe is out
   * at a time; the caller must report how it went (success or failure).
   */
  tryAcquire(): boolean {
    switch (this.state) {
      case 'closed':
        return true
      case 'open':
        return false
      case 'half-open':
        if (this.probing) return false
        this.probing = true
        return true
    }
  }

  /** The transport answered: a send that went through, or a refusal about that one message (a 550). */
  success(): void {
    this.streak = 0
    this.openUntil = 0
    this.probing = false
  }

  /** A failure that says something about the transport (not about one message). */
  failure(): void {
    this.probing = false
    this.streak++
    if (this.openUntil !== 0 || this.streak >= this.options.failures) this.openUntil = this.now() + this.options.coolDownMs
  }

  /** Opens the circuit for `ms` whatever the streak (a provider that paused sending). */
  openFor(ms: number): void {
    this.probing = false
    this.openUntil = Math.max(this.openUntil, this.now() + ms)
  }
}
