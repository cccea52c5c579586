// A local stand-in for the LMS APIs enrichment calls, answering in the shapes
// of their public documentation: Canvas's REST API (users, courses, rosters
// paginated with Link headers, assignments, quizzes, discussions, sections,
// overrides), its GraphQL `assignment` query, and the JWKS its Live Events are
// signed with; Moodle's REST web service (server.php, JSON format). It checks
// the token each API expects and can be told to fail (503) to drive retries.

import { readFileSync } from 'node:fs'
import { join } from 'node:path'

// A copy of the team's shared fixtures (../shared/fixtures), kept in the repo so a clone tests on its own; provenance and licences in PROVENANCE.md there.
export const FIXTURES = join(import.meta.dir, '../fixtures/lms')
export const CANVAS_TOKEN = 'canvas-api-token-1234'
export const MOODLE_TOKEN = 'moodle-ws-token-5678'

export function fixture<T = Record<string, unknown>>(path: string): T {
  return JSON.parse(readFileSync(join(FIXTURES, path), 'utf8')) as T
}

type CanvasPerson = { id: number; name: string; email: string; role: 'StudentEnrollment' | 'TeacherEnrollment'; locale?: string; time_zone?: string }

const CANVAS_COURSES: Record<string, { name: string; people: CanvasPerson[] }> = {
  '565': {
    name: 'Computer Science I',
    people: [
      { id: 20064, name: 'Isaac Newton', email: 'isaac@school.test', role: 'StudentEnrollment', locale: 'en', time_zone: 'America/New_York' },
      { id: 98765, name: 'Ada Lovelace', email: 'ada@school.test', role: 'StudentEnrollment' },
      { id: 555, name: 'Grace Hopper', email: 'grace@school.test', role: 'StudentEnrollment' },
      { id: 14012, name: 'Alan Turing', email: 'alan@school.test', role: 'StudentEnrollment' },
      { id: 1, name: 'Oxana Teacher', email: 'oxana@example.com', role: 'TeacherEnrollment' },
    ],
  },
  '1279362': {
    name: 'Physics',
    people: [
      { id: 3001, name: 'Marie Curie', email: 'marie@school.test', role: 'StudentEnrollment' },
      { id: 3002, name: 'Niels Bohr', email: 'niels@school.test', role: 'StudentEnrollment' },
      { id: 1, name: 'Oxana Teacher', email: 'oxana@example.com', role: 'TeacherEnrollment' },
    ],
  },
  '100123': {
    name: 'Quizzes 101',
    people: [{ id: 987123, name: 'Emmy Noether', email: 'emmy@school.test', role: 'StudentEnrollment' }],
  },
}

/** Canvas accepts global ids (shard × 10^13 + id) wherever it takes local ones. */
function local(id: string): string {
  return /^\d{14,}$/.test(id) ? String(BigInt(id) % 10_000_000_000_000n) : id
}

export interface LmsStandIn {
  url: string
  /** While true, every API (not the JWKS) answers 503. */
  failing: boolean
  /** Every API answer waits this long first. */
  delayMs: number
  /** Requests per path prefix, to see batching and caching. */
  calls: string[]
  /** The JWKS served at /jwks. */
  keys: JsonWebKey[]
  close(): void
}

export function startLmsStandIn(): LmsStandIn {
  const state: LmsStandIn = { url: '', failing: false, delayMs: 0, calls: [], keys: [], close: () => {} }
  const moodleUsers = [
    ...fixture<{ user: { id: number; firstname: string; email: string }[] }>('moodle-events/user_enrolment_created.data.json').user,
    { id: 3, firstname: 'test_fullname3', email: 'third@test.com' },
  ]
  const json = (value: unknown, init: ResponseInit = {}) => Response.json(value, init)

  const canvas = async (request: Request, url: URL): Promise<Response> => {
    if (request.headers.get('authorization') !== `Bearer ${CANVAS_TOKEN}`) return json({ errors: [{ message: 'Invalid access token.' }] }, { status: 401 })
    const path = url.pathname.split('/').map(local).join('/')
    let m: RegExpExecArray | null
    if (path === '/api/graphql' && request.method === 'POST') {
      const { variables } = (await request.json()) as { variables: { id: string } }
      if (local(variables.id) === '1234012') return json({ data: { assignment: { _id: '1234012', name: 'Essay 1', htmlUrl: `${state.url}/courses/565/assignments/1234012`, course: { _id: '565' } } } })
      return json({ data: { assignment: null } })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/users$/.exec(path))) {
      const course = CANVAS_COURSES[m[1]!]
      if (!course) return json({ errors: [{ message: 'not found' }] }, { status: 404 })
      const page = Number(url.searchParams.get('page') ?? '1')
      const all = course.people.map((p) => ({ id: p.id, name: p.name, sortable_name: p.name, short_name: p.name, email: p.email, locale: p.locale ?? null, enrollments: [{ type: p.role, enrollment_state: 'active' }] }))
      // Two a page, so enrichment has to follow Canvas's pagination.
      const slice = all.slice((page - 1) * 2, page * 2)
      const headers = new Headers()
      if (page * 2 < all.length) {
        const next = new URL(url)
        next.searchParams.set('page', String(page + 1))
        headers.set('link', `<${next}>; rel="next"`)
      }
      return json(slice, { headers })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)$/.exec(path))) {
      const course = CANVAS_COURSES[m[1]!]
      return course ? json({ id: Number(m[1]), name: course.name, course_code: course.name, workflow_state: 'available' }) : json({ errors: [] }, { status: 404 })
    }
    if ((m = /^\/api\/v1\/users\/(\d+)$/.exec(path))) {
      if (m[1] === '25999') return json({ id: 25999, name: 'test user', short_name: 'test user', email: 'test.user@school.test', locale: 'fr', time_zone: 'Europe/Paris' })
      const person = Object.values(CANVAS_COURSES).flatMap((c) => c.people).find((p) => String(p.id) === m![1])
      return person ? json({ id: person.id, name: person.name, email: person.email }) : json({ errors: [] }, { status: 404 })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/assignments\/(\d+)$/.exec(path))) {
      return json({ id: Number(m[2]), name: `Lab report ${m[2]}`, html_url: `${state.url}/courses/${m[1]}/assignments/${m[2]}`, due_at: null })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/assignments\/(\d+)\/overrides\/(\d+)$/.exec(path))) {
      return json({ id: Number(m[3]), assignment_id: Number(m[2]), student_ids: [3002], title: '1 student' })
    }
    if ((m = /^\/api\/v1\/sections\/(\d+)\/enrollments$/.exec(path))) {
      return json([{ id: 9001, user_id: 3001, course_section_id: Number(m[1]), type: 'StudentEnrollment', user: { id: 3001, name: 'Marie Curie' } }])
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/quizzes\/(\d+)$/.exec(path))) {
      return json({ id: Number(m[2]), title: 'Quiz 3', html_url: `${state.url}/courses/${m[1]}/quizzes/${m[2]}`, assignment_id: 777 })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/quizzes\/(\d+)\/submissions\/(\d+)$/.exec(path))) {
      return json({ quiz_submissions: [{ id: Number(m[3]), quiz_id: Number(m[2]), user_id: 987123, finished_at: '2019-11-01T19:11:33Z', workflow_state: 'complete' }] })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/discussion_topics\/(\d+)$/.exec(path))) {
      return json({ id: Number(m[2]), title: 'Week 1: introductions', html_url: `${state.url}/courses/${m[1]}/discussion_topics/${m[2]}`, author: { id: 1, display_name: 'Oxana Teacher' } })
    }
    if ((m = /^\/api\/v1\/courses\/(\d+)\/discussion_topics\/(\d+)\/view$/.exec(path))) {
      return json({ unread_entries: [], forced_entries: [], participants: [{ id: 98765, display_name: 'Ada Lovelace' }, { id: 555, display_name: 'Grace Hopper' }], view: [], new_entries: [] })
    }
    return json({ errors: [{ message: 'The specified resource does not exist.' }] }, { status: 404 })
  }

  const moodle = async (request: Request): Promise<Response> => {
    const form = new URLSearchParams(await request.text())
    if (form.get('wstoken') !== MOODLE_TOKEN) return json({ exception: 'moodle_exception', errorcode: 'invalidtoken', message: 'Invalid token - token not found' })
    const fn = form.get('wsfunction')
    const list = (name: string) => [...form.entries()].filter(([k]) => k.startsWith(`${name}[`)).map(([, v]) => v)
    const user = (u: (typeof moodleUsers)[number]) => ({ id: u.id, username: `user${u.id}`, firstname: u.firstname, lastname: '', fullname: u.firstname, email: u.email, lang: 'en', timezone: '99' })
    switch (fn) {
      case 'core_user_get_users_by_field':
        return json(moodleUsers.filter((u) => list('values').includes(String(u.id))).map(user))
      case 'core_course_get_courses_by_field':
        return json({ courses: form.get('value') === '2' ? [{ id: 2, fullname: 'Moodle 101', displayname: 'Moodle 101', shortname: 'M101' }] : [], warnings: [] })
      case 'mod_assign_get_assignments':
        return json({ courses: [{ id: 2, fullname: 'Moodle 101', assignments: [{ id: 9, cmid: 1, course: 2, name: 'Essay', duedate: 0 }] }], warnings: [] })
      case 'mod_forum_get_discussion_posts':
        return json({
          posts: [
            { id: 5, discussionid: 1, parentid: null, subject: 'Welcome thread', message: '<p>Say hello</p>', author: { id: 2, fullname: 'test_fullname2' } },
            { id: 1, discussionid: 1, parentid: 5, subject: 'Re: Welcome thread', message: '<p>Hello <b>all</b></p>', author: { id: 1, fullname: 'test_fullname' } },
          ],
          warnings: [],
        })
      case 'core_enrol_get_enrolled_users':
        return json([
          { ...user(moodleUsers[0]!), roles: [{ roleid: 5, shortname: 'student' }] },
          { ...user(moodleUsers[2]!), roles: [{ roleid: 5, shortname: 'student' }] },
          { ...user(moodleUsers[1]!), roles: [{ roleid: 3, shortname: 'editingteacher' }] },
        ])
      case 'core_calendar_get_calendar_event_by_id':
        return form.get('eventid') === '40'
          ? json({ event: { id: 40, name: 'Essay is due', courseid: 2, modulename: 'assign', instance: 9, eventtype: 'due', timestart: Math.floor(Date.now() / 1000) + 10 * 86400 }, warnings: [] })
          : json({ exception: 'dml_missing_record_exception', errorcode: 'invalidrecord', message: 'Can not find data record in database.' })
      default:
        return json({ exception: 'dml_missing_record_exception', errorcode: 'invalidrecord', message: 'Can not find data record in database table external_functions.' })
    }
  }

  const server = Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    async fetch(request) {
      const url = new URL(request.url)
      state.calls.push(url.pathname)
      if (url.pathname === '/jwks') return Response.json({ keys: state.keys })
      if (state.delayMs > 0) await Bun.sleep(state.delayMs)
      if (state.failing) return new Response('Service Unavailable', { status: 503 })
      if (url.pathname.endsWith('/webservice/rest/server.php')) return moodle(request)
      return canvas(request, url)
    },
  })
  state.url = `http://127.0.0.1:${server.port}`
  state.close = () => void server.stop(true)
  return state
}

/** An RSA key pair as Canvas signs Live Events with: the private key for tests, the public one as a JWK with its kid. */
export async function signingKey(kid: string): Promise<{ privateKey: CryptoKey; jwk: JsonWebKey & { kid: string } }> {
  const pair = (await crypto.subtle.generateKey(
    { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' },
    true,
    ['sign', 'verify'],
  )) as CryptoKeyPair
  const jwk = (await crypto.subtle.exportKey('jwk', pair.publicKey)) as JsonWebKey
  return { privateKey: pair.privateKey, jwk: { kty: jwk.kty, n: jwk.n, e: jwk.e, alg: 'RS256', use: 'sig', kid } }
}

export async function signJwt(claims: Record<string, unknown>, privateKey: CryptoKey, kid: string): Promise<string> {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const input = `${part({ alg: 'RS256', typ: 'JWT', kid })}.${part(claims)}`
  const signature = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', privateKey, new TextEncoder().encode(input))
  return `${input}.${Buffer.from(signature).toString('base64url')}`
}
