// Protects readability: every text colour of the email design, in light and
// dark mode, against the background it sits on, meets WCAG 2.2 AA (4.5:1).
// Light colours come from the brand (checked by brandProblems, which also
// guards an admin's changes); the dark palette is read off the layouts, so
// the test fails if a layout changes a colour without the pair here.

import { describe, expect, test } from 'bun:test'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { brandPairs, brandProblems, DEFAULT_BRAND } from '../../src/render/brand.ts'
import { contrastRatio } from '../../src/render/contrast.ts'
import { templatesDir } from '../../src/service.ts'

/** The dark palette is the layouts' own: [what, text colour, background, the layout line that sets it]. */
const DARK: [string, string, string, string][] = [
  ['dark: body text on the card', '#f3f4f6', '#1f2937', '.bf-text > div, .bf-table table { color: #f3f4f6 !important; }'],
  ['dark: muted text on the card', '#d1d5db', '#1f2937', '.bf-muted > div { color: #d1d5db !important; }'],
  ['dark: links on the card', '#93c5fd', '#1f2937', '.bf-text a { color: #93c5fd !important; }'],
  ['dark: footer on the page', '#d1d5db', '#111827', '.bf-footer > div, .bf-footer a { color: #d1d5db !important; }'],
  ['dark: quotes and code', '#f3f4f6', '#111827', '.bf-quote, .bf-code { background-color: #111827 !important; color: #f3f4f6 !important; }'],
  ['dark: site name on the page', '#f9fafb', '#111827', '.bf-site > div, .bf-site a { color: #f9fafb !important; }'],
]

/** Where each layout takes the light colours from the brand. */
const BRAND_FILL_INS = [
  'css-class="bf-text" color="[[brand_text]]"',
  'css-class="bf-text bf-muted" color="[[brand_muted]]"',
  'a { color: [[brand_primary]];',
  'background-color="[[brand_primary]]" color="#ffffff"',
  'background-color: [[brand_page]]; color: [[brand_text]];',
  'css-class="bf-footer" color="[[brand_muted]]"',
  'background-color="[[brand_card]]"',
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

  test('the default brand meets AA (4.5:1) for every text on its background', () => {
    expect(brandProblems(DEFAULT_BRAND)).toEqual([])
    for (const pair of brandPairs(DEFAULT_BRAND)) expect(contrastRatio(pair.text, pair.background)).toBeGreaterThanOrEqual(4.5)
  })

  test.each(DARK)('%s meets AA (4.5:1)', (_what, text, background) => {
    expect(contrastRatio(text, background)).toBeGreaterThanOrEqual(4.5)
  })

  test('every layout takes its light colours from the brand and keeps the dark palette checked here', () => {
    const missing = layouts.flatMap((file) => {
      const source = readFileSync(join(templatesDir, '_layout', file), 'utf8')
      return [
        ...BRAND_FILL_INS.filter((snippet) => !source.includes(snippet)).map((snippet) => `${file}: ${snippet}`),
        ...DARK.filter(([, , , snippet]) => !source.includes(snippet)).map(([what]) => `${file}: ${what}`),
      ]
    })
    expect(missing).toEqual([])
  })
})

describe('brandProblems', () => {
  test('a palette below AA is refused with the pair and its ratio; malformed values with what to write', () => {
    expect(brandProblems({ ...DEFAULT_BRAND, primary: '#7dd3fc' })).toEqual([
      'links on the card: contrast 1.67:1, below the 4.5:1 WCAG AA needs',
      'button labels (white) on the primary colour: contrast 1.67:1, below the 4.5:1 WCAG AA needs',
    ])
    expect(brandProblems({ ...DEFAULT_BRAND, card: 'white', logoUrl: 'http://x/logo.png', fontStack: 'Arial; } body { x' })).toEqual([
      'card must be a colour like #1d4ed8',
      'the font stack may hold only font names, quotes and commas',
      'the logo must be an https URL',
    ])
  })
})
