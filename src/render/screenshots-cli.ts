// `npm run emails:screenshots [folder]`: every notification in every locale,
// rendered with its sample event and photographed in headless Chromium at a
// phone's width (360 px) and a desktop client's (800 px), into a folder a
// person can flip through (default ./screenshots, which git ignores).

import { mkdir, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { chromium } from 'playwright-core'
import { templatesDir } from '../service.ts'
import { gallery } from './gallery.ts'
import { TemplateStore } from './templates.ts'

const WIDTHS = [360, 800] as const

const out = resolve(process.argv[2] ?? 'screenshots')
await mkdir(out, { recursive: true })
const store = await TemplateStore.load(templatesDir)
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
})
let count = 0
try {
  const page = await browser.newPage()
  for (const { notification, locale, email } of gallery(store)) {
    const name = `${notification}.${locale}`
    await writeFile(join(out, `${name}.html`), email.html)
    await writeFile(join(out, `${name}.txt`), `Subject: ${email.subject}\n\n${email.text}`)
    for (const width of WIDTHS) {
      await page.setViewportSize({ width, height: 900 })
      await page.setContent(email.html, { waitUntil: 'load' })
      await page.screenshot({ path: join(out, `${name}.${width}.png`), fullPage: true })
      count++
    }
  }
} finally {
  await browser.close()
}
console.log(`${count} screenshots in ${out}`)
