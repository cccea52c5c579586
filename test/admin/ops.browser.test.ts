// Protects the operations pages as an on-call admin uses them, in headless
// Chromium against the real service on a real port with a real SMTP
// server: sign in through the form, watch a dashboard counter change after
// an event is posted (htmx polling, focus left alone), filter messages,
// open a dead letter and retry it from the UI until it is delivered;
// keyboard focus is visible; axe-core finds no serious or critical
// violation on any of these pages. Screenshots go to test-artifacts/.
//
// Chromium is required: without it this file fails with a message saying
// how to install it, it never skips.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { eq } from 'drizzle-orm'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { messages } from '../../src/db/schema/index.ts'
import { ADMIN_PASSWORD } from '../support/admin.ts'
import { eventually } from '../support/outbox.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { eventRequest } from '../support/webhooks.ts'
import { launchChromium, seriousViolations, watchErrors } from '../support/browser.ts'

const ARTIFACTS = join(import.meta.dir, '..', '..', 'test-artifacts')

let sink: SmtpSink
let t: TestService
let browser: Browser
let context: BrowserContext
let base: string

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ADMIN_PASSWORD }, { listen: true })
  base = `http://127.0.0.1:${t.service.port}`
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
  await sink?.close()
})

/** Posts a signed event to the listening service over HTTP, as the LMS would. */
async function postEvent(type: string, data: unknown): Promise<string> {
  const response = await fetch(eventRequest(type, data, { url: `${base}/v1/events` }))
  expect(response.status).toBe(202)
  return ((await response.json()) as { event_id: string }).event_id
}

let n = 0
function enrollment(email: string) {
  n += 1
  return {
    user: { id: `u-browser-${n}`, email, name: `Learner <b>${n}</b>` },
    course: { id: `c-browser-${n}`, title: `Course "${n}" <i>R&D</i>` },
    enrollment: { id: `e-browser-${n}` },
  }
}

const shot = (page: Page, name: string) => page.screenshot({ path: join(ARTIFACTS, `ops-${name}.png`), fullPage: true })

const sentThisHour = (page: Page) => page.locator('#count-sent td[data-period="hour"]').textContent()

describe('an on-call admin', () => {
  let page: Page
  let errors: string[]

  test('signs in through the form and lands on the dashboard', async () => {
    page = await context.newPage()
    errors = watchErrors(page)
    await page.goto(`${base}/admin`)
    expect(new URL(page.url()).pathname).toBe('/admin/login')
    await page.getByLabel('Email').fill(ADMIN)
    await page.getByLabel('Password').fill(ADMIN_PASSWORD)
    await Promise.all([page.waitForURL(`${base}/admin`), page.getByRole('button', { name: 'Sign in' }).click()])
    await page.getByRole('heading', { name: 'Dashboard', level: 1 }).waitFor()
    expect(await page.evaluate(() => (window as unknown as { htmx?: { version: string } }).htmx?.version)).toStartWith('4.')
  })

  test('sees the sent counter change after an event is posted, without reloading and without losing focus', async () => {
    const before = Number(await sentThisHour(page))
    // Focus somewhere on the page: a refresh must leave it there.
    await page.getByRole('link', { name: 'Messages' }).focus()
    // A reload would lose this.
    await page.evaluate(() => ((window as unknown as { stillHere: boolean }).stillHere = true))
    await postEvent('enrollment.created', enrollment('counted@learner.test'))
    await sink.waitFor(1)
    await page.waitForFunction(
      (previous) => Number(document.querySelector('#count-sent td[data-period="hour"]')?.textContent) > previous,
      before,
      { timeout: 15_000, polling: 200 },
    )
    expect(Number(await sentThisHour(page))).toBe(before + 1)
    expect(await page.evaluate(() => (window as unknown as { stillHere?: boolean }).stillHere)).toBe(true)
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Messages')
    expect(await page.locator('#transport-heading').isVisible()).toBe(true)
    await shot(page, 'dashboard')
    expect(errors).toEqual([])
  }, 30_000)

  test('keyboard: the first Tab reaches the skip link, which is visible and has a focus outline', async () => {
    const fresh = await context.newPage()
    await fresh.goto(`${base}/admin`)
    await fresh.keyboard.press('Tab')
    const focused = await fresh.evaluate(() => {
      const el = document.activeElement as HTMLElement
      const style = getComputedStyle(el)
      const box = el.getBoundingClientRect()
      return { text: el.textContent, outline: style.outlineStyle, width: parseFloat(style.outlineWidth), left: box.left }
    })
    expect(focused.text).toBe('Skip to content')
    expect(focused.left).toBeGreaterThanOrEqual(0)
    expect(focused.outline).toBe('solid')
    expect(focused.width).toBeGreaterThanOrEqual(2)
    await fresh.close()
  })

  test('filters the messages (htmx swaps the results and keeps the URL shareable)', async () => {
    await page.goto(`${base}/admin/messages`)
    await page.getByLabel('Recipient email contains').fill('counted@')
    await page.getByRole('button', { name: 'Filter' }).click()
    await page.waitForURL(/email=counted%40/)
    await page.locator('#results tbody tr').first().waitFor()
    expect(await page.locator('#results tbody tr').count()).toBe(1)
    expect(await page.locator('#results').textContent()).toContain('counted@learner.test')
    await shot(page, 'messages')
    expect(errors).toEqual([])
  })

  test('opens a dead letter, sees why it failed, and retries it from the UI: it is delivered', async () => {
    sink.failAlways(550, '5.7.1 <mailbox@nowhere> refused by policy')
    const eventId = await postEvent('enrollment.created', enrollment('bounced@learner.test'))
    const dead = await eventually(async () => {
      const [row] = await t.service.database.db.select().from(messages).where(eq(messages.eventId, eventId))
      return row?.state === 'dead' ? row : undefined
    }, 10_000, 'the dead letter')
    sink.reset()

    await page.getByRole('link', { name: 'Dead letters' }).click()
    await page.getByRole('heading', { name: 'Dead letters', level: 1 }).waitFor()
    expect(await page.locator('td.reason').first().textContent()).toContain('rejected 550 5.7.1 <mailbox@nowhere> refused by policy')
    await shot(page, 'dead-letters')

    // Open it first: the message page shows the failed attempt and the rendered email.
    await page.locator(`a[href="/admin/messages/${dead.id}"]`).click()
    await page.getByRole('heading', { name: 'Delivery attempts' }).waitFor()
    expect(await page.locator('#attempts').textContent()).toContain('refused by policy')
    const frame = page.frameLocator('iframe.preview')
    await frame.locator('body').waitFor()
    expect(await frame.locator('body').textContent()).toContain('R&D')
    await page.locator('iframe.preview').scrollIntoViewIfNeeded()
    await shot(page, 'message')

    await page.getByRole('link', { name: 'Dead letters' }).click()
    await page.getByRole('button', { name: 'Retry the message to bounced@learner.test' }).click()
    await page.getByRole('status').filter({ hasText: '1 dead letter put back in the queue.' }).waitFor()
    const [mail] = await sink.waitFor(1, 10_000)
    expect(mail!.envelope.to).toEqual(['bounced@learner.test'])
    expect(mail!.parsed.messageId).toBe(dead.messageIdHeader)
    await eventually(async () => {
      const [row] = await t.service.database.db.select().from(messages).where(eq(messages.id, dead.id))
      return row?.state === 'sent'
    })
    expect(errors).toEqual([])
  }, 30_000)

  test('a bulk action asks for confirmation on its own page, without JavaScript', async () => {
    const noJs = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1280, height: 900 } })
    try {
      const plain = await noJs.newPage()
      sink.failAlways(550, '5.1.1 gone')
      const eventId = await postEvent('enrollment.created', enrollment('bulk@learner.test'))
      await eventually(async () => {
        const [row] = await t.service.database.db.select().from(messages).where(eq(messages.eventId, eventId))
        return row?.state === 'dead'
      })
      sink.acceptAll()
      await plain.goto(`${base}/admin/login?next=%2Fadmin%2Fdead-letters`)
      await plain.locator('#email').fill(ADMIN)
      await plain.locator('#password').fill(ADMIN_PASSWORD)
      await Promise.all([plain.waitForURL(`${base}/admin/dead-letters`), plain.getByRole('button', { name: 'Sign in' }).click()])
      await plain.getByRole('checkbox', { name: 'Select the enrollment_confirmation message to bulk@learner.test' }).check()
      await plain.getByRole('button', { name: 'Discard selected' }).click()
      await plain.getByRole('heading', { name: 'Discard dead letters?' }).waitFor()
      await shot(plain, 'confirm')
      await plain.getByRole('button', { name: 'Discard 1' }).click()
      await plain.getByRole('status').filter({ hasText: '1 dead letter discarded.' }).waitFor()
      const [row] = await t.service.database.db.select().from(messages).where(eq(messages.eventId, eventId))
      expect(row?.state).toBe('cancelled')
    } finally {
      await noJs.close()
    }
  }, 30_000)
})

describe('accessibility (axe-core)', () => {
  test('no serious or critical violations on the dashboard, messages, a message page and dead letters', async () => {
    // Something in every list, a dead letter included.
    sink.failAlways(550, '5.1.1 unknown user')
    const eventId = await postEvent('enrollment.created', enrollment('axe@learner.test'))
    const dead = await eventually(async () => {
      const [row] = await t.service.database.db.select().from(messages).where(eq(messages.eventId, eventId))
      return row?.state === 'dead' ? row : undefined
    })
    sink.acceptAll()
    const found: Record<string, string[]> = {}
    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 390, height: 844 },
    ]) {
      const axeContext = await browser.newContext({ viewport, storageState: await context.storageState() })
      try {
        const page = await axeContext.newPage()
        for (const [name, path] of [
          ['dashboard', '/admin'],
          ['messages', '/admin/messages'],
          ['message', `/admin/messages/${dead.id}`],
          ['dead letters', '/admin/dead-letters'],
        ] as const) {
          await page.goto(`${base}${path}`)
          found[`${name} @${viewport.width}`] = await seriousViolations(page)
        }
        // The confirmation step of a bulk action.
        await page.getByRole('checkbox', { name: 'Select the enrollment_confirmation message to axe@learner.test' }).check()
        await page.getByRole('button', { name: 'Retry selected' }).click()
        await page.getByRole('heading', { name: 'Retry dead letters?' }).waitFor()
        found[`confirm @${viewport.width}`] = await seriousViolations(page)
        if (viewport.width < 500) await shot(page, 'dead-letters-phone')
      } finally {
        await axeContext.close()
      }
    }
    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((name) => [name, []])))
  }, 60_000)
})
