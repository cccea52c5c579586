// Protects the send-time decision: suppression beats everything, password
// resets always go, an opt-out or a mute skips with its reason, digests wait
// for the learner's morning, and the budget spills into the digest.

import { describe, expect, test } from 'bun:test'
import { decide } from '../../src/preferences/check.ts'
import type { GateFacts } from '../../src/preferences/queries.ts'

const now = new Date('2026-12-04T12:00:00Z')
const facts = (over: Partial<GateFacts> = {}): GateFacts => ({
  frequency: 'immediately',
  courseMuted: false,
  unsubscribed: false,
  suppressed: false,
  timeZone: 'Europe/Paris',
  budgetUsed: 0,
  ...over,
})
const message = (over: Partial<Parameters<typeof decide>[0]> = {}) => ({
  id: 'm',
  recipientId: 'r',
  toAddress: 'a@b.test',
  category: 'discussions',
  courseId: 'c1',
  notification: 'discussion_update',
  ...over,
})
const policy = { budgetPerDay: 10, quietHours: { start: 21 * 60, end: 8 * 60 } }

describe('decide', () => {
  test('a suppressed address gets nothing, not even a password reset or an admin alert', () => {
    expect(decide(message({ notification: 'password_reset', category: 'account' }), facts({ suppressed: true }), policy, now)).toEqual({
      action: 'skip',
      reason: 'suppressed',
    })
    expect(decide(message({ recipientId: null, category: 'admin' }), facts({ suppressed: true }), policy, now).action).toBe('skip')
  })

  test('a password reset goes out whatever the learner chose', () => {
    const reset = message({ notification: 'password_reset', category: 'account', courseId: null })
    for (const f of [facts({ frequency: 'off' }), facts({ unsubscribed: true }), facts({ frequency: 'daily' })]) {
      expect(decide(reset, f, policy, now)).toEqual({ action: 'send' })
    }
  })

  test('off, unsubscribed-from-everything and a muted course skip with their reason', () => {
    expect(decide(message(), facts({ frequency: 'off' }), policy, now)).toEqual({ action: 'skip', reason: 'preference' })
    expect(decide(message(), facts({ unsubscribed: true }), policy, now)).toEqual({ action: 'skip', reason: 'preference' })
    expect(decide(message(), facts({ courseMuted: true }), policy, now)).toEqual({ action: 'skip', reason: 'course_muted' })
  })

  test('daily and weekly wait for 08:00 in the learner\'s zone', () => {
    expect(decide(message(), facts({ frequency: 'daily' }), policy, now)).toEqual({
      action: 'digest',
      runAt: new Date('2026-12-05T07:00:00Z'),
      reason: 'preference',
    })
    expect(decide(message(), facts({ frequency: 'weekly' }), policy, now)).toEqual({
      action: 'digest',
      runAt: new Date('2026-12-07T07:00:00Z'),
      reason: 'preference',
    })
  })

  test('over the day\'s budget for a course, immediate mail rolls into the next daily digest', () => {
    expect(decide(message(), facts({ budgetUsed: 9 }), policy, now)).toEqual({ action: 'send' })
    expect(decide(message(), facts({ budgetUsed: 10 }), policy, now)).toEqual({
      action: 'digest',
      runAt: new Date('2026-12-05T07:00:00Z'),
      reason: 'budget',
    })
    // Mail about no course is not budgeted.
    expect(decide(message({ courseId: null }), facts({ budgetUsed: 50 }), policy, now)).toEqual({ action: 'send' })
  })

  test('admin alerts ignore learner preferences', () => {
    expect(decide(message({ recipientId: null, category: 'admin' }), facts({ frequency: 'off' }), policy, now)).toEqual({
      action: 'send',
    })
  })

  test('at night, reminders and discussion updates wait for the morning; confirmations, resets and zone-less learners do not', () => {
    const night = new Date('2026-12-04T22:00:00Z') // 23:00 in Paris
    expect(decide(message(), facts(), policy, night)).toEqual({
      action: 'defer',
      runAt: new Date('2026-12-05T07:00:00Z'),
      reason: 'quiet_hours',
    })
    const reminder = message({ notification: 'deadline_reminder', category: 'reminders', deadline: new Date('2026-12-05T06:00:00Z') })
    // Due at 07:00 Paris, before the night ends, and the evening has passed: now.
    expect(decide(reminder, facts(), policy, night)).toEqual({ action: 'send' })
    expect(decide(message({ notification: 'course_completed', category: 'progress' }), facts(), policy, night)).toEqual({ action: 'send' })
    expect(decide(message({ notification: 'password_reset', category: 'account' }), facts(), policy, night)).toEqual({ action: 'send' })
    expect(decide(message(), facts({ timeZone: null }), policy, night)).toEqual({ action: 'send' })
    expect(decide(message(), facts(), { ...policy, quietHours: null }, night)).toEqual({ action: 'send' })
  })
})
