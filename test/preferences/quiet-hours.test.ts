// Protects quiet hours: night-time mail waits for the learner's morning, a
// reminder that would then be too late goes the evening before (or now),
// and learners without a timezone are never held.

import { describe, expect, test } from 'bun:test'
import { isQuiet, outsideQuietHours } from '../../src/preferences/quiet-hours.ts'

const night = { start: 21 * 60, end: 8 * 60 }
const iso = (d: Date) => d.toISOString()

describe('quiet hours', () => {
  test('the window wraps midnight; its boundary minutes are not quiet', () => {
    expect(isQuiet(new Date('2026-12-04T13:00:00Z'), 'Asia/Tokyo', night)).toBe(true) // 22:00 Tokyo
    expect(isQuiet(new Date('2026-12-04T17:00:00Z'), 'Asia/Tokyo', night)).toBe(true) // 02:00
    expect(isQuiet(new Date('2026-12-04T23:00:00Z'), 'Asia/Tokyo', night)).toBe(false) // 08:00
    expect(isQuiet(new Date('2026-12-04T12:00:00Z'), 'Asia/Tokyo', night)).toBe(false) // 21:00
    expect(isQuiet(new Date('2026-12-04T03:00:00Z'), 'Asia/Tokyo', night)).toBe(false) // 12:00
  })

  test('a reminder due at 02:00 Tokyo goes at 08:00 Tokyo', () => {
    const at = new Date('2026-12-04T17:00:00Z') // 02:00 on the 5th in Tokyo
    const deadline = new Date('2026-12-05T05:00:00Z') // 14:00 Tokyo
    expect(iso(outsideQuietHours(at, 'Asia/Tokyo', night, new Date('2026-12-03T00:00:00Z'), deadline))).toBe(
      '2026-12-04T23:00:00.000Z',
    )
  })

  test('one whose deadline is 07:00 goes at 21:00 the evening before', () => {
    const at = new Date('2026-12-04T17:00:00Z') // 02:00 Tokyo
    const deadline = new Date('2026-12-04T22:00:00Z') // 07:00 Tokyo
    expect(iso(outsideQuietHours(at, 'Asia/Tokyo', night, new Date('2026-12-03T00:00:00Z'), deadline))).toBe(
      '2026-12-04T12:00:00.000Z',
    )
    // Decided after 21:00 has passed: now.
    const now = new Date('2026-12-04T17:00:00Z')
    expect(iso(outsideQuietHours(at, 'Asia/Tokyo', night, now, deadline))).toBe(iso(now))
  })

  test('no timezone, no quiet hours configured, or daytime: unchanged', () => {
    const at = new Date('2026-12-04T17:00:00Z')
    expect(outsideQuietHours(at, null, night, at)).toBe(at)
    expect(outsideQuietHours(at, 'Asia/Tokyo', null, at)).toBe(at)
    const noon = new Date('2026-12-04T03:00:00Z')
    expect(outsideQuietHours(noon, 'Asia/Tokyo', night, noon)).toBe(noon)
  })

  test('a window within one day (13:00-14:00) works too', () => {
    const lunch = { start: 13 * 60, end: 14 * 60 }
    const at = new Date('2026-12-04T13:30:00Z')
    expect(iso(outsideQuietHours(at, 'UTC', lunch, at))).toBe('2026-12-04T14:00:00.000Z')
  })
})
