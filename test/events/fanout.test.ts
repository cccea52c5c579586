// Protects DESIGN.md's event table rules that need no database: who gets
// which email, when reminders fall, and who is left out.

import { describe, expect, test } from 'bun:test'
import { planEvent, type FanoutSettings } from '../../src/events/fanout.ts'
import { validateEvent, type IncomingEvent } from '../../src/events/model.ts'

const settings: FanoutSettings = {
  adminEmails: ['ops@school.test', 'dean@school.test'],
  adminEnrollmentAlerts: 'paid',
  defaultLocale: 'en',
  reminderOffsets: [48 * 3_600_000, 2 * 3_600_000],
  sessionReminderOffsets: [24 * 3_600_000, 15 * 60_000],
  quietHours: { start: 21 * 60, end: 8 * 60 },
}
const now = new Date('2026-12-01T12:00:00Z')
const ada = { id: 7, email: 'ada@learner.test', name: 'Ada', timezone: 'Europe/London' }
const course = { id: 'c1', title: 'Algebra', url: 'https://lms.test/c1' }

function event(type: string, data: unknown): IncomingEvent {
  const result = validateEvent({ type, data })
  if (!result.ok) throw new Error(JSON.stringify(result.details))
  return result.event
}

describe('planEvent', () => {
  test('a free enrollment tells the learner but not the admins; a paid one tells both', () => {
    const free = planEvent(event('enrollment.created', { user: ada, course, enrollment: { id: 1 } }), settings, now)
    expect(free.messages.map((m) => m.notification)).toEqual(['enrollment_confirmation'])
    const paid = planEvent(
      event('enrollment.created', { user: ada, course, enrollment: { id: 1, paid: { amount: 49, currency: 'EUR' } } }),
      settings,
      now,
    )
    expect(paid.messages.map((m) => `${m.notification}:${m.toAddress}`)).toEqual([
      'enrollment_confirmation:ada@learner.test',
      'admin_enrollment:ops@school.test',
      'admin_enrollment:dean@school.test',
    ])
  })

  test('the admin enrollment setting can send every enrollment or none', () => {
    const data = { user: ada, course, enrollment: { id: 1 } }
    expect(planEvent(event('enrollment.created', data), { ...settings, adminEnrollmentAlerts: 'all' }, now).messages).toHaveLength(3)
    const paid = { ...data, enrollment: { id: 1, paid: { amount: 1, currency: 'USD' } } }
    expect(planEvent(event('enrollment.created', paid), { ...settings, adminEnrollmentAlerts: 'off' }, now).messages).toHaveLength(1)
  })

  test('deadline reminders fall at each offset before due, skip offsets already past, and replace earlier ones', () => {
    const dueIn30h = new Date(now.getTime() + 30 * 3_600_000).toISOString()
    const plan = planEvent(
      event('deadline.scheduled', {
        users: [ada, { id: 8, email: 'bo@learner.test' }],
        course,
        item: { id: 'a1', kind: 'assignment', title: 'Essay', due_at: dueIn30h },
      }),
      settings,
      now,
    )
    // 48 h before is already past; only the 2 h reminder remains, for both learners.
    expect(plan.messages.map((m) => [m.toAddress, m.runAt?.toISOString(), m.variables.offset])).toEqual([
      ['ada@learner.test', new Date(now.getTime() + 28 * 3_600_000).toISOString(), '2h'],
      ['bo@learner.test', new Date(now.getTime() + 28 * 3_600_000).toISOString(), '2h'],
    ])
    expect(plan.reminder).toEqual({ kind: 'scheduled', subjectRef: 'deadline:a1', at: new Date(dueIn30h), lmsUserIds: ['7', '8'] })
  })

  test('a reminder that would fall in the learner\'s night moves to the morning, or the evening before when the morning is too late', () => {
    // now: 2026-12-01 12:00 UTC. Ada is in Tokyo (UTC+9).
    const tokyo = { id: 9, email: 'kei@learner.test', timezone: 'Asia/Tokyo' }
    const plan = (due: string) =>
      planEvent(
        event('deadline.scheduled', { users: [tokyo], course, item: { id: 'q', kind: 'quiz', title: 'Quiz', due_at: due } }),
        { ...settings, reminderOffsets: [2 * 3_600_000] },
        now,
      ).messages.map((m) => m.runAt?.toISOString())
    // Due 04:00 Tokyo on the 3rd: the 02:00 reminder waits... until 08:00, after the deadline, so 21:00 the evening before.
    expect(plan('2026-12-02T19:00:00Z')).toEqual(['2026-12-02T12:00:00.000Z'])
    // Due 16:00 Tokyo: the 14:00 reminder is daytime, untouched.
    expect(plan('2026-12-03T07:00:00Z')).toEqual(['2026-12-03T05:00:00.000Z'])
    // Due 10:00 Tokyo: the 08:00 reminder is on the boundary, untouched; due 09:30 → 07:30 moves to 08:00.
    expect(plan('2026-12-03T01:00:00Z')).toEqual(['2026-12-02T23:00:00.000Z'])
    expect(plan('2026-12-03T00:30:00Z')).toEqual(['2026-12-02T23:00:00.000Z'])
  })

  test('a discussion post reaches every recipient but its author', () => {
    const plan = planEvent(
      event('discussion.post_created', {
        course,
        thread: { id: 't', title: 'Week 1', url: 'https://lms.test/t' },
        post: { id: 'p', author: { id: 7, name: 'Ada' }, excerpt: 'Hi all' },
        recipients: [ada, { id: 8, email: 'bo@learner.test' }],
      }),
      settings,
      now,
    )
    expect(plan.messages.map((m) => m.toAddress)).toEqual(['bo@learner.test'])
    expect(plan.upsert).toHaveLength(2)
  })

  test('submitting an assignment cancels only that learner\'s reminders for it', () => {
    const plan = planEvent(
      event('assignment.submitted', {
        user: ada,
        course,
        assignment: { id: 'a1', title: 'Essay' },
        submission: { id: 's', submitted_at: now.toISOString() },
      }),
      settings,
      now,
    )
    expect(plan.reminder).toEqual({ kind: 'submitted', subjectRef: 'deadline:a1', lmsUserId: '7' })
  })

  test('a learner without a locale gets the default one; one with a locale keeps it', () => {
    const plan = planEvent(event('user.registered', { user: { ...ada, locale: 'fr-CA' } }), settings, now)
    expect(plan.messages[0]?.locale).toBe('fr-CA')
    expect(plan.messages[1]?.locale).toBe('en')
  })

  test('system errors carry a fold key from their fingerprint, or from source and message', () => {
    const withPrint = planEvent(
      event('system.error', { error: { source: 'lms', message: 'db down', severity: 'critical', fingerprint: 'db' } }),
      settings,
      now,
    )
    expect(withPrint.messages.map((m) => m.foldKey)).toEqual(['system_error:db', 'system_error:db'])
    const without = planEvent(event('system.error', { error: { source: 'lms', message: 'db down', severity: 'error' } }), settings, now)
    expect(without.messages[0]?.foldKey).toMatch(/^system_error:[0-9a-f]{16}$/)
  })
})

describe('planEvent with per-admin alert choices', () => {
  const perAdmin: FanoutSettings = {
    ...settings,
    adminAlerts: [
      { email: 'ops@school.test', enrollment: 'paid', registrations: true, errors: true },
      { email: 'dean@school.test', enrollment: 'all', registrations: false, errors: false },
      { email: 'finance@school.test', enrollment: 'off', registrations: false, errors: true },
    ],
  }

  test('each admin gets only the alerts they chose', () => {
    const free = planEvent(event('enrollment.created', { user: ada, course, enrollment: { id: 1 } }), perAdmin, now)
    expect(free.messages.filter((m) => m.notification === 'admin_enrollment').map((m) => m.toAddress)).toEqual(['dean@school.test'])
    const paid = planEvent(
      event('enrollment.created', { user: ada, course, enrollment: { id: 1, paid: { amount: 5, currency: 'EUR' } } }),
      perAdmin,
      now,
    )
    expect(paid.messages.filter((m) => m.notification === 'admin_enrollment').map((m) => m.toAddress)).toEqual([
      'ops@school.test',
      'dean@school.test',
    ])
    const registered = planEvent(event('user.registered', { user: ada }), perAdmin, now)
    expect(registered.messages.filter((m) => m.lmsUserId === null).map((m) => m.toAddress)).toEqual(['ops@school.test'])
    const error = planEvent(event('system.error', { error: { source: 'lms', message: 'x', severity: 'error' } }), perAdmin, now)
    expect(error.messages.map((m) => m.toAddress)).toEqual(['ops@school.test', 'finance@school.test'])
  })
})
