// Protects the operations pages (dashboard, message browser, message page,
// dead letters) through app.handle on a real database with a real SMTP
// server: counters follow the rows, filters select the right messages, a
// message shows its attempts and event, outside content is always text,
// the preview runs sandboxed, dead letters retried (one, a selection, a
// filter) are delivered, discarded ones are cancelled, every action is
// audited, and the routes need a session and a CSRF token.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { randomUUID } from 'node:crypto'
import { desc, eq, inArray } from 'drizzle-orm'
import { auditLog, messages, type MessageState, type NewMessage } from '../../src/db/schema/index.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { attemptsOf, eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

const SCRIPT = '<script>alert(1)</script>'
const IMG = '"><img src=x onerror=alert(1)>'

let sink: SmtpSink
let t: TestService
let cookie: string
let csrf: string

beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ADMIN_PASSWORD })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})

const db = () => t.service.database.db
const get = (path: string, headers: Record<string, string> = {}) =>
  t.send(new Request(`http://belfry.test${path}`, { headers: { cookie, ...headers } }))
async function page(path: string): Promise<string> {
  const response = await get(path)
  expect(response.status).toBe(200)
  return response.text()
}
function post(path: string, fields: [string, string][], headers: Record<string, string> = { cookie }) {
  return t.send(
    new Request(`http://belfry.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
  )
}
const act = (fields: [string, string][]) => post('/admin/dead-letters/action', [['_csrf', csrf], ...fields])

/** Writes outbox rows directly, in states the worker leaves alone. */
async function insertRows(rows: (Partial<NewMessage> & { state: MessageState; toAddress: string })[]): Promise<string[]> {
  const values = rows.map((row) => ({
    notification: 'welcome',
    category: 'account',
    locale: 'en',
    variables: { user: { id: 'u-x', email: row.toAddress, name: 'X' } },
    messageIdHeader: `<${randomUUID()}@belfry.test>`,
    ...row,
  }))
  const inserted = await db().insert(messages).values(values).returning({ id: messages.id })
  return inserted.map((r) => r.id)
}

const ago = (ms: number) => new Date(Date.now() - ms)
const HOUR = 3_600_000

/** The dashboard's counter for a state and period, read from the page as a screen reader would find it. */
function counter(html: string, state: string, period: 'hour' | 'day'): number {
  const row = new RegExp(`<tr id="count-${state}">([\\s\\S]*?)</tr>`).exec(html)?.[1] ?? ''
  const cell = new RegExp(`data-period="${period}"[^>]*>(\\d+)<`).exec(row)?.[1]
  if (cell === undefined) throw new Error(`no ${state}/${period} counter`)
  return Number(cell)
}

/** No raw hostile markup anywhere in the page; its escaped form is what shows. */
function expectEscaped(html: string) {
  expect(html).not.toContain('<script>alert')
  expect(html).not.toContain('<img src=x')
  expect(html).not.toContain('"><img')
}

/** Posts an enrollment whose outside fields carry hostile markup and waits until its message settles. */
async function hostileEnrollment(email: string): Promise<string> {
  const user = { id: `u-${randomUUID()}`, email, name: `${SCRIPT} ${IMG}` }
  const course = { id: `c-${IMG}`, title: `${SCRIPT}${IMG}` }
  const response = await t.post('enrollment.created', { user, course, enrollment: { id: `e-${randomUUID()}` } })
  expect(response.status).toBe(202)
  const { event_id } = (await response.json()) as { event_id: string }
  return eventually(async () => {
    const [row] = await db().select().from(messages).where(eq(messages.eventId, event_id))
    return row && ['sent', 'dead'].includes(row.state) ? row.id : undefined
  }, 10_000, 'the message to settle')
}

describe('without a session', () => {
  test('every operations page sends the visitor to sign in, and actions are refused', async () => {
    for (const path of ['/admin', '/admin/dashboard/live', '/admin/messages', `/admin/messages/${randomUUID()}`, '/admin/dead-letters']) {
      const response = await t.send(new Request(`http://belfry.test${path}`))
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toStartWith('/admin/login?next=')
    }
    const preview = await t.send(new Request(`http://belfry.test/admin/messages/${randomUUID()}/preview`))
    expect(preview.status).toBe(303)
    const action = await post('/admin/dead-letters/action', [['op', 'retry-all']], {})
    expect(action.status).toBe(303)
    // An htmx poll from an expired session is told where to go instead of swapping the sign-in page in.
    const poll = await t.send(new Request('http://belfry.test/admin/dashboard/live', { headers: { 'hx-request': 'true' } }))
    expect(poll.status).toBe(401)
    expect(poll.headers.get('hx-redirect')).toStartWith('/admin/login')
  })

  test('a dead-letter action without the session\'s CSRF token is refused with 403 and changes nothing', async () => {
    const [id] = await insertRows([{ state: 'dead', toAddress: 'csrf@dead.test', lastError: '550 no' }])
    expect((await post('/admin/dead-letters/action', [['op', `retry:${id}`]])).status).toBe(403)
    expect((await post('/admin/dead-letters/action', [['op', `retry:${id}`], ['_csrf', 'forged']])).status).toBe(403)
    const [row] = await db().select().from(messages).where(eq(messages.id, id!))
    expect(row?.state).toBe('dead')
  })
})

describe('dashboard', () => {
  test('warns, once and plainly, that PUBLIC_URL is not https', async () => {
    const html = await page('/admin')
    expect(html.match(/id="insecure-public-url"/g)?.length).toBe(1)
    expect(html).toContain('PUBLIC_URL is not https')
    expect(html).toContain('<code>http://belfry.test</code>')
  })

  test('the counters follow the rows, per state, for the last hour and the last 24 hours', async () => {
    const before = await page('/admin')
    const states = ['queued', 'sending', 'sent', 'retrying', 'dead', 'skipped'] as const
    const future = new Date(Date.now() + 24 * HOUR) // queued/retrying rows not yet due: the worker leaves them
    const rows = states.flatMap((state) => {
      const base = {
        state,
        toAddress: `count-${state}@dash.test`,
        runAt: future,
        ...(state === 'sending' ? { leaseUntil: future, leaseOwner: 'elsewhere' } : {}),
      }
      return [
        { ...base, createdAt: ago(10 * 60_000) },
        { ...base, createdAt: ago(5 * HOUR) },
        { ...base, createdAt: ago(5 * HOUR) },
        { ...base, createdAt: ago(30 * HOUR) }, // older than a day: not counted
      ]
    })
    await insertRows(rows)
    const after = await page('/admin/dashboard/live')
    for (const state of states) {
      expect({ state, hour: counter(after, state, 'hour') - counter(before, state, 'hour') }).toEqual({ state, hour: 1 })
      expect({ state, day: counter(after, state, 'day') - counter(before, state, 'day') }).toEqual({ state, day: 3 })
    }
    // The full page polls the fragment, and the fragment is not a whole document.
    expect(before).toContain('hx-get="/admin/dashboard/live"')
    expect(before).toContain('hx-trigger="every 5s"')
    expect(after).not.toContain('<html')
  })

  test('the oldest due queued message\'s age, the charts and the transport health are shown', async () => {
    const [id] = await insertRows([{ state: 'queued', toAddress: 'old@dash.test', runAt: ago(3 * HOUR + 60_000), createdAt: ago(3 * HOUR) }])
    // The worker takes due queued rows at once; read the page before it does, or see the empty queue.
    const html = await page('/admin')
    expect(html).toMatch(/Oldest queued message has waited <strong>3 h \d+ min<\/strong>|No message is waiting in the queue/)
    expect(html).toContain('role="img"')
    expect(html).toContain('Emails sent per hour')
    expect(html).toContain('Failed delivery attempts per hour')
    expect(html).toContain('<caption>Sent and failed delivery attempts per hour (UTC)</caption>')
    expect(html).toMatch(/<th scope="row"><span>smtp<\/span>/)
    // Let the worker send it before the next test programs the SMTP server.
    await eventually(async () => {
      const [row] = await db().select({ state: messages.state }).from(messages).where(eq(messages.id, id!))
      return row?.state === 'sent'
    })
  })

  test('sent and failed attempts are counted in the current hour and the transport shows its last send', async () => {
    const before = await page('/admin/dashboard/live')
    const sentBefore = Number(/(\d+) sent in the last 24 hours/.exec(before)?.[1])
    sink.failNext(1, 451, '4.3.0 try later')
    const response = await t.post('user.updated', { user: { id: 'u-noop', email: 'noop@learner.test' } })
    expect(response.status).toBe(202)
    await t.post('enrollment.created', {
      user: { id: 'u-chart', email: 'chart@learner.test' },
      course: { id: 'c-chart', title: 'Charts' },
      enrollment: { id: 'e-chart' },
    })
    await eventually(async () => {
      const html = await page('/admin/dashboard/live')
      return Number(/(\d+) sent in the last 24 hours/.exec(html)?.[1]) > sentBefore ? html : undefined
    }, 10_000, 'the sent count to grow')
    const html = await page('/admin/dashboard/live')
    expect(Number(/(\d+) failed attempts/.exec(html)?.[1])).toBeGreaterThanOrEqual(1)
    expect(html).not.toMatch(/<span>smtp<\/span>[\s\S]*?never/)
  })
})

describe('messages', () => {
  test('the list filters by state, notification, recipient email (any case, a substring), course and time', async () => {
    await insertRows([
      { state: 'sent', toAddress: 'Alice.Filter@list.test', notification: 'course_completed', courseId: 'c-filter-1', createdAt: ago(2 * HOUR) },
      { state: 'dead', toAddress: 'bob.filter@list.test', notification: 'welcome', courseId: 'c-filter-2', createdAt: ago(30 * HOUR), lastError: '550 gone' },
      { state: 'skipped', toAddress: 'carol.filter@list.test', notification: 'welcome', courseId: 'c-filter-1', createdAt: ago(10 * 60_000), reason: 'muted' },
      { state: 'skipped', toAddress: 'percent_%@list.test', notification: 'welcome', createdAt: ago(60_000) },
    ])
    const shown = (html: string) =>
      ['alice.filter', 'bob.filter', 'carol.filter', 'percent_%'].filter((who) => html.toLowerCase().includes(`${who}@list.test`))

    expect(shown(await page('/admin/messages?email=FILTER%40LIST'))).toEqual(['alice.filter', 'bob.filter', 'carol.filter'])
    expect(shown(await page('/admin/messages?email=filter&state=dead'))).toEqual(['bob.filter'])
    expect(shown(await page('/admin/messages?email=list.test&notification=welcome'))).toEqual(['bob.filter', 'carol.filter', 'percent_%'])
    expect(shown(await page('/admin/messages?email=filter&course=c-filter-1'))).toEqual(['alice.filter', 'carol.filter'])
    // `%` and `_` are letters here, not wildcards.
    expect(shown(await page('/admin/messages?email=t_%25'))).toEqual(['percent_%'])
    const from = ago(3 * HOUR).toISOString().slice(0, 16)
    const to = ago(HOUR).toISOString().slice(0, 16)
    expect(shown(await page(`/admin/messages?email=filter&from=${from}&to=${to}`))).toEqual(['alice.filter'])
    expect(shown(await page(`/admin/messages?email=filter&from=${from}`))).toEqual(['alice.filter', 'carol.filter'])
    // An unreadable date is said, not silently applied.
    const bad = await page('/admin/messages?email=filter&from=yesterday')
    expect(bad).toContain('A date could not be read')
    expect(shown(bad)).toEqual(['alice.filter', 'bob.filter', 'carol.filter'])
  })

  test('50 a page, with a link to the next page that keeps the filter', async () => {
    await insertRows(Array.from({ length: 55 }, (_, i) => ({ state: 'sent' as const, toAddress: `page${i}@paging.test`, createdAt: ago(i * 1000) })))
    const first = await page('/admin/messages?email=paging.test')
    expect(first.match(/@paging\.test/g)?.length).toBe(50 + 50) // address column + link label
    expect(first).toContain('href="/admin/messages?email=paging.test&page=2"')
    const second = await page('/admin/messages?email=paging.test&page=2')
    expect(second.match(/@paging\.test/g)?.length).toBe(5 + 5)
    expect(second).toContain('page54@paging.test')
    expect(second).toContain('href="/admin/messages?email=paging.test" rel="prev"')
  })

  test('a message page shows its fields, every attempt, headers, text part and event; the preview is sandboxed', async () => {
    sink.failNext(1, 451, '4.3.0 greylisted, try again')
    const id = await hostileEnrollment('shown@learner.test')
    const [row] = await db().select().from(messages).where(eq(messages.id, id))
    expect(row?.state).toBe('sent')
    const html = await page(`/admin/messages/${id}`)
    expect(html).toContain('4.3.0 greylisted, try again')
    expect(html).toContain('<span class="state state-transient">transient</span>')
    expect(html).toContain('<span class="state state-sent">sent</span>')
    expect(html).toContain('enrollment.created')
    expect(html).toContain(row!.messageIdHeader.replace('<', '&lt;').replace('>', '&gt;'))
    expect(html).toContain('List-Unsubscribe')
    expect(html).toContain('<iframe class="preview" sandbox')
    expect(html).toContain(`src="/admin/messages/${id}/preview"`)
    expect(html).toMatch(/<pre class="text-part"[^>]*>[\s\S]*shown|<pre class="text-part"/)
    expectEscaped(html)
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;')

    const preview = await get(`/admin/messages/${id}/preview`)
    expect(preview.status).toBe(200)
    const csp = preview.headers.get('content-security-policy') ?? ''
    expect(csp).toStartWith('sandbox;')
    expect(csp).toContain("default-src 'none'")
    expect(csp).toContain("frame-ancestors 'self'")
    expect(csp).not.toContain('script-src')
    expect(preview.headers.get('x-frame-options')).toBe('SAMEORIGIN')
    const body = await preview.text()
    expect(body).toContain('<html')
    expectEscaped(body)

    const missing = await get(`/admin/messages/${randomUUID()}`)
    expect(missing.status).toBe(404)
    expect((await get('/admin/messages/not-a-uuid')).status).toBe(404)
  })

  test('hostile content in an event shows as text on the dashboard, list, message page and dead letters', async () => {
    sink.failAlways(550, `5.1.1 ${SCRIPT} ${IMG}`)
    const id = await hostileEnrollment('hostile@learner.test')
    sink.acceptAll()
    const [row] = await db().select().from(messages).where(eq(messages.id, id))
    expect(row?.state).toBe('dead')
    for (const path of ['/admin', '/admin/dashboard/live', '/admin/messages', `/admin/messages?email=hostile`, `/admin/messages/${id}`, '/admin/dead-letters']) {
      const html = await page(path)
      expectEscaped(html)
    }
    const dead = await page('/admin/dead-letters?email=hostile')
    expect(dead).toContain('5.1.1 &lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(1)&gt;')
    // A filter value is echoed back in its field, and cannot leave the attribute.
    const echoed = await page(`/admin/messages?email=${encodeURIComponent(IMG)}&course=${encodeURIComponent(SCRIPT)}`)
    expect(echoed).not.toContain('"><img')
    expect(echoed).not.toContain('<script>alert')
    const list = await page('/admin/messages?email=hostile')
    expect(list).toContain('c-&quot;&gt;&lt;img src=x onerror=alert(1)&gt;')
    // Discard it so it does not count in the dead-letter tests below.
    expect((await act([['op', `discard:${id}`], ['confirmed', 'yes']])).status).toBe(303)
  })
})

describe('dead letters', () => {
  /** Makes `count` real dead letters: the sink refuses them for good, then accepts again. */
  async function deadLetters(count: number, tag: string): Promise<string[]> {
    // A policy refusal (5.7.1): an unknown mailbox (5.1.x) would also put the address on the suppression list.
    sink.failAlways(550, '5.7.1 message refused by policy')
    const ids: string[] = []
    for (let i = 0; i < count; i++) {
      const user = { id: `u-${tag}-${i}`, email: `${tag}${i}@dead.test`, name: `Dead ${i}` }
      const response = await t.post('enrollment.created', { user, course: { id: `c-${tag}`, title: 'Dead letters' }, enrollment: { id: `e-${tag}-${i}` } })
      expect(response.status).toBe(202)
    }
    const rows = await eventually(async () => {
      // In address order, so ids[i] is the one sent to `${tag}${i}@dead.test`.
      const found = await db().select().from(messages).where(eq(messages.courseId, `c-${tag}`)).orderBy(messages.toAddress)
      return found.length === count && found.every((r) => r.state === 'dead') ? found : undefined
    }, 10_000, 'dead letters')
    sink.acceptAll()
    for (const row of rows) ids.push(row.id)
    return ids
  }

  async function statesOf(ids: string[]) {
    const rows = await db().select({ id: messages.id, state: messages.state, reason: messages.reason }).from(messages).where(inArray(messages.id, ids))
    return rows
  }

  async function lastAudit() {
    const [row] = await db().select().from(auditLog).orderBy(desc(auditLog.id)).limit(1)
    return row
  }

  test('the list shows each dead letter with its failure reason', async () => {
    const [id] = await deadLetters(1, 'listed')
    const html = await page('/admin/dead-letters?email=listed')
    expect(html).toContain('listed0@dead.test')
    expect(html).toContain('<code>rejected</code> <span>550 5.7.1 message refused by policy</span>')
    expect(html).toContain(`value="retry:${id}"`)
    expect(html).toContain('1 dead letter matches this filter.')
    await act([['op', `discard:${id}`], ['confirmed', 'yes']])
  })

  test('retrying one puts it back in the queue and it is delivered, with the same Message-ID; audited', async () => {
    const [id] = await deadLetters(1, 'one')
    const [before] = await db().select().from(messages).where(eq(messages.id, id!))
    sink.reset()
    const response = await act([['op', `retry:${id}`]])
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/admin/dead-letters?done=retry&n=1')
    const [mail] = await sink.waitFor(1)
    expect(mail!.envelope.to).toEqual(['one0@dead.test'])
    expect(mail!.parsed.messageId).toBe(before!.messageIdHeader)
    const row = await eventually(async () => {
      const [r] = await db().select().from(messages).where(eq(messages.id, id!))
      return r?.state === 'sent' ? r : undefined
    })
    expect(row.lastError).toBeNull()
    // The failure stays in the history.
    expect((await attemptsOf(db(), id!)).map((a) => a.outcome)).toEqual(['permanent', 'sent'])
    const audit = await lastAudit()
    expect(audit).toMatchObject({ adminEmail: ADMIN, action: 'dead_letters.retry', target: id })
    expect(audit?.detail).toMatchObject({ count: 1, scope: 'one' })
    const done = await page('/admin/dead-letters?done=retry&n=1')
    expect(done).toContain('1 dead letter put back in the queue.')
  })

  test('retrying a selection asks first, then retries exactly those', async () => {
    const ids = await deadLetters(3, 'sel')
    sink.reset()
    const fields: [string, string][] = [['op', 'retry-selected'], ['ids', ids[0]!], ['ids', ids[1]!]]
    const confirm = await act(fields)
    expect(confirm.status).toBe(200)
    const question = await confirm.text()
    expect(question).toContain('Put the 2 selected dead letters back in the queue?')
    expect((await statesOf(ids)).every((r) => r.state === 'dead')).toBe(true)

    expect((await act([...fields, ['confirmed', 'yes']])).status).toBe(303)
    // Only the selected two arrive (a straggler from an earlier test may share the sink, so look for ours by address).
    const arrived = () => sink.messages.map((m) => m.envelope.to[0]).filter((to) => to?.startsWith('sel'))
    await eventually(async () => arrived().length >= 2)
    expect(arrived().sort()).toEqual(['sel0@dead.test', 'sel1@dead.test'])
    await eventually(async () => {
      const states = await statesOf(ids)
      return states.filter((r) => r.state === 'sent').length === 2 ? states : undefined
    })
    expect((await statesOf([ids[2]!]))[0]?.state).toBe('dead')
    expect(await lastAudit()).toMatchObject({ action: 'dead_letters.retry', target: 'selection', detail: { count: 2, scope: 'selected' } })
    await act([['op', `discard:${ids[2]}`], ['confirmed', 'yes']])
  })

  test('retrying everything matching a filter retries those and no others', async () => {
    const mine = await deadLetters(2, 'flt')
    const others = await deadLetters(1, 'other')
    sink.reset()
    const fields: [string, string][] = [['op', 'retry-all'], ['filter_email', 'flt'], ['filter_notification', 'enrollment_confirmation']]
    const question = await (await act(fields)).text()
    expect(question).toContain('all 2 dead letters matching the filter')
    const response = await act([...fields, ['confirmed', 'yes']])
    expect(response.headers.get('location')).toBe('/admin/dead-letters?notification=enrollment_confirmation&email=flt&done=retry&n=2')
    const received = await sink.waitFor(2)
    expect(received.map((m) => m.envelope.to[0]).sort()).toEqual(['flt0@dead.test', 'flt1@dead.test'])
    expect((await statesOf(others))[0]?.state).toBe('dead')
    expect(await lastAudit()).toMatchObject({
      action: 'dead_letters.retry',
      target: 'filter',
      detail: { count: 2, scope: 'all', filter: { email: 'flt', notification: 'enrollment_confirmation' } },
    })
    await act([['op', `discard:${others[0]}`], ['confirmed', 'yes']])
  })

  test('discarding asks first, then marks them cancelled with the reason; audited', async () => {
    const ids = await deadLetters(2, 'gone')
    const confirm = await (await act([['op', `discard:${ids[0]}`]])).text()
    expect(confirm).toContain('Discard this dead letter?')
    expect((await statesOf([ids[0]!]))[0]?.state).toBe('dead')
    expect((await act([['op', `discard:${ids[0]}`], ['confirmed', 'yes']])).status).toBe(303)
    expect(await statesOf([ids[0]!])).toEqual([{ id: ids[0]!, state: 'cancelled', reason: 'discarded by admin' }])
    expect(await lastAudit()).toMatchObject({ adminEmail: ADMIN, action: 'dead_letters.discard', target: ids[0], detail: { count: 1 } })

    expect((await act([['op', 'discard-all'], ['filter_email', 'gone'], ['confirmed', 'yes']])).status).toBe(303)
    expect((await statesOf(ids)).map((r) => r.state)).toEqual(['cancelled', 'cancelled'])
    expect(await lastAudit()).toMatchObject({ action: 'dead_letters.discard', target: 'filter', detail: { count: 1, scope: 'all' } })
    const html = await page('/admin/dead-letters?email=gone')
    expect(html).toContain('No dead letter matches this filter.')
  })

  test('an empty selection is said, not acted on; an unknown action is refused', async () => {
    const response = await act([['op', 'retry-selected']])
    expect(response.headers.get('location')).toBe('/admin/dead-letters?done=none')
    expect(await page('/admin/dead-letters?done=none')).toContain('Select at least one dead letter first.')
    expect((await act([['op', 'explode']])).status).toBe(400)
  })
})
