// Which messages are tracked. Never: security-sensitive mail (a password
// reset link must reach the reader untouched and unlogged), anything when
// TRACKING=off, and categories an admin switched off. Admin alerts are not
// tracked either: they go to the people who run Belfry, and their opens
// would only blur the learners' numbers.

import type { Executor } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { ESSENTIAL_NOTIFICATIONS } from '../preferences/categories.ts'
import { getSetting } from '../settings/queries.ts'
import { SETTING } from '../settings/runtime.ts'

/**
 * Every essential notification is untracked (DESIGN.md: essential mail is
 * never tracked); password_reset is named as well so that it stays
 * untracked should it ever stop being essential.
 */
export const UNTRACKED_NOTIFICATIONS: ReadonlySet<string> = new Set([...ESSENTIAL_NOTIFICATIONS, 'password_reset'])

const UNTRACKED_CATEGORIES: ReadonlySet<string> = new Set(['admin'])

export interface TrackedSubject {
  notification: string
  category: string
}

/** The setting as stored; anything but a list of strings means nothing is switched off. */
export function readOffCategories(value: unknown): Set<string> {
  return new Set(Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [])
}

/**
 * The tracking switches. Rendering is synchronous, so the admin setting is
 * cached and re-read in the background once it is `cacheMs` old: a change
 * reaches every process within seconds without a query per message.
 */
export class TrackingPolicy {
  private off: ReadonlySet<string> = new Set()
  private loadedAt = Number.NEGATIVE_INFINITY
  private loading: Promise<void> | null = null

  constructor(
    private readonly db: Executor,
    readonly enabled: boolean,
    private readonly log: Logger,
    private readonly cacheMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the setting now; a failed read keeps the last known list. */
  refresh(): Promise<void> {
    this.loading ??= getSetting<unknown>(this.db, SETTING.trackingOffCategories)
      .then((value) => {
        this.off = readOffCategories(value)
        this.loadedAt = this.now()
      })
      .catch((error) => this.log.error('could not read the tracking setting', { error }))
      .finally(() => {
        this.loading = null
      })
    return this.loading
  }

  /** Whether a message gets the pixel and tracked links; sync, from the cached setting. */
  tracks(message: TrackedSubject): boolean {
    if (this.now() - this.loadedAt >= this.cacheMs) void this.refresh()
    return this.allows(message)
  }

  /** Whether a hit on a message's tracking URL is recorded, with the setting as it is now. */
  async records(message: TrackedSubject): Promise<boolean> {
    if (!this.enabled) return false
    if (this.now() - this.loadedAt >= this.cacheMs) await this.refresh()
    return this.allows(message)
  }

  private allows(message: TrackedSubject): boolean {
    return (
      this.enabled &&
      !UNTRACKED_NOTIFICATIONS.has(message.notification) &&
      !UNTRACKED_CATEGORIES.has(message.category) &&
      !this.off.has(message.category)
    )
  }
}
