// Protects the announcement admin routes: a change without the session's
// CSRF token is refused and stores nothing; a segment shows its size before
// sending (course segments from what the LMS's events said); a time chosen
// in the admin's zone is stored as the right instant and shown in UTC; a
// hostile subject is escaped; an A/B subject splits the sends; cancel stops
// what has not gone out.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { ADMIN_PASSWORD, signIn } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { adminPost, announcementRow, BODY, createAnnouncement, form, rowsByState, seedEnrollments, seedLearners, sendToTheEnd } from './support.ts'

let t: TestService
let cookie: string

beforeAll(async () => {
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORT: 'null' }, { pollMs: 20 })
  await seedLearners(t.service.database.db, 300)
  await seedEnrollments(t.service.database.db, 'c-algebra', 1, 40)
  await seedEnrollments(t.service.database.db, 'c-physics', 31, 20)
  cookie = await signIn(t, ADMIN)
}, 60_000)

afterAll(async () => {
  await t?.stop()
})

const count = async (table: string) =>
  (await rows<{ n: number }>(t.service.database.db, sql`select count(*)::int as n from ${sql.identifier(table)}`))[0]!.n

describe('CSRF', () => {
  test('a new announcement without the token is refused and nothing is stored', async () => {
    const response = await t.send(
      new Request('http://belfry.test/admin/announcements', {
        ...form({ ...BODY, segment: 'everyone' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
      }),
    )
    expect(response.status).toBe(403)
    expect(await count('announcements')).toBe(0)
  })

  test('send, pause and cancel with a wrong token are refused', async () => {
    const id = await createAnnouncement(t, cookie)
    for (const verb of ['send', 'pause', 'cancel']) {
      const response = await t.send(
        new Request(`http://belfry.test/admin/announcements/${id}/${verb}`, {
          ...form({ _csrf: 'not-the-token', when: 'now' }),
          headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        }),
      )
      expect(response.status).toBe(403)
    }
    expect((await announcementRow(t.service.database.db, id)).state).toBe('draft')
  })
})

describe('segment size', () => {
  const sizeOf = async (fields: Record<string, string>) => (await (await adminPost(t, cookie, '/admin/announcements/segment-size', fields)).text()).replace(/<[^>]+>/g, '')

  test('is shown for every kind of segment before sending', async () => {
    expect(await sizeOf({ segment: 'everyone' })).toContain('300 people in this segment')
    // Learners 31–40 are in both courses: counted once.
    expect(await sizeOf({ segment: 'courses', courses: 'c-algebra, c-physics' })).toContain('50 people in this segment')
    expect(await sizeOf({ segment: 'courses', courses: 'c-physics' })).toContain('20 people in this segment')
    // Every tenth seeded learner reads French.
    expect(await sizeOf({ segment: 'locale', locale: 'fr' })).toContain('30 people in this segment')
    expect(await sizeOf({ segment: 'admins' })).toContain('1 person in this segment')
    expect(await sizeOf({ segment: 'courses', courses: ' ' })).toContain('Enter the LMS id of at least one course.')
  })

  test('counts who will be skipped, and the compose page shows it', async () => {
    await t.service.database.db.execute(sql`insert into suppressions (email, reason) values ('learner5@example.org', 'manual')`)
    expect(await sizeOf({ segment: 'courses', courses: 'c-algebra' })).toContain('40 people in this segment; 1 of them opted out or suppressed')
    const id = await createAnnouncement(t, cookie, { segment: 'courses', courses: 'c-algebra' })
    const page = await (await t.send(new Request(`http://belfry.test/admin/announcements/${id}`, { headers: { cookie } }))).text()
    expect(page).toContain('40 people in this segment')
  })

  test('a course segment sends to exactly its learners', async () => {
    const id = await createAnnouncement(t, cookie, { segment: 'courses', courses: 'c-physics' })
    await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'now' })
    await sendToTheEnd(t, id)
    const to = await rows<{ to_address: string }>(
      t.service.database.db,
      sql`select to_address from messages where subject_ref = ${`announcement:${id}`} order by to_address`,
    )
    expect(to.map((r) => r.to_address).sort()).toEqual(Array.from({ length: 20 }, (_, i) => `learner${31 + i}@example.org`).sort())

    // The admin's message page shows such an email as it was sent, body included.
    const [one] = await rows<{ id: string }>(t.service.database.db, sql`select id from messages where subject_ref = ${`announcement:${id}`} limit 1`)
    const page = await t.send(new Request(`http://belfry.test/admin/messages/${one!.id}`, { headers: { cookie } }))
    expect(page.status).toBe(200)
    const body = await page.text()
    expect(body).not.toContain('cannot be rendered')
    expect(body).toContain('the platform is down from 08:00 to 10:00 UTC')
    const preview = await t.send(new Request(`http://belfry.test/admin/messages/${one!.id}/preview`, { headers: { cookie } }))
    expect(await preview.text()).toContain('the platform is down from 08:00 to 10:00 UTC')
  })
})

describe('compose and send', () => {
  test('a send time in the admin zone is stored as that instant and shown in UTC', async () => {
    const id = await createAnnouncement(t, cookie)
    const shown = await (await adminPost(t, cookie, '/admin/announcements/send-time', { send_at: '2099-07-01T09:30', time_zone: 'Europe/Paris' })).text()
    expect(shown).toContain('2099-07-01 09:30 in Europe/Paris is 2099-07-01 07:30 UTC')
    const response = await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'later', send_at: '2099-07-01T09:30', time_zone: 'Europe/Paris' })
    const page = await response.text()
    expect(page).toContain('Scheduled for 2099-07-01 09:30 (Europe/Paris), which is 2099-07-01 07:30 UTC.')
    const [row] = await rows<{ send_at: string }>(t.service.database.db, sql`select send_at::text from announcements where id = ${id}`)
    expect(new Date(row!.send_at).toISOString()).toBe('2099-07-01T07:30:00.000Z')
    // Not due: the job leaves it alone.
    await t.service.jobs!.trigger('announcements')
    expect((await announcementRow(t.service.database.db, id)).state).toBe('scheduled')
    expect(await (await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'later', send_at: '2001-01-01T00:00', time_zone: 'UTC' })).text()).toContain('has passed')
  })

  test('a hostile subject is escaped in the admin pages', async () => {
    const hostile = '"><script>alert(1)</script>'
    const id = await createAnnouncement(t, cookie, { subject: hostile })
    const page = await (await t.send(new Request(`http://belfry.test/admin/announcements/${id}`, { headers: { cookie } }))).text()
    // In text, markup is escaped; in an attribute (the subject field's value) the quote is, so nothing breaks out.
    expect(page).not.toContain(hostile)
    expect(page).toContain('<h1>Announcement: &quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;</h1>')
    const list = await (await t.send(new Request('http://belfry.test/admin/announcements', { headers: { cookie } }))).text()
    expect(list).not.toContain('<script>alert(1)')
  })

  test('MJML that does not compile is refused with the problem', async () => {
    const before = await count('announcements')
    const response = await adminPost(t, cookie, '/admin/announcements', { ...BODY, segment: 'everyone', mjml: '<mj-image src="https://lms.example.org/banner.png" />' })
    expect(response.status).toBe(422)
    expect(await response.text()).toContain('needs an alt')
    expect(await count('announcements')).toBe(before)
  })

  test('an A/B subject sends each variant its own subject, and the results show both', async () => {
    const id = await createAnnouncement(t, cookie, { subject: 'Subject A', subject_b: 'Subject B' })
    await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'now' })
    await sendToTheEnd(t, id)
    const split = await rows<{ variant: string; subject: string; n: number }>(
      t.service.database.db,
      sql`select variant, subject, count(*)::int as n from messages where subject_ref = ${`announcement:${id}`} and state = 'sent' group by 1, 2 order by 1`,
    )
    expect(split.map((r) => [r.variant, r.subject])).toEqual([
      ['a', 'Subject A'],
      ['b', 'Subject B'],
    ])
    expect(split[0]!.n + split[1]!.n).toBe(299)
    expect(Math.abs(split[0]!.n - split[1]!.n)).toBeLessThan(60)
    const page = await (await t.send(new Request(`http://belfry.test/admin/announcements/${id}`, { headers: { cookie } }))).text()
    expect(page).toContain('per A/B variant')
    expect(page).toContain('Subject B')
  })

  test('cancel stops what has not gone out', async () => {
    const id = await createAnnouncement(t, cookie)
    await adminPost(t, cookie, `/admin/announcements/${id}/send`, { when: 'now' })
    const cancelled = await (await adminPost(t, cookie, `/admin/announcements/${id}/cancel`, {})).text()
    expect(cancelled).toContain('Cancelled;')
    await t.service.jobs!.trigger('announcements')
    expect(await rowsByState(t.service.database.db, id)).toEqual({})
    expect((await announcementRow(t.service.database.db, id)).state).toBe('cancelled')
    const again = await (await adminPost(t, cookie, `/admin/announcements/${id}/resume`, {})).text()
    expect(again).toContain('Nothing to resume')
  })
})
