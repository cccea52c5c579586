// Protects the preference page as a learner meets it, in headless Chromium
// against the real service on a real port: change a frequency and mute a
// course, save, reload and find them kept — with htmx (in place, focus kept,
// no CSP violation) and with JavaScript off (plain form post); nothing
// overflows a 360 px phone; axe-core finds no serious or critical violation
// on any learner page.
//
// Chromium is required: without it this file fails with a message saying
// how to install it, it never skips.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { readFileSync } from 'node:fs'
import { eq } from 'drizzle-orm'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { courseMutes, preferences } from '../../src/db/schema/index.ts'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { launchChromium, seriousViolations, watchErrors } from '../support/browser.ts'


const courses = [
  { id: 'c-stats', title: 'Introduction to Statistics' },
  { id: 'c-chem', title: 'Organic Chemistry II' },
  { id: 'c-long', title: 'R&D <Intro>: a deliberately long course title that has to wrap on a small phone screen' },
]

let t: TestService
let browser: Browser
let base: string
const recipientIds: Record<string, string> = {}

beforeAll(async () => {
  t = await startTestService({}, { listen: true })
  base = `http://127.0.0.1:${t.service.port}`
  for (const key of ['js', 'nojs', 'axe']) {
    const user = { id: `u-${key}`, email: `${key}@learner.test`, name: `Learner ${key}` }
    for (const course of courses) {
      expect((await t.post('enrollment.created', { user, course, enrollment: { id: `e-${key}-${course.id}` } })).status).toBe(202)
    }
    recipientIds[key] = (await findRecipientId(t.service.database.db, user.id))!
  }
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

const pageUrl = (key: string) => `${base}/preferences/${t.service.signer.sign('preferences', { recipientId: recipientIds[key]! })}`

async function stored(key: string) {
  const db = t.service.database.db
  const chosen = await db.select().from(preferences).where(eq(preferences.recipientId, recipientIds[key]!))
  const mutes = await db.select().from(courseMutes).where(eq(courseMutes.recipientId, recipientIds[key]!))
  return { frequencies: Object.fromEntries(chosen.map((p) => [p.category, p.frequency])), mutes: mutes.map((m) => m.courseId).sort() }
}

const topic = (page: Page, name: string) => page.getByRole('group', { name, exact: true })

describe('with JavaScript (htmx)', () => {
  let context: BrowserContext
  beforeAll(async () => {
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  })
  afterAll(() => context.close())

  test('change a frequency, mute a course, save in place, reload: kept', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    const url = pageUrl('js')
    await page.goto(url)
    expect(await page.evaluate(() => (window as unknown as { htmx?: { version: string } }).htmx?.version)).toStartWith('4.')

    await topic(page, 'Discussions').getByRole('radio', { name: 'Weekly digest' }).check()
    await page.getByRole('checkbox', { name: 'Organic Chemistry II' }).check()
    await page.getByRole('button', { name: 'Save preferences' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved. Your choices apply from the next email.' }).waitFor()

    // htmx saved it in place: no navigation, and focus is still on the button that was pressed.
    expect(page.url()).toBe(url)
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('save-button')
    expect(await stored('js')).toEqual({ frequencies: { discussions: 'weekly' }, mutes: ['c-chem'] })

    await page.reload()
    expect(await topic(page, 'Discussions').getByRole('radio', { name: 'Weekly digest' }).isChecked()).toBe(true)
    expect(await topic(page, 'Discussions').getByRole('radio', { name: 'Immediately' }).isChecked()).toBe(false)
    expect(await page.getByRole('checkbox', { name: 'Organic Chemistry II' }).isChecked()).toBe(true)
    expect(await page.getByRole('checkbox', { name: 'Introduction to Statistics' }).isChecked()).toBe(false)
    // The page's CSP let htmx and the stylesheet load and blocked nothing the page needs.
    expect(errors).toEqual([])
  })

  test('unsubscribe from everything, then turn emails back on, without leaving the page', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(pageUrl('js'))
    await page.getByRole('button', { name: 'Unsubscribe from all non-essential emails' }).click()
    await page.getByRole('status').filter({ hasText: 'Done. You are unsubscribed' }).waitFor()
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('all-button')
    expect(await page.locator('#all-notice').isVisible()).toBe(true)

    await page.getByRole('button', { name: 'Turn emails back on' }).click()
    await page.getByRole('status').filter({ hasText: 'Emails are back on' }).waitFor()
    expect(await page.locator('#all-notice').count()).toBe(0)
    // The topic choices survived both.
    expect((await stored('js')).frequencies).toEqual({ discussions: 'weekly' })
    expect(errors).toEqual([])
  })

  test('keyboard focus is visible: the first Tab lands on the first option, which gets an outline', async () => {
    const page = await context.newPage()
    await page.goto(pageUrl('js'))
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('f-account-immediately')
    const outline = await page.locator('label[for="f-account-immediately"]').evaluate((label) => {
      const style = getComputedStyle(label)
      return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) }
    })
    expect(outline.style).toBe('solid')
    expect(outline.width).toBeGreaterThanOrEqual(2)
  })
})

describe('on a 360 px phone', () => {
  test('nothing overflows sideways and every control is at least 44 px tall', async () => {
    const context = await browser.newContext({
      viewport: { width: 360, height: 740 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    })
    try {
      const page = await context.newPage()
      await page.goto(pageUrl('axe'))
      const layout = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        width: window.innerWidth,
        overflowing: Array.from(document.querySelectorAll('body *'))
          .filter((element) => element.getBoundingClientRect().right > window.innerWidth + 0.5)
          .map((element) => `${element.tagName.toLowerCase()}${element.id ? `#${element.id}` : ''}.${element.className}`),
        small: Array.from(document.querySelectorAll('label.choice, label.course, button'))
          .filter((element) => element.getBoundingClientRect().height < 44)
          .map((element) => element.textContent),
      }))
      expect(layout.width).toBe(360)
      expect(layout.scrollWidth).toBeLessThanOrEqual(360)
      expect(layout.overflowing).toEqual([])
      expect(layout.small).toEqual([])
    } finally {
      await context.close()
    }
  })
})

describe('accessibility (axe-core)', () => {
  test('no serious or critical violations on any learner page, on desktop and phone', async () => {
    const recipientId = recipientIds.axe!
    const unsubscribe = `${base}/u/${t.service.signer.sign('unsubscribe', { recipientId, category: 'discussions' })}`
    for (const viewport of [
      { width: 1280, height: 900 },
      { width: 360, height: 740 },
    ]) {
      const context = await browser.newContext({ viewport })
      try {
        const page = await context.newPage()
        const found: Record<string, string[]> = {}
        await page.goto(pageUrl('axe'))
        found['preference page'] = await seriousViolations(page)

        await page.getByRole('button', { name: 'Save preferences' }).click()
        await page.getByRole('status').filter({ hasText: 'Saved.' }).waitFor()
        found['after saving'] = await seriousViolations(page)

        await page.getByRole('button', { name: 'Unsubscribe from all non-essential emails' }).click()
        await page.getByRole('status').filter({ hasText: 'Done.' }).waitFor()
        found['unsubscribed from everything'] = await seriousViolations(page)
        await page.getByRole('button', { name: 'Turn emails back on' }).click()
        await page.getByRole('status').filter({ hasText: 'Emails are back on' }).waitFor()

        await page.goto(unsubscribe)
        found['unsubscribe question'] = await seriousViolations(page)
        await page.getByRole('button', { name: 'Unsubscribe' }).click()
        await page.getByRole('heading', { name: 'You are unsubscribed' }).waitFor()
        found['unsubscribed'] = await seriousViolations(page)

        await page.goto(`${base}/u/not-a-token`)
        found['not found'] = await seriousViolations(page)

        expect({ viewport: viewport.width, found }).toEqual({
          viewport: viewport.width,
          found: Object.fromEntries(Object.keys(found).map((name) => [name, []])),
        })
      } finally {
        await context.close()
      }
    }
  }, 60_000)
})

describe('with JavaScript off', () => {
  test('the plain form post saves; the page comes back with the confirmation and keeps it on reload', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 360, height: 740 } })
    try {
      const page = await context.newPage()
      await page.goto(pageUrl('nojs'))
      await topic(page, 'Reminders').getByRole('radio', { name: 'Off' }).check()
      await topic(page, 'Announcements').getByRole('radio', { name: 'Daily digest' }).check()
      await page.getByRole('checkbox', { name: 'Introduction to Statistics' }).check()
      await Promise.all([page.waitForURL(/\?saved=saved#save-status$/), page.getByRole('button', { name: 'Save preferences' }).click()])
      expect(await page.getByRole('status').filter({ hasText: 'Saved. Your choices apply from the next email.' }).isVisible()).toBe(true)
      expect(await stored('nojs')).toEqual({ frequencies: { reminders: 'off', announcements: 'daily' }, mutes: ['c-stats'] })

      await page.goto(pageUrl('nojs'))
      expect(await topic(page, 'Reminders').getByRole('radio', { name: 'Off' }).isChecked()).toBe(true)
      expect(await topic(page, 'Announcements').getByRole('radio', { name: 'Daily digest' }).isChecked()).toBe(true)
      expect(await page.getByRole('checkbox', { name: 'Introduction to Statistics' }).isChecked()).toBe(true)

      // Unsubscribing from everything works the same way.
      await Promise.all([
        page.waitForURL(/\?saved=unsubscribed#all-status$/),
        page.getByRole('button', { name: 'Unsubscribe from all non-essential emails' }).click(),
      ])
      expect(await page.getByRole('button', { name: 'Turn emails back on' }).isVisible()).toBe(true)
    } finally {
      await context.close()
    }
  })
})
