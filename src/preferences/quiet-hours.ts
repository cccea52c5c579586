// Quiet hours: mail the learner did not just cause (reminders, discussion
// updates, digests) waits out their local night. A reminder that would then
// arrive after what it reminds of goes at the last moment before the night
// began instead, or now if that has passed. Learners whose timezone we do
// not know are never held: we cannot tell when their night is.

import { fromWallClock, wallClock } from './schedule.ts'

export interface QuietWindow {
  /** Minutes after local midnight when quiet begins, and when it ends (may wrap past midnight). */
  start: number
  end: number
}

/** Notifications that wait for the morning; everything else is the learner's own doing, essential, or for admins. */
export const QUIET_NOTIFICATIONS: ReadonlySet<string> = new Set([
  'deadline_reminder',
  'session_reminder',
  'discussion_update',
  'digest',
])

const minutesOf = (instant: Date, timeZone: string) => {
  const clock = wallClock(instant, timeZone)
  return clock.hour * 60 + clock.minute + clock.second / 60
}

/** Strictly inside the window: the boundary minutes themselves (21:00, 08:00) are still fair game. */
export function isQuiet(instant: Date, timeZone: string, window: QuietWindow): boolean {
  const m = minutesOf(instant, timeZone)
  return window.start < window.end ? m > window.start && m < window.end : m > window.start || m < window.end
}

/** The instant the local clock shows `minutes` after midnight, `dayOffset` days from the local date of `instant`. */
function atLocalMinutes(instant: Date, timeZone: string, minutes: number, dayOffset: number): Date {
  const clock = wallClock(instant, timeZone)
  // Date.UTC normalises day overflow, so stepping days is plain arithmetic.
  const day = new Date(Date.UTC(clock.year, clock.month - 1, clock.day + dayOffset))
  return fromWallClock(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate(), Math.floor(minutes / 60), timeZone, minutes % 60)
}

/** When the quiet period containing `instant` ends (the next local end time). */
export function quietEnds(instant: Date, timeZone: string, window: QuietWindow): Date {
  for (const offset of [0, 1]) {
    const end = atLocalMinutes(instant, timeZone, window.end, offset)
    if (end > instant) return end
  }
  return atLocalMinutes(instant, timeZone, window.end, 2)
}

/** When the quiet period containing `instant` began (the last local start time before it). */
export function quietBegan(instant: Date, timeZone: string, window: QuietWindow): Date {
  for (const offset of [0, -1]) {
    const start = atLocalMinutes(instant, timeZone, window.start, offset)
    if (start <= instant) return start
  }
  return atLocalMinutes(instant, timeZone, window.start, -2)
}

/**
 * Where a message meant for `at` lands: `at` itself outside quiet hours (or
 * without a timezone); else the end of the night — unless that is not
 * before `deadline`, when it goes at the start of the night if that is
 * still after `now`, or at `now`.
 */
export function outsideQuietHours(
  at: Date,
  timeZone: string | null | undefined,
  window: QuietWindow | null,
  now: Date,
  deadline?: Date,
): Date {
  if (!window || !timeZone || !isQuiet(at, timeZone, window)) return at
  const end = quietEnds(at, timeZone, window)
  if (!deadline || end < deadline) return end
  const began = quietBegan(at, timeZone, window)
  return began > now ? began : now
}
