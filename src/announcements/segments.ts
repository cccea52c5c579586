// Segments as an admin picks them in the compose form, and as they read back.

import type { Segment } from '../db/schema/index.ts'
import { canonicalLocale } from '../render/helpers.ts'

export const SEGMENT_KINDS = ['everyone', 'courses', 'locale', 'admins'] as const

/** The compose form's segment fields: the kind, and the course ids or locale it needs. */
export interface SegmentFields {
  segment: (typeof SEGMENT_KINDS)[number]
  courses?: string | undefined
  locale?: string | undefined
}

/** A segment from the form, or what is wrong with the fields. */
export function segmentFrom(fields: SegmentFields): { ok: true; segment: Segment } | { ok: false; error: string } {
  switch (fields.segment) {
    case 'everyone':
    case 'admins':
      return { ok: true, segment: { kind: fields.segment } }
    case 'courses': {
      // LMS course ids as the events carry them, separated by commas, spaces or lines.
      const courseIds = [...new Set((fields.courses ?? '').split(/[\s,]+/).filter(Boolean))]
      if (courseIds.length === 0) return { ok: false, error: 'Enter the LMS id of at least one course.' }
      if (courseIds.length > 500) return { ok: false, error: 'At most 500 courses per announcement.' }
      return { ok: true, segment: { kind: 'courses', courseIds } }
    }
    case 'locale': {
      const locale = canonicalLocale((fields.locale ?? '').trim())
      if (!locale) return { ok: false, error: 'Enter a language tag such as en, fr or pt-BR.' }
      return { ok: true, segment: { kind: 'locale', locale } }
    }
  }
}

export function fieldsOf(segment: Segment): SegmentFields {
  switch (segment.kind) {
    case 'courses':
      return { segment: 'courses', courses: segment.courseIds.join(', ') }
    case 'locale':
      return { segment: 'locale', locale: segment.locale }
    default:
      return { segment: segment.kind }
  }
}

export function describeSegment(segment: Segment): string {
  switch (segment.kind) {
    case 'everyone':
      return 'Every learner'
    case 'courses':
      return `Learners of course${segment.courseIds.length > 1 ? 's' : ''} ${segment.courseIds.join(', ')}`
    case 'locale':
      return `Learners reading ${segment.locale}`
    case 'admins':
      return 'Admins only'
  }
}
