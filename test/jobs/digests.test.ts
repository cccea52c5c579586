// Protects the digest (issue 3, items 6 and 7): mail a learner asked to get
// daily or weekly, and what goes over the day's budget, waits as `digested`
// and then arrives as ONE email at 08:00 on the learner's own clock, grouped
// by course, each update with its link; an empty digest is never sent; two
// runs at once, or the job in two processes at once, send it once. The clock
// is driven by passing `now`; nothing sleeps for hours.

import { afterAll, afterEach, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { and, eq, sql } from 'drizzle-orm'
import { messages } from '../../src/db/schema/index.ts'
import type { Frequency } from '../../src/db/schema/index.ts'
import { setCourseMuted, setFrequency } from '../../src/preferences/queries.ts'
import { nextDigestTime, wallClock } from '../../src/preferences/schedule.ts'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { createTestDatabase, onPostgres } from '../support/db.ts'
import { eventually } from '../support/outbox.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { header, linkTargets, links } from '../support/mail.ts'

// Each test boots a service (or two) on a fresh database: more than bun's 5 s default on a slow machine.
setDefaultTimeout(30_000)

let sink: SmtpSink
beforeAll(async () => {
  sink = await startSmtpSink()
})
afterAll(() => sink.close())

// A service per test: a run handed a clock a week ahead must not find another test's items.
const running: TestService[] = []
async function start(env: Record<string, string> = {}, options: { schedule?: boolean } = {}) {
  const t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ...env }, options)
  running.push(t)
  return t
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((t) => t.stop()))
  sink.reset()
})

type User = { id: string; email: string; name: string; timezone?: string }
const user = (id: string, timezone?: string): User => ({
  id,
  email: `${id}@learner.test`,
  name: `Learner ${id}`,
  ...(timezone ? { timezone } : {}),
})
const algebra = { id: 'c-alg', title: 'Algebra & <Geometry>', url: 'https://lms.test/c/alg' }
const history = { id: 'c-his', title: 'World History', url: 'https://lms.test/c/his' }
const thread = (n: number) => ({ id: `t-${n}`, title: `Thread number ${n}`, url: `https://lms.test/t/${n}?x=1&y=2` })

/** Makes the learner known, then sets their frequency for `discussions` when given. */
async function learner(t: TestService, who: User, frequency?: Frequency): Promise<string> {
  expect((await t.post('user.updated', { user: who })).status).toBe(202)
  const id = (await findRecipientId(t.service.database.db, who.id))!
  if (frequency) await setFrequency(t.service.database.db, id, 'discussions', frequency)
  return id
}

async function discuss(t: TestService, reader: User, n: number, course = algebra) {
  const response = await t.post('discussion.post_created', {
    course,
    thread: thread(n),
    post: { id: `p-${n}`, author: { id: 'u-prof', name: 'Prof Noether' }, excerpt: `Post ${n}` },
    recipients: [reader],
  })
  expect(response.status).toBe(202)
}

function rowsOf(t: TestService, recipientId: string) {
  return t.service.database.db.select().from(messages).where(eq(messages.recipientId, recipientId)).orderBy(messages.createdAt)
}

/** Waits until the worker has settled every one of the learner's `discussion_update` rows. */
async function settled(t: TestService, recipientId: string, count: number) {
  return eventually(
    async () => {
      const rows = (await rowsOf(t, recipientId)).filter((m) => m.notification === 'discussion_update')
      return rows.length === count && rows.every((m) => m.state === 'digested' || m.state === 'sent') && rows
    },
    10_000,
    `${count} settled discussion updates`,
  )
}

async function digestsOf(t: TestService, recipientId?: string) {
  return t.service.database.db
    .select()
    .from(messages)
    .where(and(eq(messages.notification, 'digest'), recipientId ? eq(messages.recipientId, recipientId) : undefined))
}

/** Nothing beyond what has arrived shows up within a moment. */
async function noMoreThan(count: number) {
  await Bun.sleep(300)
  expect(sink.messages).toHaveLength(count)
}

describe('daily digest', () => {
  test('three discussion updates for a daily learner in Tokyo: one email at their 08:00, listing all three with links', async () => {
    const t = await start()
    const ken = user('u-ken', 'Asia/Tokyo')
    const id = await learner(t, ken, 'daily')
    const before = new Date()
    for (const n of [1, 2, 3]) await discuss(t, ken, n)
    const after = new Date()

    // Nothing arrives now: the three wait for the digest, due at the next 08:00 in Tokyo.
    const held = await settled(t, id, 3)
    await noMoreThan(0)
    expect(held.map((m) => [m.state, m.reason, m.digestId])).toEqual(Array(3).fill(['digested', 'preference', null]))
    const runAt = held[0]!.runAt
    expect(held.every((m) => m.runAt.getTime() === runAt.getTime())).toBe(true)
    expect([nextDigestTime(before, 'Asia/Tokyo', 'daily').getTime(), nextDigestTime(after, 'Asia/Tokyo', 'daily').getTime()]).toContain(
      runAt.getTime(),
    )
    expect(wallClock(runAt, 'Asia/Tokyo')).toMatchObject({ hour: 8, minute: 0, second: 0 })

    // A minute early: nothing.
    expect(await t.service.jobs!.runDigests(new Date(runAt.getTime() - 60_000))).toEqual({ digests: 0, items: 0, skipped: 0 })
    await noMoreThan(0)

    // 08:00 Tokyo: exactly one email.
    expect(await t.service.jobs!.runDigests(runAt)).toEqual({ digests: 1, items: 3, skipped: 0 })
    const [mail] = await sink.waitFor(1, 10_000)
    await noMoreThan(1)
    expect(mail!.envelope.to).toEqual([ken.email])
    expect(mail!.parsed.subject).toBe('Your daily digest: 3 updates')
    expect(String(mail!.parsed.html)).toContain('<html lang="en"')
    // Grouped under the course, with its link; each update by its own subject, linking to its thread
    // (through click tracking, issue 7).
    expect(linkTargets(mail!, t.service.signer)).toContain(algebra.url)
    expect(String(mail!.parsed.html)).toContain('Algebra &amp; &lt;Geometry&gt;')
    expect(mail!.parsed.text).toContain(`Algebra & <Geometry> (${algebra.url})`)
    for (const n of [1, 2, 3]) {
      expect(linkTargets(mail!, t.service.signer)).toContain(thread(n).url)
      expect(mail!.parsed.text).toContain(thread(n).url)
      expect(mail!.parsed.text).toContain(`- Prof Noether replied in "Thread number ${n}"`)
      expect(String(mail!.parsed.html)).toContain(`Thread number ${n}`)
    }
    // In the order they came.
    const text = mail!.parsed.text!
    expect(text.indexOf('Thread number 1')).toBeLessThan(text.indexOf('Thread number 2'))
    expect(text.indexOf('Thread number 2')).toBeLessThan(text.indexOf('Thread number 3'))

    // Non-essential mail to a learner: both RFC 8058 headers, on PUBLIC_URL.
    expect(header(mail!, 'List-Unsubscribe')).toMatch(/^<http:\/\/belfry\.test\/u\/[^>\s]+>$/)
    expect(header(mail!, 'List-Unsubscribe-Post')).toBe('List-Unsubscribe=One-Click')
    expect(links(mail!).some((href) => href.startsWith('http://belfry.test/preferences/'))).toBe(true)

    // The digest is an outbox row like any other; the items point at it and stay `digested`.
    const [digest] = await digestsOf(t, id)
    expect(digest).toMatchObject({ category: 'digest', toAddress: ken.email, toName: ken.name, digestId: null })
    expect(mail!.parsed.messageId).toBe(digest!.messageIdHeader)
    expect(digest!.messageIdHeader).toMatch(/^<[0-9a-f-]{36}@belfry\.test>$/)
    await eventually(async () => (await digestsOf(t, id))[0]?.state === 'sent', 5000, 'the digest row sent')
    const items = (await rowsOf(t, id)).filter((m) => m.notification === 'discussion_update')
    expect(items.map((m) => [m.state, m.digestId])).toEqual(Array(3).fill(['digested', digest!.id]))

    // Run again, now and much later: nothing more.
    expect((await t.service.jobs!.runDigests(runAt)).digests).toBe(0)
    expect((await t.service.jobs!.runDigests(new Date(runAt.getTime() + 7 * 86_400_000))).digests).toBe(0)
    await noMoreThan(1)
    expect(await digestsOf(t)).toHaveLength(1)
  })

  test('grouped by course, in the order the updates came; the learner zone unknown means 08:00 UTC', async () => {
    const t = await start()
    const noa = user('u-noa')
    const id = await learner(t, noa, 'daily')
    await discuss(t, noa, 1, history)
    await discuss(t, noa, 2, algebra)
    await discuss(t, noa, 3, history)
    const held = await settled(t, id, 3)
    expect(wallClock(held[0]!.runAt, 'UTC')).toMatchObject({ hour: 8, minute: 0 })
    await t.service.jobs!.runDigests(held[0]!.runAt)
    const [mail] = await sink.waitFor(1, 10_000)
    const text = mail!.parsed.text!
    // History (first update) heads the email with both of its threads; Algebra follows.
    const order = ['World History', 'Thread number 1', 'Thread number 3', 'Algebra & <Geometry>', 'Thread number 2'].map((s) => text.indexOf(s))
    expect(order.every((at) => at >= 0)).toBe(true)
    expect([...order].sort((a, b) => a - b)).toEqual(order)
  })

  test('items that vanished (cancelled) send nothing; a muted course or a category turned off since drops its items', async () => {
    const t = await start()
    const db = t.service.database.db
    const ivy = user('u-ivy', 'Europe/Berlin')
    const id = await learner(t, ivy, 'daily')
    await discuss(t, ivy, 1, algebra)
    await discuss(t, ivy, 2, history)
    const held = await settled(t, id, 2)
    const due = held[0]!.runAt

    // Every waiting item cancelled (say, the learner was erased): no digest at all.
    await db.execute(sql`update messages set state = 'cancelled' where recipient_id = ${id} and state = 'digested'`)
    expect(await t.service.jobs!.runDigests(due)).toEqual({ digests: 0, items: 0, skipped: 0 })

    // New items; then the learner mutes Algebra overnight: only History goes out.
    await db.execute(sql`update messages set state = 'digested', reason = 'preference' where recipient_id = ${id}`)
    await setCourseMuted(db, id, algebra.id, true)
    expect(await t.service.jobs!.runDigests(due)).toEqual({ digests: 1, items: 1, skipped: 1 })
    const [mail] = await sink.waitFor(1, 10_000)
    expect(mail!.parsed.subject).toBe('Your daily digest: 1 update')
    expect(mail!.parsed.text).toContain('Thread number 2')
    expect(mail!.parsed.text).not.toContain('Thread number 1')
    const rows = await rowsOf(t, id)
    expect(rows.find((m) => (m.variables.thread as { id: string }).id === 't-1')).toMatchObject({ state: 'skipped', reason: 'course_muted' })

    // Discussions turned off entirely: waiting items are dropped, and no digest is sent for them.
    await discuss(t, ivy, 3, history)
    const waiting = await eventually(async () => (await rowsOf(t, id)).find((m) => m.state === 'digested' && m.digestId === null))
    await setFrequency(db, id, 'discussions', 'off')
    expect(await t.service.jobs!.runDigests(waiting.runAt)).toEqual({ digests: 0, items: 0, skipped: 1 })
    await noMoreThan(1)
  })

  test('more than 50 updates: 50 listed, the rest counted, all carried by the one digest', async () => {
    const t = await start()
    const db = t.service.database.db
    const max = user('u-max', 'UTC')
    const id = await learner(t, max, 'daily')
    await discuss(t, max, 0)
    const [first] = await settled(t, id, 1)
    // 55 more waiting items, written directly: the gate's part is covered above.
    await db.execute(sql`
      insert into messages (recipient_id, notification, category, to_address, locale, variables, course_id, state, run_at, reason, message_id_header)
      select recipient_id, notification, category, to_address, locale,
             jsonb_set(variables, '{thread}', jsonb_build_object('id', 't-' || n, 'title', 'Bulk ' || n, 'url', 'https://lms.test/bulk/' || n)),
             course_id, state, run_at, reason, '<bulk-' || n || '@belfry.test>'
      from messages, generate_series(1, 55) as n where id = ${first!.id}`)
    expect(await t.service.jobs!.runDigests(first!.runAt)).toEqual({ digests: 1, items: 56, skipped: 0 })
    const [mail] = await sink.waitFor(1, 10_000)
    expect(mail!.parsed.subject).toBe('Your daily digest: 56 updates')
    expect(mail!.parsed.text!.match(/^- /gm)).toHaveLength(50)
    expect(mail!.parsed.text).toContain('...and 6 more updates.')
    const attached = (await rowsOf(t, id)).filter((m) => m.notification === 'discussion_update')
    expect(new Set(attached.map((m) => m.digestId)).size).toBe(1)
    expect(attached[0]!.digestId).not.toBeNull()
  })
})

describe('weekly digest', () => {
  test("a weekly learner's updates wait for Monday 08:00 on their clock", async () => {
    const t = await start()
    const wes = user('u-wes', 'America/New_York')
    const id = await learner(t, wes, 'weekly')
    const before = new Date()
    await discuss(t, wes, 7)
    const after = new Date()
    const [item] = await settled(t, id, 1)
    expect(item!.state).toBe('digested')
    expect([nextDigestTime(before, 'America/New_York', 'weekly').getTime(), nextDigestTime(after, 'America/New_York', 'weekly').getTime()]).toContain(
      item!.runAt.getTime(),
    )
    expect(wallClock(item!.runAt, 'America/New_York')).toMatchObject({ weekday: 1, hour: 8, minute: 0 })

    // The next morning's daily run (if it is not Monday) and a minute before Monday 08:00: nothing.
    expect((await t.service.jobs!.runDigests(new Date(item!.runAt.getTime() - 60_000))).digests).toBe(0)
    await noMoreThan(0)
    expect(await t.service.jobs!.runDigests(item!.runAt)).toEqual({ digests: 1, items: 1, skipped: 0 })
    const [mail] = await sink.waitFor(1, 10_000)
    expect(mail!.parsed.subject).toBe('Your weekly digest: 1 update')
    expect(mail!.parsed.text).toContain(thread(7).url)
    expect(mail!.parsed.text).toContain('this week')
  })
})

describe('notification budget', () => {
  test('15 immediate updates in one course in a day: 10 emails, the other 5 in the next daily digest', async () => {
    const t = await start()
    const bea = user('u-bea', 'Europe/Lisbon')
    const id = await learner(t, bea)
    for (let n = 1; n <= 15; n++) await discuss(t, bea, n)
    const rows = await settled(t, id, 15)
    await sink.waitFor(10, 10_000)
    await noMoreThan(10)
    const sent = rows.filter((m) => m.state === 'sent')
    const over = rows.filter((m) => m.state === 'digested')
    expect(sent).toHaveLength(10)
    expect(over).toHaveLength(5)
    expect(over.every((m) => m.reason === 'budget' && m.digestId === null)).toBe(true)
    const due = over[0]!.runAt
    expect(over.every((m) => m.runAt.getTime() === due.getTime())).toBe(true)
    expect(wallClock(due, 'Europe/Lisbon')).toMatchObject({ hour: 8, minute: 0 })

    expect(await t.service.jobs!.runDigests(due)).toEqual({ digests: 1, items: 5, skipped: 0 })
    await sink.waitFor(11, 10_000)
    await noMoreThan(11)
    const digest = sink.messages[10]!
    expect(digest.parsed.subject).toBe('Your daily digest: 5 updates')
    const listed = over.map((m) => (m.variables.thread as { url: string }).url)
    for (const url of listed) expect(linkTargets(digest, t.service.signer)).toContain(url)
    expect(digest.parsed.text!.match(/^- /gm)).toHaveLength(5)
    // The ones already emailed are not repeated.
    for (const m of sent) expect(digest.parsed.text).not.toContain((m.variables.thread as { url: string }).url)
  })
})

describe('run twice at once', () => {
  test('two concurrent runs create exactly one digest per learner', async () => {
    const t = await start()
    const readers = [user('u-c1', 'Asia/Kolkata'), user('u-c2', 'Asia/Kolkata'), user('u-c3', 'Asia/Kolkata')]
    const ids = await Promise.all(readers.map((r) => learner(t, r, 'daily')))
    for (const n of [1, 2]) {
      expect((await t.post('discussion.post_created', {
        course: algebra,
        thread: thread(n),
        post: { id: `p-${n}`, author: { id: 'u-prof', name: 'Prof' }, excerpt: 'x' },
        recipients: readers,
      })).status).toBe(202)
    }
    const held = await Promise.all(ids.map((id) => settled(t, id, 2)))
    const due = held[0]![0]!.runAt
    const results = await Promise.all([t.service.jobs!.runDigests(due), t.service.jobs!.runDigests(due), t.service.jobs!.runDigests(due)])
    expect(results.reduce((sum, r) => sum + r.digests, 0)).toBe(3)
    expect(results.reduce((sum, r) => sum + r.items, 0)).toBe(6)
    await sink.waitFor(3, 10_000)
    await noMoreThan(3)
    expect(sink.messages.map((m) => m.envelope.to[0]).sort()).toEqual(readers.map((r) => r.email).sort())
    for (const id of ids) expect(await digestsOf(t, id)).toHaveLength(1)
  })

  test('the scheduled job, triggered in two services on one database at once, runs once', async () => {
    const testDb = await createTestDatabase()
    // On Postgres each service has its own pool (as two processes would); PGlite is one session, shared.
    const a = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { testDb })
    const b = await startTestService(
      { MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url },
      { testDb: onPostgres ? { ...testDb, database: await testDb.openAnother() } : testDb },
    )
    try {
      const readers = [user('u-j1'), user('u-j2')]
      const ids = await Promise.all(readers.map((r) => learner(a, r, 'daily')))
      for (const r of readers) await discuss(a, r, 1)
      await Promise.all(ids.map((id) => settled(a, id, 1)))
      // The job uses the real clock: make the items due now.
      await a.service.database.db.execute(sql`update messages set run_at = now() - interval '1 minute' where state = 'digested'`)

      const outcomes = await Promise.all([a.service.jobs!.trigger('digests'), b.service.jobs!.trigger('digests')])
      expect(outcomes).toContain('ran')
      expect(outcomes).not.toContain('failed')
      expect(await digestsOf(a)).toHaveLength(2)
      await sink.waitFor(2, 10_000)
      await noMoreThan(2)
      // And again on both: nothing left to do.
      await Promise.all([a.service.jobs!.trigger('digests'), b.service.jobs!.trigger('digests')])
      expect(await digestsOf(a)).toHaveLength(2)
    } finally {
      await b.stop()
      await a.stop()
      await testDb.drop()
    }
  })
})

describe('wiring', () => {
  test('ROLE=api runs no scheduler; ROLE=worker and all do: digests every five minutes on the minute, health every minute', async () => {
    const api = await start({ ROLE: 'api' }, { schedule: true })
    expect(api.service.jobs).toBeNull()
    const worker = await start({ ROLE: 'worker' }, { schedule: true })
    const runs = worker.service.jobs!.nextRuns()
    expect(runs.health!.getTime() - Date.now()).toBeLessThanOrEqual(60_000)
    expect(runs.housekeeping!.getUTCMinutes()).toBe(17)
    const next = runs.digests!
    expect(next.getTime()).toBeGreaterThan(Date.now())
    expect(next.getTime() - Date.now()).toBeLessThanOrEqual(5 * 60_000)
    expect(next.getUTCMinutes() % 5).toBe(0)
    expect(next.getUTCSeconds()).toBe(0)
    expect(next.getUTCMilliseconds()).toBe(0)
  })
})
