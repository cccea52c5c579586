// Protects issue 7's tracking promises end to end, through the real service
// and a real SMTP server: the pixel and the links of a delivered email
// record a human open and a human click, the redirect goes to the exact URL
// the LMS sent, a token changed by one byte gets a 400 without a Location,
// machines (Apple's privacy proxy, HEAD requests, scanners clicking every
// link at once, opens right after sending) are flagged, the unsubscribe and
// preference links stay untouched, and a password reset is never tracked.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { and, asc, eq, sql } from 'drizzle-orm'
import { messageEvents, messages } from '../../src/db/schema/index.ts'
import { putSetting } from '../../src/settings/queries.ts'
import { SETTING } from '../../src/settings/runtime.ts'
import { clickUrl } from '../../src/tracking/apply.ts'
import { MAX_HITS_PER_MESSAGE } from '../../src/tracking/queries.ts'
import { readClickToken } from '../../src/tracking/tokens.ts'
import { createTestDatabase } from '../support/db.ts'
import { eventually } from '../support/outbox.ts'
import { header, links } from '../support/mail.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type ReceivedMessage, type SmtpSink } from '../support/smtp-sink.ts'

const BASE = 'https://notify.school.test'
const BROWSER = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'

let sink: SmtpSink
let t: TestService
beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, PUBLIC_URL: BASE })
}, 30_000)
afterAll(async () => {
  await t.stop()
  await sink.close()
})
beforeEach(() => sink.reset())

const learner = (n: string) => ({ id: `u-${n}`, email: `${n}@learner.test`, name: `Learner ${n}` })

/** Posts one event that sends one email and returns it with its outbox row id. */
async function deliverOne(service: TestService, type: string, data: unknown): Promise<{ mail: ReceivedMessage; id: string }> {
  const response = await service.post(type, data)
  expect(response.status).toBe(202)
  const [mail] = await sink.waitFor(1, 10_000)
  const id = header(mail!, 'X-Belfry-Message')!
  expect(id).toMatch(/^[0-9a-f-]{36}$/)
  return { mail: mail!, id }
}

async function enrollment(n: string, url: string) {
  return deliverOne(t, 'enrollment.created', { user: learner(n), course: { id: `c-${n}`, title: 'Algebra', url }, enrollment: { id: `e-${n}` } })
}

const pixelOf = (mail: ReceivedMessage) => /<img src="([^"]*\/t\/o\/[^"]*)"/.exec(String(mail.parsed.html))?.[1]
const trackedLinks = (mail: ReceivedMessage) => links(mail).filter((link) => link.startsWith(`${BASE}/t/c/`))
const targetOf = (link: string) => readClickToken(t.service.signer, link.slice(`${BASE}/t/c/`.length))?.url

/** The tracked link of `mail` that leads to `url`. */
function trackedLinkTo(mail: ReceivedMessage, url: string): string {
  const link = trackedLinks(mail).find((l) => targetOf(l) === url)
  expect(link).toBeDefined()
  return link!
}

function get(url: string, agent = BROWSER, method = 'GET') {
  return t.send(new Request(url, { method, headers: { 'user-agent': agent } }))
}

async function hits(messageId: string, kind: 'open' | 'click') {
  return t.service.database.db
    .select({ detail: messageEvents.detail, source: messageEvents.source })
    .from(messageEvents)
    .where(and(eq(messageEvents.messageId, messageId), eq(messageEvents.kind, kind)))
    .orderBy(asc(messageEvents.id))
}

/** As if the email had gone out a minute ago: past the window in which opens are machines'. */
async function sentAMinuteAgo(messageId: string) {
  // The SMTP server has the email before the worker records it as sent.
  await eventually(async () => {
    const [row] = await t.service.database.db.select({ sentAt: messages.sentAt }).from(messages).where(eq(messages.id, messageId))
    return row?.sentAt ?? undefined
  }, 10_000, 'the message to be recorded as sent')
  await t.service.database.db
    .update(messages)
    .set({ sentAt: sql`${messages.sentAt} - interval '1 minute'` })
    .where(eq(messages.id, messageId))
}

describe('a delivered email', () => {
  // A query string with & and percent-encoded UTF-8: what most LMS links look like.
  const courseUrl = 'https://lms.test/courses/42?tab=intro&lang=fr-CA&q=caf%C3%A9&redirect=%2Fhome'

  test('its pixel and a link record a human open and a human click; the redirect is the exact URL', async () => {
    const { mail, id } = await enrollment('ada', courseUrl)
    const pixel = pixelOf(mail)
    expect(pixel).toStartWith(`${BASE}/t/o/`)
    expect(String(mail.parsed.html)).toMatch(/<img src="[^"]*\/t\/o\/[^"]*" width="1" height="1" alt="" aria-hidden="true"/)

    // Right after sending: a prefetch, not a reader.
    expect((await get(pixel!)).status).toBe(200)
    await sentAMinuteAgo(id)

    const open = await get(pixel!)
    expect(open.status).toBe(200)
    expect(open.headers.get('content-type')).toBe('image/gif')
    expect(open.headers.get('cache-control')).toContain('no-store')
    const gif = new Uint8Array(await open.arrayBuffer())
    expect(new TextDecoder().decode(gif.slice(0, 6))).toBe('GIF89a')
    expect([gif[6], gif[8]]).toEqual([1, 1]) // 1×1

    const click = await get(trackedLinkTo(mail, courseUrl))
    expect(click.status).toBe(302)
    expect(click.headers.get('location')).toBe(courseUrl)

    const opens = await hits(id, 'open')
    expect(opens.map((o) => o.detail)).toEqual([
      { machine: true, why: 'too_soon_after_send', user_agent: BROWSER },
      { machine: false, user_agent: BROWSER },
    ])
    expect(opens.every((o) => o.source === 'tracking')).toBe(true)
    expect((await hits(id, 'click')).map((c) => c.detail)).toEqual([{ url: courseUrl, machine: false, user_agent: BROWSER }])
  })

  test('a flood of hits on one email stores at most MAX_HITS_PER_MESSAGE; the redirect and the pixel keep working', async () => {
    const { mail, id } = await enrollment('flood', courseUrl)
    await sentAMinuteAgo(id)
    const link = trackedLinkTo(mail, courseUrl)
    for (let i = 0; i < MAX_HITS_PER_MESSAGE; i++) expect((await get(i % 2 ? link : pixelOf(mail)!)).status).toBe(i % 2 ? 302 : 200)
    const late = await get(link)
    expect(late.status).toBe(302)
    expect(late.headers.get('location')).toBe(courseUrl)
    expect((await get(pixelOf(mail)!)).status).toBe(200)
    const stored = (await hits(id, 'open')).length + (await hits(id, 'click')).length
    expect(stored).toBe(MAX_HITS_PER_MESSAGE)
  })

  test('past TRACKING_PER_ADDRESS, hits from that address are answered and not stored', async () => {
    const limited = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, PUBLIC_URL: BASE, TRACKING_PER_ADDRESS: '3/min' })
    try {
      const { mail, id } = await deliverOne(limited, 'enrollment.created', {
        user: learner('budget'),
        course: { id: 'c-budget', title: 'Algebra', url: courseUrl },
        enrollment: { id: 'e-budget' },
      })
      const db = limited.service.database.db
      await eventually(async () => (await db.select().from(messages).where(eq(messages.id, id)))[0]?.state === 'sent', 10_000, 'the message to be sent')
      const link = trackedLinks(mail).find((l) => readClickToken(limited.service.signer, l.slice(`${BASE}/t/c/`.length))?.url === courseUrl)!
      const fetchAs = (url: string) => limited.send(new Request(url, { headers: { 'user-agent': BROWSER } }))
      const answers = []
      for (let i = 0; i < 6; i++) answers.push(await fetchAs(i % 2 ? link : pixelOf(mail)!))
      expect(answers.map((a) => a.status)).toEqual([200, 302, 200, 302, 200, 302])
      expect(answers.filter((a) => a.status === 302).map((a) => a.headers.get('location'))).toEqual([courseUrl, courseUrl, courseUrl])
      const stored = await db.select().from(messageEvents).where(eq(messageEvents.messageId, id))
      expect(stored.filter((e) => e.kind === 'open' || e.kind === 'click')).toHaveLength(3)
    } finally {
      await limited.stop()
    }
  })

  test('a URL with raw unicode redirects to its UTF-8, percent-encoded: what a browser asks for', async () => {
    const url = 'https://lms.test/cours/é?nom=Zoë&x=1'
    const { mail } = await enrollment('zoe', url)
    const click = await get(trackedLinkTo(mail, url))
    expect(click.status).toBe(302)
    expect(click.headers.get('location')).toBe('https://lms.test/cours/%C3%A9?nom=Zo%C3%AB&x=1')
    expect(new URL(click.headers.get('location')!).href).toBe(new URL(url).href)
  })

  test('a token changed by one byte, cut short or made up answers 400 without a Location and records nothing', async () => {
    const { mail, id } = await enrollment('eve', courseUrl)
    const link = trackedLinkTo(mail, courseUrl)
    const token = link.slice(`${BASE}/t/c/`.length)
    const flip = (at: number) => token.slice(0, at) + (token[at] === 'A' ? 'B' : 'A') + token.slice(at + 1)
    const forged = [
      flip(0), // the key id
      flip(Math.floor(token.length / 2)), // the payload: the URL
      flip(token.length - 1), // the MAC
      token.slice(0, -1),
      token.slice(0, token.lastIndexOf('.')),
      '',
      `${token}/x`,
      'abc.aHR0cHM6Ly9ldmlsLnRlc3Q.xyz',
    ]
    for (const bad of forged) {
      const response = await get(`${BASE}/t/c/${bad}`)
      expect(response.status).toBe(400)
      expect(response.headers.get('location')).toBeNull()
      expect(await response.text()).toContain('not valid')
    }
    // The pixel answers the same GIF whatever the token, and records nothing for a bad one.
    const pixel = pixelOf(mail)!
    const badPixel = await get(pixel.slice(0, -2) + (pixel.endsWith('AA') ? 'BB' : 'AA'))
    expect(badPixel.status).toBe(200)
    expect(badPixel.headers.get('content-type')).toBe('image/gif')
    expect(await hits(id, 'click')).toEqual([])
    expect(await hits(id, 'open')).toEqual([])
  })

  test("Apple Mail Privacy Protection's open is a machine open", async () => {
    const { mail, id } = await enrollment('ana', courseUrl)
    await sentAMinuteAgo(id)
    await get(pixelOf(mail)!, 'Mozilla/5.0')
    await get(pixelOf(mail)!, 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/42.0.2311.135 Safari/537.36 Edge/12.246 GoogleImageProxy')
    expect((await hits(id, 'open')).map((o) => o.detail)).toEqual([
      { machine: true, why: 'apple_privacy_proxy', user_agent: 'Mozilla/5.0' },
      { machine: true, why: 'image_proxy', user_agent: expect.stringContaining('GoogleImageProxy') },
    ])
  })

  test('a HEAD click is a machine click and still redirects; a scanner agent is flagged', async () => {
    const { mail, id } = await enrollment('hal', courseUrl)
    const link = trackedLinkTo(mail, courseUrl)
    const head = await get(link, BROWSER, 'HEAD')
    expect(head.status).toBe(302)
    expect(head.headers.get('location')).toBe(courseUrl)
    const scanner = await get(link, 'Mozilla/5.0 (compatible; Barracuda Sentinel URL scanner)')
    expect(scanner.headers.get('location')).toBe(courseUrl)
    expect((await hits(id, 'click')).map((c) => [c.detail?.machine, c.detail?.why])).toEqual([
      [true, 'head_request'],
      [true, 'security_scanner'],
    ])
  })

  test('different links of one message clicked within a second are all machine clicks', async () => {
    const { mail, id } = await enrollment('sam', courseUrl)
    const targets = [...new Set(trackedLinks(mail).map(targetOf))]
    expect(targets).toContain(BASE) // the site link in the header and footer
    expect(targets).toContain(courseUrl)
    for (const target of targets) expect((await get(clickUrl({ signer: t.service.signer, publicUrl: BASE }, id, target!))).status).toBe(302)
    const clicks = await hits(id, 'click')
    expect(clicks).toHaveLength(targets.length)
    expect(clicks.every((c) => c.detail?.machine === true && c.detail?.why === 'click_burst')).toBe(true)
  })

  test('the unsubscribe and preference links, and the whole text part, keep the original URLs', async () => {
    const { mail } = await enrollment('una', courseUrl)
    const unsubscribe = /^<(.+)>$/.exec(header(mail, 'List-Unsubscribe')!)![1]!
    expect(unsubscribe).toStartWith(`${BASE}/u/`)
    const all = links(mail)
    expect(all).toContain(unsubscribe)
    expect(all.filter((l) => l.startsWith(`${BASE}/preferences/`))).toHaveLength(1)
    // Every other http link goes through tracking.
    expect(all.filter((l) => !l.startsWith(`${BASE}/t/c/`)).sort()).toEqual([all.find((l) => l.includes('/preferences/'))!, unsubscribe].sort())
    const text = mail.parsed.text!
    expect(text).toContain(courseUrl)
    expect(text).toContain(unsubscribe)
    expect(text).not.toContain('/t/c/')
    expect(text).not.toContain('/t/o/')
  })
})

test('a password reset email has no pixel and no tracked link', async () => {
  const url = 'https://lms.test/reset?token=xyz&u=1'
  const { mail } = await deliverOne(t, 'password_reset.requested', { user: learner('rex'), reset: { url, expires_at: '2030-01-01T00:00:00Z' } })
  const html = String(mail.parsed.html)
  expect(html).not.toContain('/t/o/')
  expect(html).not.toContain('/t/c/')
  expect(links(mail)).toContain(url)
})

describe('switched off', () => {
  test('TRACKING=off: no pixel, no tracked link, and an old tracked link redirects without recording', async () => {
    const off = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, PUBLIC_URL: BASE, TRACKING: 'off' })
    try {
      const url = 'https://lms.test/c/off?a=1&b=2'
      const { mail, id } = await deliverOne(off, 'enrollment.created', {
        user: learner('olga'),
        course: { id: 'c-off', title: 'Off', url },
        enrollment: { id: 'e-off' },
      })
      const html = String(mail.parsed.html)
      expect(html).not.toContain('/t/o/')
      expect(html).not.toContain('/t/c/')
      expect(links(mail)).toContain(url)
      // A link from an email sent while tracking was on still works.
      const response = await off.send(new Request(clickUrl({ signer: off.service.signer, publicUrl: BASE }, id, url), { headers: { 'user-agent': BROWSER } }))
      expect(response.status).toBe(302)
      expect(response.headers.get('location')).toBe(url)
      const recorded = await off.service.database.db.select().from(messageEvents).where(eq(messageEvents.messageId, id))
      expect(recorded).toEqual([])
    } finally {
      await off.stop()
    }
  }, 30_000)

  test('a category an admin switched off (tracking_off_categories) is not tracked; others are', async () => {
    const testDb = await createTestDatabase()
    await putSetting(testDb.database.db, SETTING.trackingOffCategories, ['enrollment'])
    const partly = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, PUBLIC_URL: BASE }, { testDb })
    try {
      const user = learner('cat')
      const course = { id: 'c-cat', title: 'Cats', url: 'https://lms.test/c/cat' }
      const { mail: enrolled } = await deliverOne(partly, 'enrollment.created', { user, course, enrollment: { id: 'e-cat' } })
      expect(String(enrolled.parsed.html)).not.toContain('/t/')
      sink.reset()
      const certificate = 'https://lms.test/certificates/cat'
      const { mail: completed } = await deliverOne(partly, 'course.completed', {
        user,
        course,
        completion: { completed_at: '2026-12-01T10:00:00Z', certificate_url: certificate },
      })
      expect(String(completed.parsed.html)).toContain('/t/o/')
      expect(links(completed).some((l) => l.startsWith(`${BASE}/t/c/`))).toBe(true)
    } finally {
      await partly.stop()
      await testDb.drop()
    }
  }, 30_000)
})
