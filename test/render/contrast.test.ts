// Protects readability: every text colour of the email design, in light and
// dark mode, against the background it sits on, meets WCAG 2.2 AA (4.5:1).
// The pairs are read off the shared layout: the test fails if a colour in
// the layout changes without the pair here changing with it.

import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { contrastRatio } from '../../src/render/contrast.ts'
import { templatesDir } from '../../src/service.ts'

/** [what, text colour, background, a snippet of the layout that sets it]. */
const PAIRS: [string, string, string, string][] = [
  ['body text on the card', '#1f2937', '#ffffff', 'css-class="bf-text" color="#1f2937"'],
  ['muted text on the card', '#4b5563', '#ffffff', 'css-class="bf-text bf-muted" color="#4b5563"'],
  ['links on the card', '#1d4ed8', '#ffffff', 'a { color: #1d4ed8;'],
  ['button label on the button', '#ffffff', '#1d4ed8', 'background-color="#1d4ed8" color="#ffffff"'],
  ['quotes and code', '#1f2937', '#f3f4f6', 'background-color: #f3f4f6; color: #1f2937;'],
  ['footer on the page', '#4b5563', '#f3f4f6', 'css-class="bf-footer" color="#4b5563"'],
  ['dark: body text on the card', '#f3f4f6', '#1f2937', '.bf-text > div, .bf-table table { color: #f3f4f6 !important; }'],
  ['dark: muted text on the card', '#d1d5db', '#1f2937', '.bf-muted > div { color: #d1d5db !important; }'],
  ['dark: links on the card', '#93c5fd', '#1f2937', '.bf-text a { color: #93c5fd !important; }'],
  ['dark: footer on the page', '#d1d5db', '#111827', '.bf-footer > div, .bf-footer a { color: #d1d5db !important; }'],
  ['dark: quotes and code', '#f3f4f6', '#111827', '.bf-quote, .bf-code { background-color: #111827 !important; color: #f3f4f6 !important; }'],
  ['dark: site name on the page', '#f9fafb', '#111827', '.bf-site > div, .bf-site a { color: #f9fafb !important; }'],
]

describe('contrastRatio', () => {
  test('matches the WCAG definition: black on white is 21, a colour on itself 1', () => {
    expect(contrastRatio('#000000', '#ffffff')).toBeCloseTo(21, 5)
    expect(contrastRatio('#777777', '#777777')).toBe(1)
    expect(contrastRatio('#767676', '#ffffff')).toBeCloseTo(4.54, 2)
  })
})

describe('the email palette', () => {
  const layouts = readdirSync(join(templatesDir, '_layout')).filter((f) => f.endsWith('.mjml'))

  test.each(PAIRS)('%s meets AA (4.5:1)', (_what, text, background) => {
    expect(contrastRatio(text, background)).toBeGreaterThanOrEqual(4.5)
  })

  test('every layout sets the colours checked here', () => {
    const missing = layouts.flatMap((file) => {
      const source = readFileSync(join(templatesDir, '_layout', file), 'utf8')
      return PAIRS.filter(([, , , snippet]) => !source.includes(snippet)).map(([what]) => `${file}: ${what}`)
    })
    expect(missing).toEqual([])
  })
})
