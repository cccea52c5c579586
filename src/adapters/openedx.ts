// Open edX (openedx-events) → Belfry events. Its learning events carry the
// learner's email and name (`user.pii`), so nothing needs looking up.
// Bodies are the event's data as the Avro schemas describe it (a top-level
// `enrollment` or `certificate`), with the event type in `metadata.event_type`
// (or `event_type`, or a CloudEvents `ce-type` header when a bridge sends it
// in binary mode).

import type { UserInput } from '../events/model.ts'
import { isEmail } from './lookup.ts'
import { describeNative, iso, isHttpUrl, MappingError, NotNativeEvent, text, type MapOutcome, type NativeDescriptor } from './model.ts'

export const OPENEDX_TYPES: Record<string, string> = {
  COURSE_ENROLLMENT_CREATED: 'org.openedx.learning.course.enrollment.created.v1',
  CERTIFICATE_CREATED: 'org.openedx.learning.certificate.created.v1',
}

export interface OpenEdxEvent {
  type: string
  time: string | undefined
  data: Record<string, unknown>
}

export function readOpenEdxEvent(payload: unknown, headers: Headers): OpenEdxEvent {
  if (!payload || typeof payload !== 'object' || Array.isArray(payload)) throw new NotNativeEvent('expected an Open edX event object')
  const body = payload as Record<string, unknown>
  const metadata = (body.metadata && typeof body.metadata === 'object' ? body.metadata : {}) as Record<string, unknown>
  const named = text(metadata.event_type) ?? text(body.event_type) ?? headers.get('ce-type') ?? undefined
  if (!named) throw new NotNativeEvent('metadata.event_type is missing')
  const type = OPENEDX_TYPES[named] ?? named
  const data = (body.data && typeof body.data === 'object' ? body.data : body) as Record<string, unknown>
  return { type, time: iso(metadata.time) ?? iso(headers.get('ce-time')), data }
}

interface UserData {
  id?: number | string
  is_active?: boolean
  pii?: { username?: string; email?: string; name?: string }
}
interface CourseData {
  course_key?: string
  display_name?: string
}

function learner(user: UserData | undefined): UserInput {
  const id = text(user?.id)
  if (!id) throw new MappingError('the event has no user.id')
  if (!isEmail(user?.pii?.email)) throw new MappingError(`Open edX user ${id} comes without an email`)
  const name = text(user?.pii?.name) ?? text(user?.pii?.username)
  return { id, email: user!.pii!.email!, ...(name ? { name: name.slice(0, 200) } : {}) }
}

function course(data: CourseData | undefined, baseUrl: string | null): { id: string; title: string; url?: string } {
  const key = text(data?.course_key)
  if (!key) throw new MappingError('the event has no course.course_key')
  const url = baseUrl ? new URL(`courses/${encodeURIComponent(key)}/about`, baseUrl.replace(/\/?$/, '/')).toString() : undefined
  return { id: key, title: (text(data?.display_name) ?? key).slice(0, 300), ...(url ? { url } : {}) }
}

export function describeOpenEdx(event: OpenEdxEvent): NativeDescriptor {
  const inner = (event.data.enrollment ?? event.data.certificate ?? {}) as { user?: UserData; course?: CourseData; creation_date?: string }
  const object = `${text(inner.user?.id) ?? '-'}@${text(inner.course?.course_key) ?? '-'}`
  const time = event.time ?? iso(inner.creation_date)
  return describeNative(event.type, object, time ? new Date(time) : null)
}

export function mapOpenEdx(event: OpenEdxEvent, baseUrl: string | null): MapOutcome {
  const occurred_at = event.time
  switch (event.type) {
    case OPENEDX_TYPES.COURSE_ENROLLMENT_CREATED: {
      const enrollment = event.data.enrollment as { user?: UserData; course?: CourseData; mode?: string; is_active?: boolean; creation_date?: string } | undefined
      if (!enrollment) throw new MappingError('the event has no enrollment')
      if (enrollment.is_active === false) return { kind: 'ignored', reason: 'the enrollment is not active' }
      const user = learner(enrollment.user)
      const courseData = course(enrollment.course, baseUrl)
      return {
        kind: 'mapped',
        events: [{ type: 'enrollment.created', data: { user, course: courseData, enrollment: { id: `${user.id}@${courseData.id}` } }, ...(occurred_at ? { occurred_at } : {}) }],
      }
    }
    case OPENEDX_TYPES.CERTIFICATE_CREATED: {
      const certificate = event.data.certificate as { user?: UserData; course?: CourseData; grade?: string; download_url?: string; current_status?: string } | undefined
      if (!certificate) throw new MappingError('the event has no certificate')
      // Only an earned certificate is a completion; `notpassing`, `audit_passing`… are not.
      if (certificate.current_status && certificate.current_status !== 'downloadable') {
        return { kind: 'ignored', reason: `certificate status ${certificate.current_status} is not a completion` }
      }
      const courseData = course(certificate.course, baseUrl)
      const downloadUrl = text(certificate.download_url)
      const certificateUrl = isHttpUrl(downloadUrl) ? downloadUrl : downloadUrl && baseUrl ? new URL(downloadUrl, baseUrl).toString() : undefined
      const grade = text(certificate.grade)
      const completedAt = occurred_at ?? new Date().toISOString()
      return {
        kind: 'mapped',
        events: [
          {
            type: 'course.completed',
            data: {
              user: learner(certificate.user),
              course: courseData,
              completion: { completed_at: completedAt, ...(certificateUrl && isHttpUrl(certificateUrl) ? { certificate_url: certificateUrl } : {}), ...(grade ? { grade: grade.slice(0, 50) } : {}) },
            },
            ...(occurred_at ? { occurred_at } : {}),
          },
        ],
      }
    }
    default:
      return { kind: 'ignored', reason: `Belfry does not map ${event.type}` }
  }
}
