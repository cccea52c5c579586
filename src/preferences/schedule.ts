// When a digest goes out: 08:00 on the recipient's own clock (UTC when we do
// not know their zone), the next morning for daily, the next Monday for
// weekly. Time zones come from Intl, so DST changes are handled by the
// platform's tz database rather than by us.

export const DIGEST_HOUR = 8

interface WallClock {
  year: number
  month: number
  day: number
  hour: number
  minute: number
  second: number
  weekday: number // 0 = Sunday
}

const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat']
const formatters = new Map<string, Intl.DateTimeFormat>()

function formatter(timeZone: string): Intl.DateTimeFormat {
  let format = formatters.get(timeZone)
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
    })
    formatters.set(timeZone, format)
  }
  return format
}

export function wallClock(instant: Date, timeZone: string): WallClock {
  const parts = Object.fromEntries(formatter(timeZone).formatToParts(instant).map((p) => [p.type, p.value]))
  return {
    year: Number(parts.year),
    month: Number(parts.month),
    day: Number(parts.day),
    hour: Number(parts.hour),
    minute: Number(parts.minute),
    second: Number(parts.second),
    weekday: WEEKDAYS.indexOf(parts.weekday ?? 'Sun'),
  }
}

/** The instant at which the clock in `timeZone` shows this date and time. */
export function fromWallClock(year: number, month: number, day: number, hour: number, timeZone: string, minute = 0): Date {
  const wanted = Date.UTC(year, month - 1, day, hour, minute)
  let guess = wanted
  // Two corrections settle every offset change, DST included.
  for (let i = 0; i < 2; i++) {
    const seen = wallClock(new Date(guess), timeZone)
    const shown = Date.UTC(seen.year, seen.month - 1, seen.day, seen.hour, seen.minute, seen.second)
    guess += wanted - shown
  }
  return new Date(guess)
}

function safeZone(timeZone: string | null | undefined): string {
  if (!timeZone) return 'UTC'
  try {
    formatter(timeZone)
    return timeZone
  } catch {
    return 'UTC'
  }
}

/** The next 08:00 local after `now` (daily), or the next Monday 08:00 local (weekly). */
export function nextDigestTime(now: Date, timeZone: string | null | undefined, period: 'daily' | 'weekly'): Date {
  const zone = safeZone(timeZone)
  const today = wallClock(now, zone)
  for (let ahead = 0; ahead <= 8; ahead++) {
    // Date.UTC normalises day overflow (Jan 32 → Feb 1), so stepping days is plain arithmetic.
    const date = new Date(Date.UTC(today.year, today.month - 1, today.day + ahead))
    if (period === 'weekly' && date.getUTCDay() !== 1) continue
    const at = fromWallClock(date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate(), DIGEST_HOUR, zone)
    if (at.getTime() > now.getTime()) return at
  }
  throw new Error('unreachable: a Monday 08:00 lies within eight days')
}
