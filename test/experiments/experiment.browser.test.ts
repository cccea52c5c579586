// Protects the experiments and analytics pages as an admin uses them, in
// headless Chromium: from the nav to an experiment's results per variant
// (sent, delivered, human opens, rates with intervals, chance of being
// best, how it is computed), promoting a variant, and the analytics page
// with its charts and CSV; no serious axe violations, nothing wider than a
// phone.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import { mkdirSync } from 'node:fs'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { ADMIN_PASSWORD } from '../support/admin.ts'
import { launchChromium, seriousViolations, watchErrors } from '../support/browser.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { open, sendsAMinuteAgo, SUBJECT_B, templatesWithExperiment } from './support.ts'

setDefaultTimeout(60_000)

const ARTIFACTS = new URL('../../test-artifacts/', import.meta.url).pathname
let sink: SmtpSink
let t: TestService
let templates: Awaited<ReturnType<typeof templatesWithExperiment>>
let browser: Browser
let context: BrowserContext
let base: string

beforeAll(async () => {
  mkdirSync(ARTIFACTS, { recursive: true })
  sink = await startSmtpSink()
  templates = await templatesWithExperiment()
  t = await startTestService({ ADMIN_PASSWORD, MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url }, { listen: true, templatesDir: templates.dir })
  base = `http://127.0.0.1:${t.service.port}`
  for (let i = 0; i < 30; i++) await t.post('user.registered', { user: { id: `ex-${i}`, email: `ex${i}@learner.test`, name: `Learner ${i}` } })
  const mails = (await sink.waitFor(60, 20_000)).filter((m) => m.envelope.to[0]!.endsWith('@learner.test'))
  await Bun.sleep(300)
  await sendsAMinuteAgo(t)
  for (const [i, mail] of mails.entries()) if (i % 3 === 0) await open(t, mail)
  browser = await launchChromium()
  context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  await page.goto(`${base}/admin/experiments`)
  await page.getByLabel('Email').fill(ADMIN)
  await page.getByLabel('Password').fill(ADMIN_PASSWORD)
  await Promise.all([page.waitForURL(`${base}/admin/experiments`), page.getByLabel('Password').press('Enter')])
  await page.close()
})
afterAll(async () => {
  await browser?.close()
  await t?.stop()
  await sink?.close()
  await templates?.remove()
})

async function shot(page: Page, name: string) {
  await page.screenshot({ path: `${ARTIFACTS}experiments-${name}.png`, fullPage: true })
}

describe('experiments', () => {
  test('from the nav to the results per variant, then promote one: the next learner gets it', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${base}/admin`)
    await page.getByRole('navigation', { name: 'Admin' }).getByRole('link', { name: 'Experiments' }).click()
    await page.getByRole('link', { name: 'welcome-subject' }).click()
    await page.getByRole('heading', { name: 'Experiment welcome-subject' }).waitFor()
    const table = page.getByRole('table', { name: /Results per variant/ })
    const rows = table.getByRole('row')
    expect(await rows.count()).toBe(3)
    const a = await table.getByRole('row', { name: /^a / }).textContent()
    const b = await table.getByRole('row', { name: /^b / }).textContent()
    // Each row: its weight, sends, deliveries, opens with their rate, and an interval.
    for (const text of [a!, b!]) expect(text).toMatch(/^[ab]50\d+\d+\d+ \(\d+\.\d%\).*\d+\.\d% \(\d+\.\d%–\d+\.\d%\)\d+\.\d%$/)
    expect(await page.getByText('Beta-Binomial model').count()).toBe(1)
    expect(await page.getByText(/None yet: no variant is 95\.0% likely/).count()).toBe(1)
    expect(await seriousViolations(page)).toEqual([])
    await shot(page, 'results')

    await page.getByRole('button', { name: 'Promote variant b' }).click()
    await page.getByRole('status').filter({ hasText: 'Variant b promoted: everyone gets it from now on.' }).waitFor()
    expect(await page.getByText(/Variant b promoted by ops@school\.test/).count()).toBe(1)
    expect(await page.getByRole('button', { name: 'Promote variant a' }).count()).toBe(0)

    await t.service.experiments.refresh()
    sink.reset()
    await t.post('user.registered', { user: { id: 'ex-new', email: 'new@learner.test' } })
    const [mail] = (await sink.waitFor(2, 10_000)).filter((m) => m.envelope.to[0] === 'new@learner.test')
    expect(mail!.parsed.subject).toBe(SUBJECT_B)
    expect(errors).toEqual([])
    await page.close()
  })
})

describe('analytics', () => {
  test('per notification and day, charts described for screen readers, a CSV that opens in a spreadsheet', async () => {
    const page = await context.newPage()
    const errors = watchErrors(page)
    await page.goto(`${base}/admin/analytics?days=7`)
    await page.getByRole('heading', { name: 'Analytics' }).waitFor()
    const welcome = await page.getByRole('row', { name: /welcome/ }).textContent()
    expect(welcome).toMatch(/welcome31310\.0%32\.3%0\.0%0\.0%0\.0%$/)
    expect(await page.getByRole('img', { name: /Human open rate per day/ }).count()).toBe(1)
    expect(await seriousViolations(page)).toEqual([])
    await shot(page, 'analytics')

    const response = await page.request.get(`${base}/admin/analytics.csv?days=7&notification=welcome`)
    expect(response.headers()['content-type']).toBe('text/csv; charset=utf-8')
    const [header, row] = (await response.text()).trim().split('\r\n')
    expect(header).toStartWith('day,notification,sent,delivered,bounced,human_opens')
    expect(row).toMatch(/^\d{4}-\d{2}-\d{2},welcome,31,31,0,10,/)

    // On a phone, the wide table scrolls inside its region; the page itself does not.
    await page.setViewportSize({ width: 360, height: 740 })
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true)
    expect(errors).toEqual([])
    await page.close()
  })
})
