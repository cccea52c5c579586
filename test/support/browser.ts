// Headless Chromium for the browser tests: Debian's chromium driven by
// playwright-core, axe-core's serious and critical findings, and the
// console errors a page logs.

import { existsSync, readFileSync } from 'node:fs'
import { expect } from 'bun:test'
import { chromium, type Browser, type Page } from 'playwright-core'

export const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
const axeSource = readFileSync(Bun.resolveSync('axe-core/axe.min.js', import.meta.dir), 'utf8')

/** Fails loudly when Chromium is missing: a browser test that skips proves nothing. */
export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: the browser tests need it. Install it (apt-get install chromium) or set CHROMIUM_PATH.`)
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  })
}

/** Console errors and uncaught exceptions, except the favicon the browser asks for on its own. */
export function watchErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' && !message.location().url.endsWith('/favicon.ico')) errors.push(message.text())
  })
  page.on('pageerror', (error) => errors.push(error.message))
  return errors
}

interface AxeResults {
  passes: unknown[]
  violations: { id: string; impact: string; nodes: { target: string[] }[] }[]
}

/** axe-core's serious and critical findings on the page as it is now, one line each. */
export async function seriousViolations(page: Page): Promise<string[]> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern (an injected <script> would be refused).
  await page.evaluate(axeSource)
  const { passes, violations } = await page.evaluate(async () => {
    const result = await (window as unknown as { axe: { run(): Promise<AxeResults> } }).axe.run()
    return {
      passes: result.passes.length,
      violations: result.violations.map((v) => ({ id: v.id, impact: v.impact, targets: v.nodes.map((n) => n.target.join(' ')) })),
    }
  })
  expect(passes).toBeGreaterThan(10) // axe really ran its rules
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.targets.join(', ')}`)
}
