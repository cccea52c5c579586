// Send slots: at most WORKER_CONCURRENCY messages are with a transport at
// once, while up to a claim window's worth more wait here already claimed,
// gated and rendered. A wait is bounded: a message that cannot get a slot
// well inside its lease goes back to the queue unsent, rather than be sent
// after its lease ran out, when another process may have taken it over.

export class SendSlots {
  private free: number
  private readonly waiting: (() => void)[] = []

  constructor(size: number) {
    this.free = size
  }

  /** Resolves true holding a slot (give it back with release()), or false when none came free within `waitMs`. */
  acquire(waitMs: number): Promise<boolean> {
    if (this.free > 0) {
      this.free--
      return Promise.resolve(true)
    }
    return new Promise((resolve) => {
      const take = () => {
        clearTimeout(timer)
        resolve(true)
      }
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(take), 1)
        resolve(false)
      }, waitMs)
      this.waiting.push(take)
    })
  }

  release(): void {
    // A slot given back goes straight to the longest waiter, so the count never dips below zero.
    const next = this.waiting.shift()
    if (next) next()
    else this.free++
  }
}
