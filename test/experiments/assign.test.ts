// Protects who gets which variant: a stable hash, so a learner always sees
// the same one; a split that follows the weights; a template that declares
// subject and content variants renders each consistently.

import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { assignVariant, parseVariants } from '../../src/experiments/assign.ts'
import { TemplateStore } from '../../src/render/templates.ts'

const context = { siteName: 'Belfry Academy', siteUrl: 'https://learn.test' }

describe('assignVariant', () => {
  const fifty = [
    { name: 'a', weight: 50 },
    { name: 'b', weight: 50 },
  ]

  test('1,000 recipients at 50/50: each variant gets 45–55%, and each recipient always the same one', () => {
    const first = Array.from({ length: 1000 }, (_, i) => assignVariant('welcome-subject', `learner-${i}`, fifty))
    const b = first.filter((v) => v === 'b').length
    expect(b).toBeGreaterThanOrEqual(450)
    expect(b).toBeLessThanOrEqual(550)
    const again = Array.from({ length: 1000 }, (_, i) => assignVariant('welcome-subject', `learner-${i}`, fifty))
    expect(again).toEqual(first)
  })

  test('weights 80/20 give about 80/20; another experiment shuffles people independently', () => {
    const split = [
      { name: 'a', weight: 80 },
      { name: 'b', weight: 20 },
    ]
    const b = Array.from({ length: 2000 }, (_, i) => assignVariant('x', `r${i}`, split)).filter((v) => v === 'b').length
    expect(b).toBeGreaterThan(340)
    expect(b).toBeLessThan(460)
    const inX = Array.from({ length: 200 }, (_, i) => assignVariant('x', `r${i}`, fifty))
    const inY = Array.from({ length: 200 }, (_, i) => assignVariant('y', `r${i}`, fifty))
    expect(inX).not.toEqual(inY)
  })

  test('parseVariants takes "name:weight" pairs, and refuses one variant, twins or all-zero weights', () => {
    expect(parseVariants('a:50, b:30,c:20')).toEqual([
      { name: 'a', weight: 50 },
      { name: 'b', weight: 30 },
      { name: 'c', weight: 20 },
    ])
    for (const bad of ['a:100', 'a:1,a:2', 'a:0,b:0', 'a:50 b:50', 'A:1,b:1']) expect(parseVariants(bad)).toBeNull()
  })
})

describe('a template with variants', () => {
  test('subject and content follow the variant; the email says which experiment and variant it was', async () => {
    const store = await TemplateStore.load(join(import.meta.dir, 'fixtures'))
    const render = (variant: string) =>
      store.render('welcome_ab', { locale: 'en', variables: { user: { name: 'Ada' } }, context, variantFor: () => variant })
    const a = render('a')
    const b = render('b')
    expect([a.subject, a.experiment]).toEqual(['Welcome, Ada', { id: 'welcome-subject', variant: 'a' }])
    expect(a.text).toContain('We are glad you are here.')
    expect([b.subject, b.experiment]).toEqual(["You're in, Ada: start here", { id: 'welcome-subject', variant: 'b' }])
    expect(b.html).toContain('Your first lesson is one click away.')
    expect(b.html).not.toContain('We are glad you are here.')
    // Without a chooser (a preview), the first variant.
    expect(store.render('welcome_ab', { locale: 'en', variables: {}, context }).experiment?.variant).toBe('a')
  })
})
