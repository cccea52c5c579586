// Who hears about an event, and when: DESIGN.md's event table as one pure
// function. It reads nothing and writes nothing; `ingest.ts` carries the
// plan out in the event's transaction. Keeping it pure keeps every rule here
// testable without a database.

import { createHash } from 'node:crypto'
import { outsideQuietHours, type QuietWindow } from '../preferences/quiet-hours.ts'
import type { ReminderChange } from '../reminders/queries.ts'
import type { IncomingEvent, UserInput } from './model.ts'

export type AdminEnrollmentAlerts = 'paid' | 'all' | 'off'

/** One admin-alert address and which admin notifications it gets. */
export interface AdminAlertRecipient {
  email: string
  enrollment: AdminEnrollmentAlerts
  registrations: boolean
  errors: boolean
}

export interface FanoutSettings {
  adminEmails: readonly string[]
  adminEnrollmentAlerts: AdminEnrollmentAlerts
  /**
   * Per-admin choices. When absent, every address in `adminEmails` gets
   * registrations and errors, and enrollments per `adminEnrollmentAlerts`.
   */
  adminAlerts?: readonly AdminAlertRecipient[]
  defaultLocale: string
  reminderOffsets: readonly number[]
  sessionReminderOffsets: readonly number[]
  /** The learner's night (QUIET_HOURS); reminders are placed outside it. */
  quietHours: QuietWindow | null
}

export interface PlannedMessage {
  notification: string
  toAddress: string
  toName: string | null
  /** The LMS user this message is for; admins have none. */
  lmsUserId: string | null
  locale: string
  variables: Record<string, unknown>
  /** The course it is about, when there is one. */
  courseId?: string
  /** Later than now for reminders; absent means "as soon as possible". */
  runAt?: Date
  subjectRef?: string
  /** Messages with one fold key within a window collapse into one (system errors). */
  foldKey?: string
}

export interface Plan {
  upsert: UserInput[]
  /** What the event changes about a deadline's or a session's reminders. */
  reminder?: ReminderChange
  /** LMS user whose data is erased (user.deleted). */
  erase?: string
  messages: PlannedMessage[]
}

/** How long repeats of one system error fold into one alert. */
export const SYSTEM_ERROR_FOLD_MS = 15 * 60_000

export const deadlineRef = (itemId: string | number) => `deadline:${itemId}`
export const sessionRef = (sessionId: string | number) => `session:${sessionId}`

/** 172800000 → "48h", 900000 → "15m": how templates name a reminder offset. */
export function offsetLabel(ms: number): string {
  if (ms % 86_400_000 === 0 && ms >= 7 * 86_400_000) return `${ms / 86_400_000}d`
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`
  if (ms % 60_000 === 0) return `${ms / 60_000}m`
  return `${Math.round(ms / 1000)}s`
}

/** One entry per user id, the last one winning: an LMS list with a user twice must not mail them twice. */
function distinct(users: UserInput[]): UserInput[] {
  return [...new Map(users.map((user) => [String(user.id), user])).values()]
}

export function planEvent(event: IncomingEvent, settings: FanoutSettings, now: Date): Plan {
  const learner = (notification: string, user: UserInput, variables: Record<string, unknown>): PlannedMessage => ({
    notification,
    toAddress: user.email,
    toName: user.name ?? null,
    lmsUserId: String(user.id),
    locale: user.locale ?? settings.defaultLocale,
    variables: { user, ...variables },
    ...(variables.course ? { courseId: String((variables.course as { id: string | number }).id) } : {}),
  })
  const alertList: readonly AdminAlertRecipient[] =
    settings.adminAlerts ??
    settings.adminEmails.map((email) => ({ email, enrollment: settings.adminEnrollmentAlerts, registrations: true, errors: true }))
  const admins = (
    notification: string,
    variables: Record<string, unknown>,
    extra: Partial<PlannedMessage> = {},
    wants: (admin: AdminAlertRecipient) => boolean = () => true,
  ) =>
    alertList.filter(wants).map(
      ({ email: address }): PlannedMessage => ({
        notification,
        toAddress: address,
        toName: null,
        lmsUserId: null,
        locale: settings.defaultLocale,
        variables,
        ...extra,
      }),
    )
  /** One reminder per offset that is still ahead of us; ones already past are not sent late. */
  const reminders = (
    notification: string,
    users: UserInput[],
    at: Date,
    offsets: readonly number[],
    subjectRef: string,
    variables: Record<string, unknown>,
  ) =>
    offsets
      .filter((offset) => at.getTime() - offset > now.getTime())
      .flatMap((offset) =>
        users.map((user) => ({
          ...learner(notification, user, { ...variables, offset: offsetLabel(offset) }),
          // Not in the learner's night: after it, or before it when after would be too late.
          runAt: outsideQuietHours(new Date(at.getTime() - offset), user.timezone, settings.quietHours, now, at),
          subjectRef,
        })),
      )

  const empty: Plan = { upsert: [], messages: [] }
  switch (event.type) {
    case 'user.registered': {
      const { user } = event.data
      return {
        ...empty,
        upsert: [user],
        messages: [learner('welcome', user, {}), ...admins('admin_user_registered', { user }, {}, (a) => a.registrations)],
      }
    }
    case 'user.updated':
      return { ...empty, upsert: [event.data.user] }
    case 'user.deleted':
      return { ...empty, erase: String(event.data.user.id) }
    case 'enrollment.created': {
      const { user, course, enrollment } = event.data
      const wants = (admin: AdminAlertRecipient) =>
        admin.enrollment === 'all' || (admin.enrollment === 'paid' && Boolean(enrollment.paid))
      return {
        ...empty,
        upsert: [user],
        messages: [
          learner('enrollment_confirmation', user, { course, enrollment }),
          ...admins('admin_enrollment', { user, course, enrollment }, {}, wants),
        ],
      }
    }
    case 'course.completed': {
      const { user, course, completion } = event.data
      return { ...empty, upsert: [user], messages: [learner('course_completed', user, { course, completion })] }
    }
    case 'password_reset.requested': {
      const { user, reset } = event.data
      return { ...empty, upsert: [user], messages: [learner('password_reset', user, { reset })] }
    }
    case 'deadline.scheduled': {
      const { course, item } = event.data
      const users = distinct(event.data.users)
      const ref = deadlineRef(item.id)
      return {
        upsert: users,
        // The same item again replaces its pending reminders: a moved deadline must not remind twice.
        reminder: { kind: 'scheduled', subjectRef: ref, at: new Date(item.due_at), lmsUserIds: users.map((u) => String(u.id)) },
        messages: reminders('deadline_reminder', users, new Date(item.due_at), settings.reminderOffsets, ref, {
          course,
          item,
        }),
      }
    }
    case 'deadline.cancelled': {
      const { item, users } = event.data
      return {
        ...empty,
        reminder: { kind: 'cancelled', subjectRef: deadlineRef(item.id), ...(users ? { lmsUserIds: users.map((u) => String(u.id)) } : {}) },
      }
    }
    case 'session.scheduled': {
      const { course, session } = event.data
      const users = distinct(event.data.users)
      const ref = sessionRef(session.id)
      return {
        upsert: users,
        reminder: { kind: 'scheduled', subjectRef: ref, at: new Date(session.starts_at), lmsUserIds: users.map((u) => String(u.id)) },
        messages: reminders('session_reminder', users, new Date(session.starts_at), settings.sessionReminderOffsets, ref, {
          course,
          session,
        }),
      }
    }
    case 'assignment.submitted': {
      const { user, course, assignment, submission } = event.data
      return {
        upsert: [user],
        reminder: { kind: 'submitted', subjectRef: deadlineRef(assignment.id), lmsUserId: String(user.id) },
        messages: [learner('assignment_submitted', user, { course, assignment, submission })],
      }
    }
    case 'discussion.post_created': {
      const { course, thread, post } = event.data
      const recipients = distinct(event.data.recipients)
      const authorId = String(post.author.id)
      const readers = recipients.filter((user) => String(user.id) !== authorId)
      return {
        ...empty,
        upsert: recipients,
        messages: readers.map((user) => learner('discussion_update', user, { course, thread, post })),
      }
    }
    case 'system.error': {
      const { error } = event.data
      const fingerprint =
        error.fingerprint ?? createHash('sha256').update(`${error.source}\n${error.message}`).digest('hex').slice(0, 16)
      const seen = now.toISOString()
      return {
        ...empty,
        messages: admins(
          'admin_system_error',
          { error: { ...error, fingerprint }, count: 1, first_seen: seen, last_seen: seen },
          { foldKey: `system_error:${fingerprint}` },
          (a) => a.errors,
        ),
      }
    }
  }
}
