// Protects template editing as an admin meets it, in headless Chromium
// against the real service on a real port: sign in through the real form,
// edit a subject and watch the live preview follow (htmx, no CSP
// violation), see a broken template's problems inline, save, save again,
// roll back and find the old subject back; the same save and rollback with
// JavaScript off; focus visible by keyboard; axe-core finds no serious or
// critical violation on the list or the editor. Screenshots go to
// test-artifacts/.
//
// Chromium is required: without it this file fails with a message saying
// how to install it, it never skips.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { and, desc, eq } from 'drizzle-orm'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { templateVersions } from '../../src/db/schema/index.ts'
import { ADMIN_PASSWORD } from '../support/admin.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { launchChromium, seriousViolations, watchErrors } from '../support/browser.ts'

const ARTIFACTS = join(import.meta.dir, '..', '..', 'test-artifacts')

let t: TestService
let browser: Browser
let base: string

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  t = await startTestService({ ADMIN_PASSWORD, ROLE: 'api' }, { listen: true })
  base = `http://127.0.0.1:${t.service.port}`
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

async function signIn(context: BrowserContext, next: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${base}/admin/login?next=${encodeURIComponent(next)}`)
  await page.getByLabel('Email').fill(ADMIN)
  await page.getByLabel('Password').fill(ADMIN_PASSWORD)
  await Promise.all([page.waitForURL(`${base}${next}`), page.getByRole('button', { name: 'Sign in' }).click()])
  return page
}

const newest = async (notification: string) =>
  (
    await t.service.database.db
      .select()
      .from(templateVersions)
      .where(and(eq(templateVersions.notification, notification), eq(templateVersions.locale, 'en')))
      .orderBy(desc(templateVersions.version))
      .limit(1)
  )[0]

const previewSubject = (page: Page) => page.locator('#preview-subject')

describe('with JavaScript (htmx)', () => {
  test('edit the subject, the preview follows; save, save again, roll back: the old subject is back', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } })
    try {
      const page = await signIn(context, '/admin/templates')
      const errors = watchErrors(page)
      await page.screenshot({ path: join(ARTIFACTS, 'templates-list.png'), fullPage: true })
      await Promise.all([page.waitForURL(`${base}/admin/templates/welcome/en`), page.getByRole('link', { name: 'welcome (en)' }).click()])
      expect(await page.evaluate(() => (window as unknown as { htmx?: { version: string } }).htmx?.version)).toStartWith('4.')
      expect(await previewSubject(page).textContent()).toBe('Welcome to Belfry Academy')
      // The email itself renders in the sandboxed frame.
      await page.frameLocator('iframe.tpl-frame').getByRole('heading', { name: 'Welcome to Belfry Academy!' }).waitFor()

      await page.getByLabel('Subject', { exact: true }).fill('Hello {{user.name}}, welcome in')
      await page.waitForFunction(() => document.querySelector('#preview-subject')?.textContent === 'Hello Ada Lovelace, welcome in')
      expect(page.url()).toBe(`${base}/admin/templates/welcome/en`) // a preview is not a save
      expect(await newest('welcome')).toBeUndefined()

      // A broken body: the problem shows in the preview, with its line.
      const body = page.getByLabel('MJML body')
      const original = await body.inputValue()
      await body.fill(`${original}<mj-bogus></mj-bogus>\n`)
      await page.locator('#preview-errors').getByText(/MJML body line \d+: Element mj-bogus/).waitFor()
      await page.screenshot({ path: join(ARTIFACTS, 'templates-editor-error.png'), fullPage: true })
      await body.fill(original)
      await page.waitForFunction(() => document.querySelector('#preview-subject')?.textContent === 'Hello Ada Lovelace, welcome in')

      await Promise.all([page.waitForURL(/\?saved=1#notice$/), page.getByRole('button', { name: 'Save as version 1' }).click()])
      await page.getByRole('status').filter({ hasText: 'Saved as version 1' }).waitFor()
      expect(await newest('welcome')).toMatchObject({ version: 1, subject: 'Hello {{user.name}}, welcome in', createdBy: ADMIN })

      await page.getByLabel('Subject', { exact: true }).fill('A second subject')
      await Promise.all([page.waitForURL(/\?saved=2#notice$/), page.getByRole('button', { name: 'Save as version 2' }).click()])
      expect(await page.getByLabel('Subject', { exact: true }).inputValue()).toBe('A second subject')

      const v1 = page.locator('#version-1')
      await v1.getByText('Changes from the file default').click()
      await v1.getByText('Subject: Hello {{user.name}}, welcome in').waitFor()
      // Only the subject line changed (the textareas' CRLF line breaks are not a change).
      expect(await v1.locator('.tpl-add, .tpl-del').count()).toBe(2)
      await page.screenshot({ path: join(ARTIFACTS, 'templates-editor-history.png'), fullPage: true })
      await Promise.all([page.waitForURL(/\?restored=3#notice$/), v1.getByRole('button', { name: 'Roll back to version 1' }).click()])
      expect(await page.getByLabel('Subject', { exact: true }).inputValue()).toBe('Hello {{user.name}}, welcome in')
      expect(await previewSubject(page).textContent()).toBe('Hello Ada Lovelace, welcome in')
      expect(await newest('welcome')).toMatchObject({ version: 3, subject: 'Hello {{user.name}}, welcome in' })
      // What the worker would render now.
      const rendered = t.service.templates.render('welcome', {
        locale: 'en',
        variables: { user: { name: 'Zoe' } },
        context: { siteName: 'Belfry Academy', siteUrl: base },
      })
      expect(rendered.subject).toBe('Hello Zoe, welcome in')
      await page.screenshot({ path: join(ARTIFACTS, 'templates-editor.png'), fullPage: true })
      expect(errors).toEqual([])
    } finally {
      await context.close()
    }
  }, 60_000)

  test('keyboard: Tab reaches the subject field, and its focus is visible', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    try {
      const page = await signIn(context, '/admin/templates/course_completed/en')
      let id: string | undefined
      for (let i = 0; i < 30 && id !== 'subject'; i++) {
        await page.keyboard.press('Tab')
        id = await page.evaluate(() => document.activeElement?.id)
      }
      expect(id).toBe('subject')
      const outline = await page.locator('#subject').evaluate((element) => {
        const style = getComputedStyle(element)
        return { style: style.outlineStyle, width: parseFloat(style.outlineWidth) }
      })
      expect(outline.style).toBe('solid')
      expect(outline.width).toBeGreaterThanOrEqual(2)
    } finally {
      await context.close()
    }
  })
})

describe('with JavaScript off', () => {
  test('save and roll back are plain form posts', async () => {
    const context = await browser.newContext({ javaScriptEnabled: false, viewport: { width: 1024, height: 900 } })
    try {
      const page = await signIn(context, '/admin/templates/session_reminder/en')
      const fileSubject = await page.getByLabel('Subject', { exact: true }).inputValue()
      await page.getByLabel('Subject', { exact: true }).fill('No-JS: {{session.title}}')
      await Promise.all([page.waitForURL(/\?saved=1#notice$/), page.getByRole('button', { name: 'Save as version 1' }).click()])
      expect(await page.getByLabel('Subject', { exact: true }).inputValue()).toBe('No-JS: {{session.title}}')
      expect(await previewSubject(page).textContent()).toBe('No-JS: Live Q&A')
      await Promise.all([page.waitForURL(/\?reverted=1#notice$/), page.getByRole('button', { name: 'Revert to the file default' }).click()])
      expect(await page.getByLabel('Subject', { exact: true }).inputValue()).toBe(fileSubject)
      await Promise.all([page.waitForURL(/\?restored=3#notice$/), page.getByRole('button', { name: 'Roll back to version 1' }).click()])
      expect(await page.getByLabel('Subject', { exact: true }).inputValue()).toBe('No-JS: {{session.title}}')
    } finally {
      await context.close()
    }
  })
})

describe('accessibility (axe-core)', () => {
  test('no serious or critical violations on the list, the editor, its error state and its history', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    try {
      const found: Record<string, string[]> = {}
      const page = await signIn(context, '/admin/templates')
      found['list'] = await seriousViolations(page)
      await page.goto(`${base}/admin/templates/welcome/en`)
      found['editor'] = await seriousViolations(page)
      for (const details of await page.locator('.tpl-history details').all()) await details.locator('summary').click()
      found['editor, history open'] = await seriousViolations(page)
      await page.getByLabel('MJML body').fill('<mj-text colour="red">x</mj-text>\n')
      await page.locator('#preview-errors').waitFor()
      found['editor, preview errors'] = await seriousViolations(page)
      await page.getByRole('button', { name: /Save as version/ }).click()
      await page.locator('#save-errors').waitFor()
      found['editor, save refused'] = await seriousViolations(page)
      expect(found).toEqual(Object.fromEntries(Object.keys(found).map((name) => [name, []])))
    } finally {
      await context.close()
    }
  }, 60_000)
})
