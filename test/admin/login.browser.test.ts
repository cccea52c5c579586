// Protects the pages an admin sees before signing in: the sign-in form and
// the first-admin setup form are keyboard-usable and pass axe-core.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { createLogger } from '../../src/log.ts'
import { launchChromium, seriousViolations } from '../support/browser.ts'
import { startTestService, type TestService } from '../support/service.ts'

let t: TestService
let browser: Browser
let setupPath: string

beforeAll(async () => {
  const lines: string[] = []
  // No ADMIN_PASSWORD: the service logs a one-time setup link.
  t = await startTestService({ ROLE: 'api' }, { listen: true, log: createLogger('info', {}, (line) => lines.push(line)) })
  setupPath = new URL(lines.map((l) => JSON.parse(l)).find((e) => e.setupLink).setupLink).pathname
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
})

test('sign-in and setup pages: no serious or critical axe findings, and the form is reachable by keyboard', async () => {
  const base = `http://127.0.0.1:${t.service.port}`
  const page = await browser.newPage({ viewport: { width: 390, height: 844 } })
  for (const path of ['/admin/login', setupPath]) {
    await page.goto(`${base}${path}`)
    expect(await seriousViolations(page)).toEqual([])
    await page.keyboard.press('Tab') // the skip link
    await page.keyboard.press('Tab')
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('email')
  }
  await page.close()
})
