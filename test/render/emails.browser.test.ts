// Every notification in every locale, as a reader's mail client shows it:
// rendered with its sample event, opened in headless Chromium at a phone's
// width (360 px) and a desktop client's (800 px). axe-core finds nothing
// serious or critical, nothing is wider than the screen, and each is
// photographed into test-artifacts/emails/ for a person to look at.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import type { Browser } from 'playwright-core'
import { gallery } from '../../src/render/gallery.ts'
import { TemplateStore } from '../../src/render/templates.ts'
import { templatesDir } from '../../src/service.ts'
import { launchChromium, seriousViolations } from '../support/browser.ts'

setDefaultTimeout(120_000)

const ARTIFACTS = new URL('../../test-artifacts/emails/', import.meta.url).pathname
let browser: Browser
let store: TemplateStore
beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  store = await TemplateStore.load(templatesDir)
  browser = await launchChromium()
})
afterAll(() => browser?.close())

describe('every email in a browser', () => {
  test('at 360 px and 800 px: no serious axe violations, nothing wider than the screen', async () => {
    const page = await browser.newPage()
    const problems: string[] = []
    let checked = 0
    for (const { notification, locale, email } of gallery(store)) {
      for (const width of [360, 800]) {
        const where = `${notification}/${locale} at ${width}px`
        await page.setViewportSize({ width, height: 800 })
        await page.setContent(email.html, { waitUntil: 'load' })
        for (const violation of await seriousViolations(page)) problems.push(`${where}: ${violation}`)
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)
        if (overflow > 1) problems.push(`${where}: ${overflow}px wider than the screen`)
        await page.screenshot({ path: `${ARTIFACTS}${notification}.${locale}.${width}.png`, fullPage: true })
        checked++
      }
    }
    await page.close()
    expect(problems).toEqual([])
    expect(checked).toBe(store.notifications().length * store.locales().length * 2)
  })
})
