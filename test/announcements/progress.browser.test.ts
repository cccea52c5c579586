// Protects issue 12 as an admin meets it, in headless Chromium against the
// real service on a real port with its jobs on their schedules: write an
// announcement to one course's learners, see the segment's size and the
// live preview, save it, send it, and watch the progress bar move while the
// emails go out (SMTP at 50 a second) until it reaches 100%. No console
// errors, no serious or critical axe finding on the compose page.
//
// Chromium is required: without it this file fails, it never skips.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from 'bun:test'
import type { Browser } from 'playwright-core'
import { ADMIN_PASSWORD } from '../support/admin.ts'
import { launchChromium, seriousViolations, watchErrors } from '../support/browser.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { seedEnrollments, seedLearners } from './support.ts'

setDefaultTimeout(60_000)

const ENROLLED = 150

let t: TestService
let sink: SmtpSink
let browser: Browser
let base: string

beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService(
    { ADMIN_PASSWORD, MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, SMTP_MAX_PER_SECOND: '50', ANNOUNCE_BATCH: '50' },
    { listen: true, schedule: true },
  )
  base = `http://127.0.0.1:${t.service.port}`
  await seedLearners(t.service.database.db, 400)
  await seedEnrollments(t.service.database.db, 'c-stats', 101, ENROLLED)
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await t?.stop()
  await sink?.close()
})

describe('an announcement to one course, in the browser', () => {
  test('is written, previewed, sent, and its progress bar moves to 100%', async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors = watchErrors(page)
    await page.goto(`${base}/admin/announcements/new`)
    await page.getByLabel('Email').fill(ADMIN)
    await page.getByLabel('Password').fill(ADMIN_PASSWORD)
    await Promise.all([page.waitForURL(`${base}/admin/announcements/new`), page.getByLabel('Password').press('Enter')])

    await page.getByLabel('Subject', { exact: true }).fill('Statistics: the exam room has changed')
    await page.getByLabel('Learners of these courses').check()
    await page.getByLabel(/Course ids/).fill('c-stats')
    await page.waitForFunction(() => document.querySelector('#segment-size')?.textContent?.includes('150 people in this segment'), null, { timeout: 10_000 })
    await page.waitForFunction(
      () => document.querySelector('#preview-subject')?.textContent === 'Statistics: the exam room has changed',
      null,
      { timeout: 10_000 },
    )
    expect(await seriousViolations(page)).toEqual([])

    await Promise.all([page.waitForURL(/\/admin\/announcements\/[0-9a-f-]{36}$/), page.getByRole('button', { name: 'Save draft' }).click()])
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Send the saved version' }).click()])
    await page.locator('#progress-bar').waitFor()

    // Read the bar as the admin sees it, as htmx refreshes it every second.
    const seen: number[] = []
    const deadline = Date.now() + 40_000
    while (Date.now() < deadline) {
      seen.push(Number(await page.locator('#progress-bar').getAttribute('value')))
      if (seen.at(-1) === 100) break
      await Bun.sleep(200)
    }
    console.log(`progress bar values seen: ${[...new Set(seen)].join(', ')}`)
    expect(seen.at(-1)).toBe(100)
    expect(seen.some((value) => value > 0 && value < 100)).toBe(true)
    expect(await page.locator('#progress-percent').textContent()).toBe('100%')
    // Once it has finished, the page says so without a reload: no Pause or Cancel, the results filled in.
    await page.getByRole('button', { name: 'Pause' }).waitFor({ state: 'detached', timeout: 5000 })
    expect(await page.getByRole('button', { name: 'Cancel the rest' }).count()).toBe(0)
    const sentCell = page.locator('table.list tbody tr td').nth(1)
    await page.waitForFunction((n) => document.querySelector('table.list tbody tr td:nth-of-type(2)')?.textContent === String(n), ENROLLED, { timeout: 5000 })
    expect(await sentCell.textContent()).toBe(String(ENROLLED))
    expect(sink.messages.length).toBe(ENROLLED)
    expect(new Set(sink.messages.map((m) => m.envelope.to[0])).size).toBe(ENROLLED)
    expect(errors).toEqual([])
    await page.close()
  })
})
