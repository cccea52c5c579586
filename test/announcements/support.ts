// What the announcement tests share: learners seeded straight into the
// database (thousands, in one statement), and an announcement written and
// sent through the real admin routes.

import { sql } from 'drizzle-orm'
import { expect } from 'bun:test'
import { rows, type Db } from '../../src/db/client.ts'
import { csrfOf } from '../support/admin.ts'
import type { TestService } from '../support/service.ts'

/** `learner<n>@example.org`, lms id `u<n>`, n from 1. */
export const learnerAddress = (n: number) => `learner${n}@example.org`

/** Inserts learners 1..count; returns nothing, they are found by address. */
export async function seedLearners(db: Db, count: number, from = 1): Promise<void> {
  await db.execute(sql`
    insert into recipients (lms_user_id, email, name, locale)
    select 'u' || g, 'learner' || g || '@example.org', 'Learner ' || g, case when g % 10 = 0 then 'fr' else 'en' end
    from generate_series(${from}::int, ${from + count - 1}::int) g`)
}

/** The learners whose number n has n % 100 = `rest`. */
export const everyHundredth = (rest: number) => sql`(substring(lms_user_id from 2)::int % 100) = ${rest}`

/** Learners enrolled in `courseId`, as stored enrollment.created events say. */
export async function seedEnrollments(db: Db, courseId: string, from: number, count: number): Promise<void> {
  await db.execute(sql`
    insert into events (webhook_id, type, body_sha256, data, message_count)
    select 'seed-' || ${courseId} || '-' || g, 'enrollment.created', 'seed',
           jsonb_build_object('user', jsonb_build_object('id', 'u' || g, 'email', 'learner' || g || '@example.org'),
                              'course', jsonb_build_object('id', ${courseId}::text, 'title', 'Course ' || ${courseId}::text),
                              'enrollment', jsonb_build_object('id', 'e' || g)), 0
    from generate_series(${from}::int, ${from + count - 1}::int) g`)
}

export function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  }
}

export async function adminPost(t: TestService, cookie: string, path: string, fields: Record<string, string>): Promise<Response> {
  const init = form({ _csrf: await csrfOf(t, cookie), ...fields })
  return t.send(new Request(`http://belfry.test${path}`, { ...init, headers: { ...(init.headers as Record<string, string>), cookie } }))
}

export const BODY = {
  subject: 'Maintenance on Saturday',
  mjml: '<mj-text>\n<h1>{{email.subject}}</h1>\n<p>Hi {{or user.name "there"}}, the platform is down from 08:00 to 10:00 UTC.</p>\n</mj-text>',
  text: 'Hi {{or user.name "there"}}, the platform is down from 08:00 to 10:00 UTC.',
}

/** Writes a draft through the admin form and returns its id. */
export async function createAnnouncement(t: TestService, cookie: string, fields: Record<string, string> = {}): Promise<string> {
  const response = await adminPost(t, cookie, '/admin/announcements', { ...BODY, segment: 'everyone', ...fields })
  expect(response.status).toBe(303)
  return response.headers.get('location')!.split('/').at(-1)!
}

export async function announcementRow(db: Db, id: string) {
  const [row] = await rows<{ state: string; expanded: number; batches: number; total: number | null }>(
    db,
    sql`select state, expanded, batches, total from announcements where id = ${id}`,
  )
  return row!
}

/** The announcement's outbox rows by state and reason. */
export async function rowsByState(db: Db, id: string): Promise<Record<string, number>> {
  const found = await rows<{ key: string; n: number }>(
    db,
    sql`select state || coalesce(':' || reason, '') as key, count(*)::int as n from messages
        where subject_ref = ${`announcement:${id}`} group by 1`,
  )
  return Object.fromEntries(found.map((r) => [r.key, r.n]))
}

/** Triggers the job until the announcement is fully expanded and every row has settled. */
export async function sendToTheEnd(t: TestService, id: string, timeoutMs = 60_000): Promise<void> {
  const db = t.service.database.db
  const deadline = Date.now() + timeoutMs
  for (;;) {
    await t.service.jobs!.trigger('announcements')
    const row = await announcementRow(db, id)
    const [pending] = await rows<{ n: number }>(
      db,
      sql`select count(*)::int as n from messages where subject_ref = ${`announcement:${id}`} and state in ('queued', 'sending', 'retrying', 'scheduled')`,
    )
    if (row.state === 'done' && pending!.n === 0) return
    if (Date.now() > deadline) throw new Error(`announcement not sent in ${timeoutMs} ms: ${JSON.stringify(row)}, ${pending!.n} pending`)
    await Bun.sleep(50)
  }
}
