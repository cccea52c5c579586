// Protects: digests go out at 08:00 on the learner's own clock — next
// morning for daily, next Monday for weekly — across DST and without a zone.

import { expect, test } from 'bun:test'
import { nextDigestTime, wallClock } from '../../src/preferences/schedule.ts'

const at = (iso: string) => new Date(iso)

test('daily: the next 08:00 local, today if it is still ahead', () => {
  expect(nextDigestTime(at('2026-12-04T06:00:00Z'), 'Europe/London', 'daily').toISOString()).toBe('2026-12-04T08:00:00.000Z')
  expect(nextDigestTime(at('2026-12-04T08:00:00Z'), 'Europe/London', 'daily').toISOString()).toBe('2026-12-05T08:00:00.000Z')
  expect(nextDigestTime(at('2026-12-04T12:00:00Z'), 'Asia/Tokyo', 'daily').toISOString()).toBe('2026-12-04T23:00:00.000Z')
  expect(nextDigestTime(at('2026-12-04T12:00:00Z'), 'America/Los_Angeles', 'daily').toISOString()).toBe('2026-12-04T16:00:00.000Z')
})

test('no zone or an unknown one: 08:00 UTC', () => {
  expect(nextDigestTime(at('2026-12-04T09:00:00Z'), null, 'daily').toISOString()).toBe('2026-12-05T08:00:00.000Z')
  expect(nextDigestTime(at('2026-12-04T09:00:00Z'), 'Mars/Olympus', 'daily').toISOString()).toBe('2026-12-05T08:00:00.000Z')
})

test('weekly: Monday 08:00 local, even when Monday there is Sunday in UTC', () => {
  // Friday 2026-12-04 → Monday 2026-12-07.
  expect(nextDigestTime(at('2026-12-04T12:00:00Z'), 'Europe/Berlin', 'weekly').toISOString()).toBe('2026-12-07T07:00:00.000Z')
  const tokyo = nextDigestTime(at('2026-12-04T12:00:00Z'), 'Asia/Tokyo', 'weekly')
  expect(tokyo.toISOString()).toBe('2026-12-06T23:00:00.000Z')
  expect(wallClock(tokyo, 'Asia/Tokyo')).toMatchObject({ weekday: 1, hour: 8, minute: 0 })
})

test('across a DST change the digest stays at 08:00 local', () => {
  // Europe/London moves to BST on 2027-03-28: 08:00 local is 07:00 UTC from then on.
  expect(nextDigestTime(at('2027-03-27T09:00:00Z'), 'Europe/London', 'daily').toISOString()).toBe('2027-03-28T07:00:00.000Z')
  // New York moves to EDT on 2027-03-14: 08:00 EST is 13:00 UTC, 08:00 EDT is 12:00 UTC.
  expect(nextDigestTime(at('2027-03-13T14:00:00Z'), 'America/New_York', 'daily').toISOString()).toBe('2027-03-14T12:00:00.000Z')
})
