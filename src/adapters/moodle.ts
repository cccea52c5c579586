// Moodle's standard event data → Belfry events. Moodle names people and
// courses by id; the web service functions (REST protocol, JSON format)
// answer the rest with the token an admin created for Belfry's service user.

import type { UserInput } from '../events/model.ts'
import { htmlToText, isEmail, knownLocale, knownTimeZone, LookupError, RestClient, type Fetcher } from './lookup.ts'
import { describeNative, iso, isHttpUrl, MappingError, NotNativeEvent, text, type BelfryEvent, type MapOutcome, type NativeDescriptor } from './model.ts'
import { PhpSerializeError, readMoodleOther } from './php-serialize.ts'

export interface MoodleEvent {
  eventname: string
  objectid?: number | string | null
  userid?: number | string | null
  relateduserid?: number | string | null
  courseid?: number | string | null
  contextinstanceid?: number | string | null
  timecreated?: number | string
  other: Record<string, unknown>
}

export function readMoodleEvent(payload: unknown): MoodleEvent {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new NotNativeEvent('expected one Moodle event object')
  const value = payload as Record<string, unknown>
  if (typeof value.eventname !== 'string' || !value.eventname.startsWith('\\')) throw new NotNativeEvent('eventname is missing (expected e.g. "\\\\core\\\\event\\\\user_created")')
  let other: Record<string, unknown>
  try {
    other = readMoodleOther(value.other)
  } catch (error) {
    if (error instanceof PhpSerializeError || error instanceof SyntaxError) throw new NotNativeEvent(`other could not be read: ${error.message}`)
    throw error
  }
  return { ...(value as unknown as MoodleEvent), other }
}

export function describeMoodle(event: MoodleEvent): NativeDescriptor {
  const time = iso(typeof event.timecreated === 'string' ? Number(event.timecreated) : event.timecreated)
  return describeNative(event.eventname, text(event.objectid) ?? null, time ? new Date(time) : null)
}

interface MoodleUser {
  id: number
  fullname?: string
  firstname?: string
  lastname?: string
  email?: string
  lang?: string
  timezone?: string
  roles?: { shortname?: string }[]
}

export class MoodleApi {
  readonly rest: RestClient

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    fetcher?: Fetcher,
  ) {
    this.rest = new RestClient('Moodle', baseUrl, fetcher)
  }

  /** One web service function, arguments in Moodle's bracketed form encoding (`values[0]=2`). */
  call<T>(wsfunction: string, args: Record<string, string | number | (string | number)[]>): Promise<T> {
    const form = new URLSearchParams()
    for (const [key, value] of Object.entries(args)) {
      if (Array.isArray(value)) value.forEach((v, i) => form.append(`${key}[${i}]`, String(v)))
      else form.append(key, String(value))
    }
    const cacheKey = `${wsfunction} ${form.toString()}`
    return this.rest.cached(cacheKey, async () => {
      // The token goes in the body, not the query string, so it never reaches an access log.
      form.append('wstoken', this.token)
      form.append('wsfunction', wsfunction)
      form.append('moodlewsrestformat', 'json')
      const response = await this.rest.request(new URL('webservice/rest/server.php', this.baseUrl.replace(/\/?$/, '/')).toString(), {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form.toString(),
      })
      const answer = await this.rest.json<T & { exception?: string; errorcode?: string; message?: string }>(response)
      if (answer && typeof answer === 'object' && 'exception' in answer && answer.exception) {
        throw new LookupError(`Moodle ${wsfunction} failed: ${answer.errorcode ?? answer.exception}`)
      }
      return answer as T
    })
  }

  /** Several users in one call: core_user_get_users_by_field takes a list of values. */
  async users(ids: string[]): Promise<MoodleUser[]> {
    if (ids.length === 0) return []
    const sorted = [...new Set(ids)].sort()
    return this.call<MoodleUser[]>('core_user_get_users_by_field', { field: 'id', values: sorted })
  }

  async user(id: string): Promise<UserInput> {
    const found = (await this.users([id])).find((u) => String(u.id) === id)
    if (!found) throw new LookupError(`Moodle has no user ${id}`, true)
    return toUser(found)
  }

  async course(id: string): Promise<{ id: string; title: string; url: string }> {
    const answer = await this.call<{ courses?: { id: number; fullname?: string; displayname?: string; shortname?: string }[] }>('core_course_get_courses_by_field', {
      field: 'id',
      value: id,
    })
    const course = answer.courses?.find((c) => String(c.id) === id)
    const title = text(course?.displayname) ?? text(course?.fullname) ?? text(course?.shortname)
    if (!course || !title) throw new LookupError(`Moodle has no course ${id}`, true)
    return { id, title: htmlToText(title, 300), url: new URL(`course/view.php?id=${encodeURIComponent(id)}`, this.baseUrl.replace(/\/?$/, '/')).toString() }
  }

  async students(courseId: string): Promise<UserInput[]> {
    const enrolled = await this.call<MoodleUser[]>('core_enrol_get_enrolled_users', { courseid: courseId })
    return enrolled.filter((u) => u.roles?.some((r) => r.shortname === 'student') && isEmail(u.email)).map(toUser)
  }
}

function toUser(user: MoodleUser): UserInput {
  const id = String(user.id)
  if (!isEmail(user.email)) throw new LookupError(`Moodle user ${id} has no email the web service may read`, true)
  const name = text(user.fullname) ?? ([user.firstname, user.lastname].filter(Boolean).join(' ') || undefined)
  const locale = knownLocale(user.lang)
  const timezone = knownTimeZone(user.timezone)
  return { id, email: user.email, ...(name ? { name: name.slice(0, 200) } : {}), ...(locale ? { locale } : {}), ...(timezone ? { timezone } : {}) }
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new MappingError(`the event has no ${what}`)
  return value
}

export async function mapMoodle(event: MoodleEvent, api: MoodleApi | null): Promise<MapOutcome> {
  const occurred_at = iso(typeof event.timecreated === 'string' ? Number(event.timecreated) : event.timecreated)
  const out = (type: string, data: Record<string, unknown>): BelfryEvent => ({ type, data, ...(occurred_at ? { occurred_at } : {}) })
  const lms = (): MoodleApi => {
    if (!api) throw new LookupError('the Moodle adapter has no base URL and web service token for lookups')
    return api
  }
  const name = event.eventname.replace(/^\\/, '')

  switch (name) {
    case 'core\\event\\user_enrolment_created': {
      const userId = need(text(event.relateduserid), 'relateduserid')
      const courseId = need(text(event.courseid), 'courseid')
      const [user, course] = await Promise.all([lms().user(userId), lms().course(courseId)])
      return { kind: 'mapped', events: [out('enrollment.created', { user, course, enrollment: { id: need(text(event.objectid), 'objectid') } })] }
    }
    case 'core\\event\\course_completed': {
      const userId = need(text(event.relateduserid), 'relateduserid')
      const courseId = need(text(event.courseid), 'courseid')
      const [user, course] = await Promise.all([lms().user(userId), lms().course(courseId)])
      return { kind: 'mapped', events: [out('course.completed', { user, course, completion: { completed_at: need(occurred_at, 'timecreated') } })] }
    }
    case 'mod_assign\\event\\assessable_submitted': {
      const userId = need(text(event.userid), 'userid')
      const courseId = need(text(event.courseid), 'courseid')
      const moduleId = need(text(event.contextinstanceid), 'contextinstanceid')
      const [user, course, assignments] = await Promise.all([
        lms().user(userId),
        lms().course(courseId),
        lms().call<{ courses?: { id: number; assignments?: { id: number; cmid: number; name?: string }[] }[] }>('mod_assign_get_assignments', { courseids: [courseId] }),
      ])
      const assignment = assignments.courses?.flatMap((c) => c.assignments ?? []).find((a) => String(a.cmid) === moduleId)
      if (!assignment) throw new LookupError(`Moodle has no assignment for course module ${moduleId}`, true)
      const url = new URL(`mod/assign/view.php?id=${encodeURIComponent(moduleId)}`, lms().baseUrl.replace(/\/?$/, '/')).toString()
      return {
        kind: 'mapped',
        events: [
          out('assignment.submitted', {
            user,
            course,
            // The assign instance id: the item calendar due dates were scheduled under (see calendar_event_created).
            assignment: { id: String(assignment.id), title: text(assignment.name) ?? `Assignment ${assignment.id}`, url },
            submission: { id: need(text(event.objectid), 'objectid'), submitted_at: need(occurred_at, 'timecreated') },
          }),
        ],
      }
    }
    case 'mod_forum\\event\\post_created': {
      const discussionId = need(text(event.other.discussionid), 'other.discussionid')
      const authorId = need(text(event.userid), 'userid')
      const postId = need(text(event.objectid), 'objectid')
      const courseId = need(text(event.courseid), 'courseid')
      const [posts, course] = await Promise.all([
        lms().call<{ posts?: { id: number; parentid?: number; subject?: string; message?: string; author?: { id?: number; fullname?: string } }[] }>('mod_forum_get_discussion_posts', {
          discussionid: discussionId,
        }),
        lms().course(courseId),
      ])
      const all = posts.posts ?? []
      const post = all.find((p) => String(p.id) === postId)
      const first = all.find((p) => !p.parentid) ?? all[0]
      // Moodle's subscriptions are not exposed to web services; everyone who posted in the discussion is.
      const participants = [...new Set(all.map((p) => String(p.author?.id ?? '')).filter((id) => id && id !== authorId))]
      const recipients = (await lms().users(participants)).filter((u) => isEmail(u.email)).map(toUser)
      const authorName = text(post?.author?.fullname) ?? text(all.find((p) => String(p.author?.id) === authorId)?.author?.fullname) ?? 'Someone'
      const url = new URL(`mod/forum/discuss.php?d=${encodeURIComponent(discussionId)}#p${encodeURIComponent(postId)}`, lms().baseUrl.replace(/\/?$/, '/')).toString()
      return {
        kind: 'mapped',
        events: [
          out('discussion.post_created', {
            course,
            thread: { id: discussionId, title: htmlToText(text(first?.subject) ?? 'Discussion', 300), url },
            post: { id: postId, author: { id: authorId, name: authorName.slice(0, 200) }, excerpt: htmlToText(post?.message ?? '') },
            recipients,
          }),
        ],
      }
    }
    case 'core\\event\\user_created': {
      const userId = need(text(event.relateduserid) ?? text(event.objectid), 'relateduserid')
      return { kind: 'mapped', events: [out('user.registered', { user: await lms().user(userId) })] }
    }
    case 'core\\event\\calendar_event_created': {
      const eventId = need(text(event.objectid), 'objectid')
      const answer = await lms().call<{ event?: { id: number; name?: string; courseid?: number; modulename?: string | null; instance?: number | null; timestart?: number; eventtype?: string; userid?: number; url?: string } }>(
        'core_calendar_get_calendar_event_by_id',
        { eventid: eventId },
      )
      const found = answer.event
      if (!found) throw new LookupError(`Moodle has no calendar event ${eventId}`, true)
      const dueAt = iso(found.timestart)
      if (!dueAt) return { kind: 'ignored', reason: 'the calendar event has no start time' }
      const courseId = text(found.courseid) ?? text(event.courseid)
      if (!courseId || courseId === '0' || courseId === '1') return { kind: 'ignored', reason: `a ${found.eventtype ?? 'site'} event belongs to no course` }
      const [course, students] = await Promise.all([lms().course(courseId), found.eventtype === 'user' && found.userid ? lms().user(String(found.userid)).then((u) => [u]) : lms().students(courseId)])
      if (students.length === 0) return { kind: 'ignored', reason: 'the course has no students with an email' }
      const isAssignment = found.modulename === 'assign' && found.instance
      return {
        kind: 'mapped',
        events: [
          out('deadline.scheduled', {
            users: students,
            course,
            item: {
              id: isAssignment ? String(found.instance) : `calendar-${eventId}`,
              kind: isAssignment ? 'assignment' : (found.modulename ?? 'event'),
              title: htmlToText(text(found.name) ?? text(event.other.name) ?? 'Event', 300),
              ...(isHttpUrl(found.url) ? { url: found.url } : {}),
              due_at: dueAt,
            },
          }),
        ],
      }
    }
    default:
      return { kind: 'ignored', reason: `Belfry does not map ${event.eventname}` }
  }
}
