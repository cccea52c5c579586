// Every notification in every locale, rendered with its sample event, must
// be a good email: strict MJML (checked at load), nothing left unresolved,
// under Gmail's 102 KB clipping size, every link absolute and saying where
// it goes, lang and dir on the document, a title, headings in order, alt
// text on every image, and a plain-text part that reads on its own (no
// markup, links written out).

import { beforeAll, describe, expect, test } from 'bun:test'
import { TemplateStore } from '../../src/render/templates.ts'
import { directionOf } from '../../src/render/helpers.ts'
import { templatesDir } from '../../src/service.ts'
import { decodeEntities } from '../support/mail.ts'
import { context, NOW, samples } from './samples.ts'

let store: TemplateStore
beforeAll(async () => {
  store = await TemplateStore.load(templatesDir)
})

/** What a template may never leave behind in a rendered email. */
const LEFTOVERS = [/\{\{/, /\}\}/, /\[\[/, /\bundefined\b/, /\[object Object\]/, /\bNaN\b/]

function matrix(): [string, string][] {
  return store.notifications().flatMap((n) => store.locales().map((l): [string, string] => [n, l]))
}

describe('every notification × locale', () => {
  test('the matrix covers the shipped locales and notifications', () => {
    expect(store.locales()).toContain('en')
    expect(matrix().length).toBe(store.notifications().length * store.locales().length)
  })

  test('renders to a complete, accessible email with nothing left over', () => {
    const problems: string[] = []
    for (const [notification, locale] of matrix()) {
      const where = `${notification}/${locale}`
      const variables = samples[notification]
      if (!variables) {
        problems.push(`${where}: no sample data`)
        continue
      }
      const email = store.render(notification, { locale, timeZone: 'Europe/Paris', variables, context, now: NOW })
      const html = email.html
      const lang = email.locale
      if (!email.subject.trim()) problems.push(`${where}: empty subject`)
      for (const leftover of LEFTOVERS) {
        for (const [part, text] of [['subject', email.subject], ['html', html], ['text', email.text]] as const) {
          if (leftover.test(text)) problems.push(`${where}: ${part} contains ${leftover}`)
        }
      }
      if (Buffer.byteLength(html) >= 102 * 1024) problems.push(`${where}: HTML is ${Buffer.byteLength(html)} bytes (Gmail clips at 102 KB)`)
      if (!html.includes(`<html lang="${lang}" dir="${directionOf(lang)}"`)) problems.push(`${where}: no lang="${lang}" dir="${directionOf(lang)}" on <html>`)
      if (!/<title>[^<]+<\/title>/.test(html)) problems.push(`${where}: empty <title>`)
      // The preheader: the line an inbox shows after the subject (MJML's hidden preview block).
      if (!/<div style="display:none;font-size:1px;[^"]*">[^<\s][^<]*<\/div>/.test(html)) problems.push(`${where}: no preheader`)
      for (const img of html.match(/<img\b[^>]*>/g) ?? []) if (!/\salt="[^"]*"/.test(img)) problems.push(`${where}: image without alt: ${img}`)
      for (const [, href] of html.matchAll(/\shref="([^"]*)"/g)) {
        if (!/^(https?:|mailto:)/.test(href!)) problems.push(`${where}: link not absolute: ${href}`)
      }
      // Headings start at h1 and never skip a level, so a screen reader's outline makes sense.
      const levels = [...html.matchAll(/<h([1-6])\b/g)].map((m) => Number(m[1]))
      if (levels[0] !== undefined && levels[0] !== 1) problems.push(`${where}: the first heading is h${levels[0]}`)
      levels.forEach((level, i) => {
        if (i > 0 && level > levels[i - 1]! + 1) problems.push(`${where}: h${levels[i - 1]} is followed by h${level}`)
      })
      // A link says where it goes: never "click here" or a bare "here", in any of our languages.
      for (const [, label] of html.matchAll(/<a\b[^>]*>([\s\S]*?)<\/a>/g)) {
        const text = label!.replace(/<[^>]+>/g, '').trim().toLowerCase()
        if (/^(click here|here|cliquez ici|ici|haz clic aquí|aquí|hier klicken|hier|اضغط هنا|هنا)$/.test(text)) problems.push(`${where}: a link that only says "${text}"`)
      }
      if (/<\/?[a-z][^>]*>/i.test(email.text)) problems.push(`${where}: markup in the text part`)
      if (email.text.trim().length < 40) problems.push(`${where}: text part too short to read on its own`)
      // Every link of the HTML is written out in the text part.
      for (const [, href] of html.matchAll(/<a\b[^>]*\shref="(https?:[^"]*)"/g)) {
        const url = decodeEntities(href!)
        if (!email.text.includes(url)) problems.push(`${where}: ${url} is not in the text part`)
      }
    }
    expect(problems).toEqual([])
  })
})
