// The webhook contract as `t` schemas: one per event type in DESIGN.md.
// The types the rest of the code uses are derived from these, never written
// again by hand. Objects allow extra properties, because LMSes send more
// than we read; everything we do read is checked here.

import { FormatRegistry, type Static, type TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { t } from 'elysia'
import type { ErrorDetail } from '../errors.ts'

function isTimeZone(value: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: value })
    return true
  } catch {
    return false
  }
}

function isLocale(value: string): boolean {
  try {
    return Intl.getCanonicalLocales(value).length === 1
  } catch {
    return false
  }
}

// Formats are global to TypeBox; register ours once, under our own names.
const formats: Record<string, (value: string) => boolean> = {
  'belfry-date-time': (v) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(v) && !Number.isNaN(Date.parse(v)),
  'belfry-email': (v) => /^[^\s@<>",;]+@[^\s@<>",;]+\.[^\s@<>",;]+$/.test(v),
  'belfry-url': (v) => /^https?:\/\/[^\s<>"]+$/i.test(v) && URL.canParse(v),
  'belfry-locale': isLocale,
  'belfry-timezone': isTimeZone,
}
for (const [name, check] of Object.entries(formats)) if (!FormatRegistry.Has(name)) FormatRegistry.Set(name, check)

/** LMS ids arrive as strings (Open edX) or numbers (Canvas, Moodle); both are kept as text. */
const Id = t.Union([t.String({ minLength: 1, maxLength: 255 }), t.Integer()])
const Text = (maxLength = 1000) => t.String({ minLength: 1, maxLength })
const DateTime = t.String({ format: 'belfry-date-time', description: 'ISO-8601 with a time zone offset' })
const Url = t.String({ format: 'belfry-url', maxLength: 2048, description: 'an http(s) URL' })

export const User = t.Object({
  id: Id,
  email: t.String({ format: 'belfry-email', maxLength: 320 }),
  name: t.Optional(Text(200)),
  locale: t.Optional(t.String({ format: 'belfry-locale', maxLength: 35 })),
  timezone: t.Optional(t.String({ format: 'belfry-timezone', maxLength: 64 })),
})
const UserRef = t.Object({ id: Id })
const Course = t.Object({ id: Id, title: Text(300), url: t.Optional(Url) })

export const eventSchemas = {
  'user.registered': t.Object({ user: User }),
  'user.updated': t.Object({ user: User }),
  'user.deleted': t.Object({ user: UserRef }),
  'enrollment.created': t.Object({
    user: User,
    course: Course,
    enrollment: t.Object({
      id: Id,
      paid: t.Optional(
        t.Object({
          amount: t.Number({ minimum: 0 }),
          currency: t.String({ pattern: '^[A-Z]{3}$', description: 'ISO 4217 code' }),
        }),
      ),
    }),
  }),
  'course.completed': t.Object({
    user: User,
    course: Course,
    completion: t.Object({
      completed_at: DateTime,
      certificate_url: t.Optional(Url),
      grade: t.Optional(t.Union([Text(50), t.Number()])),
    }),
  }),
  'password_reset.requested': t.Object({
    user: User,
    reset: t.Object({ url: Url, expires_at: DateTime }),
  }),
  'deadline.scheduled': t.Object({
    users: t.Array(User, { minItems: 1 }),
    course: Course,
    item: t.Object({ id: Id, kind: Text(50), title: Text(300), url: t.Optional(Url), due_at: DateTime }),
  }),
  'deadline.cancelled': t.Object({
    item: t.Object({ id: Id }),
    users: t.Optional(t.Array(UserRef)),
  }),
  'session.scheduled': t.Object({
    users: t.Array(User, { minItems: 1 }),
    course: Course,
    session: t.Object({ id: Id, title: Text(300), starts_at: DateTime, join_url: t.Optional(Url) }),
  }),
  'assignment.submitted': t.Object({
    user: User,
    course: Course,
    assignment: t.Object({ id: Id, title: Text(300), url: t.Optional(Url) }),
    submission: t.Object({ id: Id, submitted_at: DateTime }),
  }),
  'discussion.post_created': t.Object({
    course: Course,
    thread: t.Object({ id: Id, title: Text(300), url: Url }),
    post: t.Object({
      id: Id,
      author: t.Object({ id: Id, name: Text(200) }),
      excerpt: t.String({ maxLength: 2000 }),
    }),
    recipients: t.Array(User),
  }),
  'system.error': t.Object({
    error: t.Object({
      source: Text(200),
      message: Text(4000),
      severity: t.Union([t.Literal('info'), t.Literal('warning'), t.Literal('error'), t.Literal('critical')]),
      fingerprint: t.Optional(Text(200)),
    }),
  }),
} as const

export type EventType = keyof typeof eventSchemas
export const eventTypes = Object.keys(eventSchemas) as EventType[]
export type EventData<T extends EventType> = Static<(typeof eventSchemas)[T]>
export type UserInput = Static<typeof User>

/** A validated event: the type and its data, narrowed together. */
export type IncomingEvent = { [T in EventType]: { type: T; data: EventData<T>; occurredAt: Date | null } }[EventType]

const Envelope = t.Object({
  type: t.String({ minLength: 1, maxLength: 100 }),
  data: t.Object({}),
  occurred_at: t.Optional(DateTime),
})

const envelopeCheck = TypeCompiler.Compile(Envelope)
const dataChecks = Object.fromEntries(
  eventTypes.map((type) => [type, TypeCompiler.Compile(eventSchemas[type] as TSchema)]),
) as Record<EventType, TypeCheck<TSchema>>

export function describe(check: TypeCheck<TSchema>, value: unknown, prefix: string): ErrorDetail[] {
  const details: ErrorDetail[] = []
  for (const error of check.Errors(value)) {
    const path = prefix + error.path
    // A union reports once for the union and once per branch; the first says enough.
    if (details.some((d) => d.path === path)) continue
    details.push({ path: path || '/', message: error.schema.description ? `${error.message} (${error.schema.description})` : error.message })
    if (details.length >= 20) break
  }
  return details
}

export type Validation = { ok: true; event: IncomingEvent } | { ok: false; message: string; details: ErrorDetail[] }

/**
 * Deeper than any LMS payload we know of, and far below where Postgres's
 * jsonb input gives up (PGlite fails at a few thousand levels, and its
 * failure broke the session for the next requests).
 */
export const MAX_DEPTH = 64

/** JSON pointer escaping (RFC 6901), so a hostile key cannot fake a path. */
const pointer = (key: string) => key.replaceAll('~', '~0').replaceAll('/', '~1')

/** A path made of hostile keys could be as long as the body; the error echoes only its start (kept short as it is built). */
const shortPath = (path: string) => (path.length > 300 ? `${path.slice(0, 300)}…` : path || '/')

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

/**
 * What the schemas cannot see but the database would refuse with a 500:
 * nesting past MAX_DEPTH anywhere (extra fields are stored too), NUL
 * characters and lone surrogates in any key or string (jsonb has no
 * representation for either). Walks with its own stack: a body nested
 * tens of thousands deep must not overflow ours.
 */
export function unstorable(body: unknown): ErrorDetail | null {
  // A node's path is only spelled out for the error: building one per key cost most of the walk.
  interface Node {
    value: unknown
    key: string
    parent: Node | null
    depth: number
  }
  const pathOf = (node: Node | null) => {
    const keys: string[] = []
    for (let at = node; at?.parent; at = at.parent) keys.push(at.key)
    return shortPath(keys.reverse().map((key) => `/${pointer(key)}`).join(''))
  }
  const badText = (text: string) => text.includes('\u0000') || LONE_SURROGATE.test(text)
  const stack: Node[] = [{ value: body, key: '', parent: null, depth: 0 }]
  while (stack.length > 0) {
    const node = stack.pop()!
    const { value, depth } = node
    if (typeof value === 'string') {
      if (badText(value)) return { path: pathOf(node), message: 'contains a NUL character or invalid UTF-16' }
      continue
    }
    if (value === null || typeof value !== 'object') continue
    if (depth >= MAX_DEPTH) return { path: pathOf(node), message: `nested deeper than ${MAX_DEPTH} levels` }
    for (const key in value) {
      const child: Node = { value: (value as Record<string, unknown>)[key], key, parent: node, depth: depth + 1 }
      if (badText(key)) return { path: pathOf(child), message: 'key contains a NUL character or invalid UTF-16' }
      stack.push(child)
    }
  }
  return null
}

/**
 * A learner's name becomes the display name of the To header. Nodemailer
 * encodes a line break in it as an encoded-word rather than dropping it, so
 * a mail client decoding the header would see one: names are made one line
 * here, where every event comes in (the subject is already one line, see
 * render.ts). A name of nothing but whitespace is as good as none.
 */
function singleLineNames(data: unknown): void {
  const record = data as { user?: unknown; users?: unknown; recipients?: unknown }
  const users = [record.user, ...(Array.isArray(record.users) ? record.users : []), ...(Array.isArray(record.recipients) ? record.recipients : [])]
  for (const user of users) {
    if (!user || typeof user !== 'object' || typeof (user as { name?: unknown }).name !== 'string') continue
    const named = user as { name?: string }
    const name = named.name!.replace(/\s+/g, ' ').trim()
    if (name) named.name = name
    else delete named.name
  }
}

/** Checks a parsed body against the envelope and its type's schema; says every problem found. */
export function validateEvent(body: unknown): Validation {
  const unsafe = unstorable(body)
  if (unsafe) return { ok: false, message: 'the body cannot be stored as sent', details: [unsafe] }
  if (!envelopeCheck.Check(body)) {
    return { ok: false, message: 'the body is not a Belfry event', details: describe(envelopeCheck, body, '') }
  }
  const { type, data, occurred_at } = body as Static<typeof Envelope>
  if (!Object.hasOwn(dataChecks, type)) {
    return {
      ok: false,
      message: `unknown event type "${type}"`,
      details: [{ path: '/type', message: `expected one of ${eventTypes.join(', ')}` }],
    }
  }
  const check = dataChecks[type as EventType]
  if (!check.Check(data)) {
    return { ok: false, message: `data does not match the ${type} schema`, details: describe(check, data, '/data') }
  }
  singleLineNames(data)
  return {
    ok: true,
    event: { type, data, occurredAt: occurred_at ? new Date(occurred_at) : null } as IncomingEvent,
  }
}
