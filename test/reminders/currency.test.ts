// The send-time question for a reminder: still worth sending, or why not.

import { describe, expect, test } from 'bun:test'
import { remindedTime, staleReason } from '../../src/reminders/currency.ts'

const now = new Date('2026-12-10T12:00:00Z')
const due = '2026-12-11T17:00:00Z'
const deadline = { item: { id: 'a1', due_at: due } }

describe('staleReason', () => {
  test('a reminder for the deadline as the LMS last stated it is current', () => {
    expect(staleReason(deadline, { subject: { at: new Date(due), cancelledAt: null } }, now)).toBeNull()
  })

  test('cancelled for everyone, handed in, or cancelled for this learner: each says so', () => {
    expect(staleReason(deadline, { subject: { at: new Date(due), cancelledAt: now } }, now)).toBe('cancelled')
    expect(staleReason(deadline, { subject: { at: new Date(due), cancelledAt: null }, exclusion: 'submitted' }, now)).toBe('submitted')
    expect(staleReason(deadline, { exclusion: 'cancelled' }, now)).toBe('cancelled')
  })

  test('written for a date the LMS has since moved: rescheduled', () => {
    expect(staleReason(deadline, { subject: { at: new Date('2026-12-12T17:00:00Z'), cancelledAt: null } }, now)).toBe('rescheduled')
  })

  test('held until the deadline or the session start has passed: too late, whatever else is true', () => {
    const late = new Date('2026-12-11T17:00:00Z')
    expect(staleReason(deadline, { subject: { at: new Date(due), cancelledAt: null } }, late)).toBe('too_late')
    const session = { session: { id: 's', starts_at: '2026-12-10T11:59:00Z' } }
    expect(staleReason(session, {}, now)).toBe('too_late')
  })

  test('remindedTime reads a deadline or a session, and ignores what is not a date', () => {
    expect(remindedTime(deadline)?.toISOString()).toBe('2026-12-11T17:00:00.000Z')
    expect(remindedTime({ session: { starts_at: '2026-12-10T09:00:00Z' } })?.toISOString()).toBe('2026-12-10T09:00:00.000Z')
    expect(remindedTime({ item: { due_at: 'soon' } })).toBeUndefined()
    expect(remindedTime({})).toBeUndefined()
  })
})
