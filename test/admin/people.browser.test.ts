// Protects the recipients, suppressions and settings pages as an admin meets
// them, in headless Chromium against the real service on a real port: sign
// in through the form, then with the keyboard only search a recipient, open
// them, suppress their address and lift it again (htmx in place, no CSP
// violation, visible focus); axe-core finds no serious or critical violation
// on the recipients, recipient, suppressions, settings, mailbox and mailbox
// message pages. Screenshots of each go to test-artifacts/.
//
// Chromium is required: without it this file fails with a message saying
// how to install it, it never skips.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { eq } from 'drizzle-orm'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { messages, suppressions } from '../../src/db/schema/index.ts'
import { findRecipientId } from '../../src/recipients/queries.ts'
import { ADMIN_PASSWORD } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { launchChromium, seriousViolations, watchErrors } from '../support/browser.ts'

// Bun's 5 s default is too short for the services this file boots when run without `--timeout` (plain `bun test`).
setDefaultTimeout(30_000)

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname
const HOSTILE = '<script>alert(1)</script>"><img src=x onerror=alert(2)>'

let t: TestService
let browser: Browser
let context: BrowserContext
let base: string
let recipientId: string

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  t = await startTestService({ ADMIN_PASSWORD }, { listen: true })
  base = `http://127.0.0.1:${t.service.port}`
  for (const user of [
    { id: 'u-grace', email: 'grace.hopper@learner.test', name: 'Grace Hopper' },
    { id: 'u-alan', email: 'alan@learner.test', name: 'Alan Turing' },
    { id: 'u-evil', email: 'evil@learner.test', name: HOSTILE },
  ]) {
    expect((await t.post('user.registered', { user })).status).toBe(202)
  }
  recipientId = (await findRecipientId(t.service.database.db, 'u-grace'))!
  // Let the file transport write the welcome mail, so the mailbox has something to show.
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    const sent = await t.service.database.db.select().from(messages).where(eq(messages.state, 'sent'))
    if (sent.length >= 6) break
    await Bun.sleep(50)
  }
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  await page.goto(`${base}/admin/recipients`)
  await page.waitForURL(/\/admin\/login\?next=/)
  await page.getByLabel('Email').fill(ADMIN)
  await page.getByLabel('Password').fill(ADMIN_PASSWORD)
  await Promise.all([page.waitForURL(`${base}/admin/recipients`), page.getByLabel('Password').press('Enter')])
  await page.close()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

/** Presses Tab until the focused element matches, as a keyboard user would; fails after `limit` presses. */
async function tabTo(page: Page, matches: (el: { id: string; text: string; label: string }) => boolean, limit = 80) {
  for (let i = 0; i < limit; i++) {
    await page.keyboard.press('Tab')
    const focused = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement | null
      return { id: el?.id ?? '', text: (el?.textContent ?? '').trim(), label: el?.getAttribute('aria-label') ?? '' }
    })
    if (matches(focused)) return
  }
  throw new Error('the element was never reached with Tab')
}

async function focusOutline(page: Page): Promise<{ style: string; width: number }> {
  return page.evaluate(() => {
    const style = getComputedStyle(document.activeElement!)
    return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) }
  })
}

describe('keyboard only', () => {
  test('search a recipient, open them, suppress their address and lift it again', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${base}/admin/recipients`)
    expect(await page.evaluate(() => (window as unknown as { htmx?: { version: string } }).htmx?.version)).toStartWith('4.')

    await tabTo(page, (el) => el.id === 'q')
    expect((await focusOutline(page)).style).toBe('solid')
    await page.keyboard.type('HOPPER')
    // Results follow the typing (htmx, debounced); the address bar keeps the search.
    await page.getByRole('heading', { name: '1 matching “HOPPER”' }).waitFor()
    await page.waitForURL(`${base}/admin/recipients?q=HOPPER`)
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('q')
    expect(await page.getByRole('link', { name: 'alan@learner.test' }).count()).toBe(0)
    await page.screenshot({ path: `${ARTIFACTS}admin-recipients-search.png`, fullPage: true })

    await tabTo(page, (el) => el.text === 'grace.hopper@learner.test')
    const outline = await focusOutline(page)
    expect(outline.style).toBe('solid')
    expect(outline.width).toBeGreaterThanOrEqual(2)
    await Promise.all([page.waitForURL(`${base}/admin/recipients/${recipientId}`), page.keyboard.press('Enter')])
    await page.getByText('Not suppressed.').waitFor()

    await tabTo(page, (el) => el.id === 'suppress-note')
    await page.keyboard.type('asked by phone')
    await tabTo(page, (el) => el.text === 'Suppress this address')
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'grace.hopper@learner.test is suppressed' }).waitFor()
    const db = t.service.database.db
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'grace.hopper@learner.test'))).toEqual([
      expect.objectContaining({ reason: 'manual', detail: 'asked by phone' }),
    ])
    // htmx swapped the panel in place: still on the recipient's page.
    expect(page.url()).toBe(`${base}/admin/recipients/${recipientId}`)
    await page.screenshot({ path: `${ARTIFACTS}admin-recipient-suppressed.png`, fullPage: true })

    await tabTo(page, (el) => el.text === 'Lift the suppression')
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'The suppression of grace.hopper@learner.test is lifted.' }).waitFor()
    expect(await db.select().from(suppressions).where(eq(suppressions.email, 'grace.hopper@learner.test'))).toEqual([])
    expect(errors).toEqual([])
  })

  test('on the suppression list: add an address and lift it from its row', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${base}/admin/suppressions`)
    await tabTo(page, (el) => el.id === 'suppress-email')
    await page.keyboard.type('bounced@example.org')
    await tabTo(page, (el) => el.id === 'suppress-note')
    await page.keyboard.type('hard bounce reported by phone')
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'bounced@example.org is suppressed' }).waitFor()
    await page.getByRole('cell', { name: 'hard bounce reported by phone' }).waitFor()
    // The form is empty again and focus is back in its email field, ready for the next address.
    expect(await page.evaluate(() => (document.activeElement as HTMLInputElement).name)).toBe('email')
    expect(await page.getByLabel('Email address').inputValue()).toBe('')
    expect(await page.getByLabel('Note (why; shown in the list)').inputValue()).toBe('')
    await page.screenshot({ path: `${ARTIFACTS}admin-suppressions.png`, fullPage: true })

    await tabTo(page, (el) => el.label === 'Lift bounced@example.org')
    await page.keyboard.press('Enter')
    await page.getByRole('status').filter({ hasText: 'The suppression of bounced@example.org is lifted.' }).waitFor()
    expect(await page.getByRole('cell', { name: 'bounced@example.org' }).count()).toBe(0)
    expect(errors).toEqual([])
  })
})

describe('accessibility (axe-core) and screenshots', () => {
  test('no serious or critical violations on recipients, recipient, suppressions, settings and mailbox', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    const found: Record<string, string[]> = {}
    const visit = async (name: string, path: string) => {
      await page.goto(`${base}${path}`)
      found[name] = await seriousViolations(page)
      await page.screenshot({ path: `${ARTIFACTS}admin-${name}.png`, fullPage: true })
    }
    const evil = (await findRecipientId(t.service.database.db, 'u-evil'))!
    await visit('recipients', '/admin/recipients')
    await visit('recipient', `/admin/recipients/${recipientId}`)
    await visit('recipient-hostile', `/admin/recipients/${evil}`)
    await visit('suppressions', '/admin/suppressions')
    await visit('settings', '/admin/settings')
    await visit('mailbox', '/admin/settings/mailbox')

    const first = page.locator('a[href^="/admin/settings/mailbox/"]').first()
    await Promise.all([page.waitForURL(/\/admin\/settings\/mailbox\/.+\.eml$/), first.click()])
    await page.frameLocator('iframe.mail-preview').locator('body').waitFor()
    found['mailbox-message'] = await seriousViolations(page)
    await page.screenshot({ path: `${ARTIFACTS}admin-mailbox-message.png`, fullPage: true })

    // The hostile name is text on the page, not markup that ran.
    await page.goto(`${base}/admin/recipients/${evil}`)
    expect(await page.locator('img[src="x"]').count()).toBe(0)
    expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('<script>alert(1)</script>')

    expect(found).toEqual(Object.fromEntries(Object.keys(found).map((name) => [name, []])))
    expect(errors).toEqual([])
  }, 60_000)

  test('settings: a test email reports its result in place; env-managed webhook secret says so', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${base}/admin/settings`)
    await page.getByRole('button', { name: 'Send test email' }).click()
    await page.getByText(`Sent to ${ADMIN}.`).waitFor()
    expect(page.url()).toBe(`${base}/admin/settings`)
    // The environment sets WEBHOOK_SECRET in this service, so rotation is managed there.
    expect(await page.getByText('WEBHOOK_SECRET is set in the environment').isVisible()).toBe(true)
    expect(await seriousViolations(page)).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}admin-settings-test-sent.png`, fullPage: true })

    // Add an admin-alert recipient, change what they get, remove them: each in place.
    const add = page.getByRole('group', { name: 'Add a recipient' })
    await add.getByLabel('Email address').fill('dean@school.test')
    await add.getByLabel('Enrollments').selectOption('all')
    await add.getByRole('button', { name: 'Add' }).click()
    await page.getByRole('status').filter({ hasText: 'dean@school.test now gets admin alerts.' }).waitFor()
    expect(await add.getByLabel('Email address').inputValue()).toBe('')
    const dean = page.getByRole('group', { name: 'dean@school.test' })
    expect(await dean.getByLabel('Enrollments').inputValue()).toBe('all')
    await dean.getByLabel('New registrations').uncheck()
    await dean.getByRole('button', { name: 'Save' }).click()
    await page.getByRole('status').filter({ hasText: 'Saved what dean@school.test gets.' }).waitFor()
    expect(await dean.getByLabel('New registrations').isChecked()).toBe(false)
    expect(await seriousViolations(page)).toEqual([])
    await page.screenshot({ path: `${ARTIFACTS}admin-settings-alerts.png`, fullPage: true })
    await dean.getByRole('button', { name: 'Remove dean@school.test' }).click()
    await page.getByRole('status').filter({ hasText: 'dean@school.test no longer gets admin alerts.' }).waitFor()
    expect(await page.getByRole('group', { name: 'dean@school.test' }).count()).toBe(0)
    expect(errors).toEqual([])
  })
})
