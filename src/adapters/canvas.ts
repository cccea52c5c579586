// Canvas Live Events → Belfry events. Live events name people by id only
// (never by email), so most need the Canvas REST API: the course roster
// (one paginated call, with emails, serves every user lookup of a course),
// the course, the assignment, the discussion. `metadata.user_login` and
// `metadata.user_id` name whoever made the request — a teacher enrolling a
// student, a job — so a recipient always comes from the event body or the API.

import { describeNative, iso, isHttpUrl, MappingError, NotNativeEvent, text, type BelfryEvent, type MapOutcome, type NativeDescriptor } from './model.ts'
import { htmlToText, isEmail, knownLocale, knownTimeZone, LookupError, RestClient, type Fetcher } from './lookup.ts'
import type { UserInput } from '../events/model.ts'

/**
 * Canvas's global ids put the shard in front of the local id (shard × 10^13 +
 * id): live events use the global form, the REST API mostly the local one.
 * Belfry keeps the local form so both name the same learner.
 */
export function canvasId(value: unknown): string | undefined {
  const raw = text(value)
  if (!raw || !/^\d+$/.test(raw)) return raw
  return raw.length > 13 ? String(BigInt(raw) % 10_000_000_000_000n) : raw
}

export interface CanvasLiveEvent {
  metadata: Record<string, unknown>
  body: Record<string, unknown>
}

export function readCanvasEvent(payload: unknown): CanvasLiveEvent {
  const value = payload as Partial<CanvasLiveEvent> | null
  if (!value || typeof value !== 'object' || !value.metadata || typeof value.metadata !== 'object' || !value.body || typeof value.body !== 'object') {
    throw new NotNativeEvent('expected a Canvas live event: {"metadata": {...}, "body": {...}}')
  }
  if (typeof value.metadata.event_name !== 'string' || value.metadata.event_name === '') throw new NotNativeEvent('metadata.event_name is missing')
  return value as CanvasLiveEvent
}

/** The body field that identifies the object each mapped event is about. */
const OBJECT_FIELD: Record<string, string> = {
  enrollment_created: 'enrollment_id',
  submission_created: 'submission_id',
  quiz_submitted: 'submission_id',
  discussion_entry_created: 'discussion_entry_id',
  user_created: 'user_id',
  assignment_created: 'assignment_id',
  assignment_updated: 'assignment_id',
  assignment_override_created: 'assignment_override_id',
}

export function describeCanvas(event: CanvasLiveEvent): NativeDescriptor {
  const name = event.metadata.event_name as string
  const time = iso(event.metadata.event_time)
  let object: string | undefined
  if (name === 'course_completed') {
    const body = event.body as { user?: { id?: unknown }; course?: { id?: unknown } }
    object = `${canvasId(body.user?.id) ?? '-'}@${canvasId(body.course?.id) ?? '-'}`
  } else {
    object = text(event.body[OBJECT_FIELD[name] ?? 'id'])
  }
  return describeNative(name, object ?? null, time ? new Date(time) : null)
}

interface CanvasUser {
  id: number | string
  name?: string
  short_name?: string
  email?: string
  locale?: string | null
  effective_locale?: string
  time_zone?: string
  enrollments?: { type?: string; enrollment_state?: string }[]
}

export class CanvasApi {
  readonly rest: RestClient

  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    fetcher?: Fetcher,
  ) {
    this.rest = new RestClient('Canvas', baseUrl, fetcher)
  }

  private url(path: string): string {
    return new URL(path, this.baseUrl).toString()
  }

  private headers(): Record<string, string> {
    return { authorization: `Bearer ${this.token}`, accept: 'application/json' }
  }

  async get<T>(path: string): Promise<T> {
    return this.rest.cached(`GET ${path}`, async () => this.rest.json<T>(await this.rest.request(this.url(path), { headers: this.headers() })))
  }

  /** Every page of a list, following `Link: <…>; rel="next"` as Canvas paginates. */
  async list<T>(path: string): Promise<T[]> {
    return this.rest.cached(`LIST ${path}`, async () => {
      const all: T[] = []
      let next: string | null = this.url(path)
      for (let page = 0; next && page < 100; page++) {
        const response = await this.rest.request(next, { headers: this.headers() })
        const items = await this.rest.json<T[]>(response)
        if (!Array.isArray(items)) throw new LookupError('Canvas answered a list request with something else')
        all.push(...items)
        next = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '')?.[1] ?? null
      }
      return all
    })
  }

  async graphql<T>(query: string, variables: Record<string, unknown>): Promise<T> {
    return this.rest.cached(`GQL ${query} ${JSON.stringify(variables)}`, async () => {
      const response = await this.rest.request(this.url('/api/graphql'), {
        method: 'POST',
        headers: { ...this.headers(), 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      })
      const answer = await this.rest.json<{ data?: T; errors?: { message: string }[] }>(response)
      if (!answer.data) throw new LookupError(`Canvas GraphQL failed: ${answer.errors?.[0]?.message ?? 'no data'}`)
      return answer.data
    })
  }

  /** The course's people with their emails and enrollments: one call for every user lookup of the course. */
  roster(courseId: string): Promise<CanvasUser[]> {
    return this.list<CanvasUser>(`/api/v1/courses/${courseId}/users?include[]=email&include[]=enrollments&include[]=locale&per_page=100`)
  }

  async course(courseId: string): Promise<{ id: string; title: string; url: string }> {
    const course = await this.get<{ id: number | string; name?: string; course_code?: string }>(`/api/v1/courses/${courseId}`)
    const title = text(course.name) ?? text(course.course_code)
    if (!title) throw new LookupError(`Canvas course ${courseId} has no name`, true)
    return { id: courseId, title, url: this.url(`/courses/${courseId}`) }
  }

  /** A learner with an email: from the course roster when the course is known, else their own record. */
  async user(userId: string, courseId?: string): Promise<UserInput> {
    let found: CanvasUser | undefined
    if (courseId) found = (await this.roster(courseId)).find((u) => canvasId(u.id) === userId)
    found ??= await this.get<CanvasUser>(`/api/v1/users/${userId}`)
    return toUser(found, userId)
  }

  async students(courseId: string): Promise<UserInput[]> {
    const roster = await this.roster(courseId)
    return roster
      .filter((u) => u.enrollments?.some((e) => e.type === 'StudentEnrollment' && e.enrollment_state !== 'inactive' && e.enrollment_state !== 'deleted'))
      .flatMap((u) => (isEmail(u.email) ? [toUser(u, canvasId(u.id)!)] : []))
  }
}

function toUser(user: CanvasUser, id: string): UserInput {
  if (!isEmail(user.email)) throw new LookupError(`Canvas user ${id} has no email the API token may read`, true)
  const name = text(user.name) ?? text(user.short_name)
  const locale = knownLocale(user.effective_locale ?? user.locale)
  const timezone = knownTimeZone(user.time_zone)
  return { id, email: user.email, ...(name ? { name: name.slice(0, 200) } : {}), ...(locale ? { locale } : {}), ...(timezone ? { timezone } : {}) }
}

function need(value: string | undefined, what: string): string {
  if (!value) throw new MappingError(`the event has no ${what}`)
  return value
}

/** The course a Canvas event happened in, when its metadata says (a job-made event may not). */
function contextCourse(event: CanvasLiveEvent): string | undefined {
  const { metadata, body } = event
  if (metadata.context_type === 'Course') return canvasId(metadata.context_id)
  if (body.context_type === 'Course') return canvasId(body.context_id)
  return undefined
}

export async function mapCanvas(event: CanvasLiveEvent, api: CanvasApi | null): Promise<MapOutcome> {
  const { metadata, body } = event
  const name = metadata.event_name as string
  const occurred_at = iso(metadata.event_time)
  const out = (type: string, data: Record<string, unknown>): BelfryEvent => ({ type, data, ...(occurred_at ? { occurred_at } : {}) })
  const lms = (): CanvasApi => {
    if (!api) throw new LookupError('the Canvas adapter has no base URL and API token for lookups')
    return api
  }

  switch (name) {
    case 'enrollment_created': {
      if (body.type !== 'StudentEnrollment') return { kind: 'ignored', reason: `not a student enrollment (${String(body.type)})` }
      const courseId = need(canvasId(body.course_id), 'course_id')
      const userId = need(canvasId(body.user_id), 'user_id')
      const [user, course] = await Promise.all([lms().user(userId, courseId), lms().course(courseId)])
      return { kind: 'mapped', events: [out('enrollment.created', { user, course, enrollment: { id: need(canvasId(body.enrollment_id), 'enrollment_id') } })] }
    }
    case 'course_completed': {
      const user = body.user as { id?: unknown; email?: unknown; name?: unknown } | undefined
      const course = body.course as { id?: unknown; name?: unknown } | undefined
      const progress = (body.progress ?? {}) as { completed_at?: unknown }
      const userId = need(canvasId(user?.id), 'body.user.id')
      const courseId = need(canvasId(course?.id), 'body.course.id')
      // The body carries the learner's email; only a missing one needs the API.
      const learner: UserInput = isEmail(user?.email)
        ? { id: userId, email: user.email, ...(text(user.name) ? { name: text(user.name)! } : {}) }
        : await lms().user(userId, courseId)
      const title = text(course?.name)
      const courseData = title ? { id: courseId, title, ...(api ? { url: api.rest.baseUrl.replace(/\/$/, '') + `/courses/${courseId}` } : {}) } : await lms().course(courseId)
      const completedAt = need(iso(progress.completed_at) ?? occurred_at, 'completion time')
      return { kind: 'mapped', events: [out('course.completed', { user: learner, course: courseData, completion: { completed_at: completedAt } })] }
    }
    case 'submission_created': {
      const userId = need(canvasId(body.user_id), 'user_id')
      const assignmentId = need(canvasId(body.assignment_id), 'assignment_id')
      const submittedAt = need(iso(body.submitted_at) ?? occurred_at, 'submitted_at')
      let courseId = contextCourse(event)
      let assignment: { id: string; title: string; url?: string }
      if (courseId) {
        assignment = await canvasAssignment(lms(), courseId, assignmentId)
      } else {
        // A grade passback carries no course; GraphQL finds an assignment by id alone.
        const data = await lms().graphql<{ assignment: { _id: string; name: string; htmlUrl?: string; course: { _id: string } } | null }>(
          'query Assignment($id: ID!) { assignment(id: $id) { _id name htmlUrl course { _id } } }',
          { id: assignmentId },
        )
        if (!data.assignment) throw new LookupError(`Canvas has no assignment ${assignmentId}`, true)
        courseId = canvasId(data.assignment.course._id)!
        assignment = { id: assignmentId, title: data.assignment.name, ...(isHttpUrl(data.assignment.htmlUrl) ? { url: data.assignment.htmlUrl } : {}) }
      }
      const [user, course] = await Promise.all([lms().user(userId, courseId), lms().course(courseId)])
      const submission = { id: need(canvasId(body.submission_id), 'submission_id'), submitted_at: submittedAt }
      return { kind: 'mapped', events: [out('assignment.submitted', { user, course, assignment, submission })] }
    }
    case 'quiz_submitted': {
      const courseId = need(contextCourse(event), 'course (metadata.context_id)')
      const quizId = need(canvasId(body.quiz_id), 'quiz_id')
      const submissionId = need(canvasId(body.submission_id), 'submission_id')
      const [quiz, record] = await Promise.all([
        lms().get<{ id: number | string; title?: string; html_url?: string; assignment_id?: number | string | null }>(`/api/v1/courses/${courseId}/quizzes/${quizId}`),
        lms().get<{ quiz_submissions?: { id: number | string; user_id: number | string; finished_at?: string | null }[] }>(
          `/api/v1/courses/${courseId}/quizzes/${quizId}/submissions/${submissionId}`,
        ),
      ])
      const taken = record.quiz_submissions?.[0]
      if (!taken) throw new LookupError(`Canvas has no quiz submission ${submissionId}`, true)
      const [user, course] = await Promise.all([lms().user(canvasId(taken.user_id)!, courseId), lms().course(courseId)])
      // A graded quiz is an assignment too: its assignment id is the item its deadline reminders were scheduled under.
      const itemId = canvasId(quiz.assignment_id) ?? `quiz-${quizId}`
      return {
        kind: 'mapped',
        events: [
          out('assignment.submitted', {
            user,
            course,
            assignment: { id: itemId, title: text(quiz.title) ?? `Quiz ${quizId}`, ...(isHttpUrl(quiz.html_url) ? { url: quiz.html_url } : {}) },
            submission: { id: submissionId, submitted_at: need(iso(taken.finished_at) ?? occurred_at, 'finished_at') },
          }),
        ],
      }
    }
    case 'discussion_entry_created': {
      const courseId = need(contextCourse(event), 'course (metadata.context_id)')
      const topicId = need(canvasId(body.discussion_topic_id), 'discussion_topic_id')
      const authorId = need(canvasId(body.user_id), 'user_id')
      const [topic, view, course, roster] = await Promise.all([
        lms().get<{ id: number | string; title?: string; html_url?: string; author?: { id?: number | string } }>(`/api/v1/courses/${courseId}/discussion_topics/${topicId}`),
        lms().get<{ participants?: { id: number | string; display_name?: string }[] }>(`/api/v1/courses/${courseId}/discussion_topics/${topicId}/view`),
        lms().course(courseId),
        lms().roster(courseId),
      ])
      // Who follows a thread is not in the API; those who took part in it (and its author) are the closest reading.
      const following = new Set([...(view.participants ?? []).map((p) => canvasId(p.id)!), ...(topic.author?.id ? [canvasId(topic.author.id)!] : [])])
      following.delete(authorId)
      const recipients = roster.filter((u) => following.has(canvasId(u.id)!) && isEmail(u.email)).map((u) => toUser(u, canvasId(u.id)!))
      const author = roster.find((u) => canvasId(u.id) === authorId)
      const authorName = text(author?.name) ?? view.participants?.find((p) => canvasId(p.id) === authorId)?.display_name ?? 'Someone'
      const threadUrl = isHttpUrl(topic.html_url) ? topic.html_url : `${api!.baseUrl.replace(/\/$/, '')}/courses/${courseId}/discussion_topics/${topicId}`
      return {
        kind: 'mapped',
        events: [
          out('discussion.post_created', {
            course,
            thread: { id: topicId, title: text(topic.title) ?? 'Discussion', url: threadUrl },
            post: { id: need(canvasId(body.discussion_entry_id), 'discussion_entry_id'), author: { id: authorId, name: authorName.slice(0, 200) }, excerpt: htmlToText(String(body.text ?? '')) },
            recipients,
          }),
        ],
      }
    }
    case 'user_created': {
      const userId = need(canvasId(body.user_id), 'user_id')
      const user = await lms().user(userId)
      if (!user.name && text(body.name)) user.name = text(body.name)!
      return { kind: 'mapped', events: [out('user.registered', { user })] }
    }
    case 'assignment_created':
    case 'assignment_updated': {
      const courseId = need(contextCourse(event), 'course (context_id)')
      const assignmentId = need(canvasId(body.assignment_id), 'assignment_id')
      const state = String(body.workflow_state ?? '')
      const dueAt = iso(body.due_at)
      if (state === 'deleted' || state === 'unpublished' || (!dueAt && name === 'assignment_updated')) {
        return { kind: 'mapped', events: [out('deadline.cancelled', { item: { id: assignmentId } })] }
      }
      if (!dueAt) return { kind: 'ignored', reason: 'the assignment has no due date' }
      const [course, users] = await Promise.all([lms().course(courseId), lms().students(courseId)])
      if (users.length === 0) return { kind: 'ignored', reason: 'the course has no students with an email' }
      const url = `${lms().baseUrl.replace(/\/$/, '')}/courses/${courseId}/assignments/${assignmentId}`
      const title = need(text(body.title), 'title').slice(0, 300)
      return { kind: 'mapped', events: [out('deadline.scheduled', { users, course, item: { id: assignmentId, kind: 'assignment', title, url, due_at: dueAt } })] }
    }
    case 'assignment_override_created': {
      const courseId = need(contextCourse(event), 'course (metadata.context_id)')
      const assignmentId = need(canvasId(body.assignment_id), 'assignment_id')
      const overrideId = need(canvasId(body.assignment_override_id), 'assignment_override_id')
      const dueAt = iso(body.due_at)
      if (!dueAt || body.workflow_state === 'deleted') return { kind: 'ignored', reason: 'the override sets no due date' }
      const [course, assignment, students] = await Promise.all([lms().course(courseId), canvasAssignment(lms(), courseId, assignmentId), lms().students(courseId)])
      let ids: Set<string>
      if (body.type === 'CourseSection' || body.course_section_id) {
        const sectionId = need(canvasId(body.course_section_id), 'course_section_id')
        const enrollments = await lms().list<{ user_id: number | string }>(`/api/v1/sections/${sectionId}/enrollments?type[]=StudentEnrollment&per_page=100`)
        ids = new Set(enrollments.map((e) => canvasId(e.user_id)!))
      } else if (body.type === 'ADHOC' || !body.type) {
        const override = await lms().get<{ student_ids?: (number | string)[] }>(`/api/v1/courses/${courseId}/assignments/${assignmentId}/overrides/${overrideId}`)
        ids = new Set((override.student_ids ?? []).map((id) => canvasId(id)!))
      } else {
        return { kind: 'ignored', reason: `overrides for a ${String(body.type)} are not mapped` }
      }
      const users = students.filter((u) => ids.has(String(u.id)))
      if (users.length === 0) return { kind: 'ignored', reason: 'the override names no students with an email' }
      // Its own item id: a deadline.scheduled replaces every reminder of an item, and these students have another date.
      return {
        kind: 'mapped',
        events: [out('deadline.scheduled', { users, course, item: { id: `${assignmentId}/override/${overrideId}`, kind: 'assignment', title: assignment.title, ...(assignment.url ? { url: assignment.url } : {}), due_at: dueAt } })],
      }
    }
    default:
      return { kind: 'ignored', reason: `Belfry does not map ${name}` }
  }
}

async function canvasAssignment(api: CanvasApi, courseId: string, assignmentId: string): Promise<{ id: string; title: string; url?: string }> {
  const found = await api.get<{ id: number | string; name?: string; html_url?: string }>(`/api/v1/courses/${courseId}/assignments/${assignmentId}`)
  return { id: assignmentId, title: (text(found.name) ?? `Assignment ${assignmentId}`).slice(0, 300), ...(isHttpUrl(found.html_url) ? { url: found.html_url } : {}) }
}
