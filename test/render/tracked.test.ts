// Protects tracking done in the render (src/render/render.ts): a tracked
// email comes out byte for byte as rewriteHtml (the reference) makes it of
// the untracked render, for every template and locale in templates/, with
// the keep set, the pixel and the untracked cases; admin edits and
// announcements compile the same way; and a template whose placeholders sit
// where its tags could change with the values is not marked at all (its
// tracked messages are rewritten after rendering), so it stays exact too.

import { beforeAll, describe, expect, test } from 'bun:test'
import { fileURLToPath } from 'node:url'
import { createHandlebars } from '../../src/render/helpers.ts'
import { compileTracked, markTracking } from '../../src/render/render.ts'
import { context, NOW, samples } from '../../src/render/samples.ts'
import { TemplateStore } from '../../src/render/templates.ts'
import { rewriteHtml, type RewriteOptions } from '../../src/tracking/rewrite.ts'

const TEMPLATES = fileURLToPath(new URL('../../templates', import.meta.url))

/** Click URLs that need escaping in an attribute, and a pixel URL that does too. */
function tracking(keep: string[] = [context.links!.preferences!, context.links!.unsubscribe!]): RewriteOptions {
  let n = 0
  return {
    clickUrl: (target) => `https://t.test/c/${n++}?to=${encodeURIComponent(target)}&x="1"`,
    pixelUrl: 'https://t.test/o/1?a=1&b=<2>',
    keep: new Set(keep),
  }
}

let store: TemplateStore
beforeAll(async () => {
  store = await TemplateStore.load(TEMPLATES)
})

/** Renders untracked and tracked, and the reference: rewriteHtml over the untracked HTML with the same options. */
function both(notification: string, locale: string, variables: Record<string, unknown>, options: () => RewriteOptions = tracking) {
  const base = { locale, timeZone: 'Europe/Paris', variables, context, now: NOW }
  const plain = store.render(notification, base)
  const tracked = store.render(notification, { ...base, tracking: options() })
  return { plain, tracked, reference: rewriteHtml(plain.html, options()) }
}

/** Sample values that test the rewrite's rules: entities, whitespace, schemes it leaves alone, our own links. */
function awkward(notification: string): Record<string, unknown>[] {
  const sample = samples[notification] ?? {}
  const withUrls = (url: string) => JSON.parse(JSON.stringify(sample, (key, value) => (/url$/.test(key) && typeof value === 'string' ? url : value)))
  return [
    sample,
    withUrls('https://lms.test/a?x=1&y="2"&z=<3>'),
    withUrls('  https://lms.test/spaced\tpath  '),
    withUrls('javascript:alert(1)'),
    withUrls('mailto:help@lms.test'),
    withUrls(context.links!.unsubscribe!),
    withUrls(''),
    // Every value missing: {{#if}} blocks drop their links, {{or}} falls back to the site.
    {},
  ]
}

describe('every template and locale', () => {
  test('each compiled template carries its tracking marks (none is left to the rewrite)', () => {
    for (const notification of store.notifications()) {
      for (const locale of store.locales()) {
        expect({ notification, locale, marked: !!store.resolve(notification, locale).trackedHtml }).toEqual({ notification, locale, marked: true })
      }
    }
  })

  test('a tracked render is byte for byte rewriteHtml of the untracked one, with sample and awkward values', () => {
    let links = 0
    for (const notification of store.notifications()) {
      for (const locale of store.locales()) {
        for (const variables of awkward(notification)) {
          const { plain, tracked, reference } = both(notification, locale, variables)
          expect(tracked.html).toBe(reference)
          expect(tracked.subject).toBe(plain.subject)
          expect(tracked.text).toBe(plain.text)
          links += (reference.match(/https:\/\/t\.test\/c\//g) ?? []).length
        }
      }
    }
    // The comparison is worth something only if links were in fact tracked.
    expect(links).toBeGreaterThan(200)
  })

  test('the keep set, no keep set and no pixel are followed exactly', () => {
    for (const notification of store.notifications()) {
      for (const locale of store.locales()) {
        const variables = samples[notification] ?? {}
        const noKeep = both(notification, locale, variables, () => tracking([]))
        expect(noKeep.tracked.html).toBe(noKeep.reference)
        const noPixel = both(notification, locale, variables, () => ({ ...tracking(), pixelUrl: undefined }))
        expect(noPixel.tracked.html).toBe(noPixel.reference)
        expect(noPixel.tracked.html).not.toContain('t.test/o/')
      }
    }
    // The footer's unsubscribe and preference links stay as they are when kept.
    const { tracked } = both('course_completed', 'en', samples.course_completed!)
    expect(tracked.html).toContain(`href="${context.links!.unsubscribe}"`)
    expect(tracked.html).toContain(`href="${context.links!.preferences}"`)
    expect(tracked.html).toContain('<img src="https://t.test/o/1?a=1&amp;b=&lt;2&gt;" width="1"')
  })

  test('untracked (password_reset, TRACKING=off: no tracking option) renders exactly as before, with no pixel or tracked link', () => {
    for (const locale of store.locales()) {
      const variables = samples.password_reset!
      const base = { locale, timeZone: 'Europe/Paris', variables, context, now: NOW }
      const html = store.render('password_reset', base).html
      expect(html).not.toContain('t.test')
      expect(html).toContain('href="https://lms.example.com/reset?token&#x3D;s3cr3t&amp;u&#x3D;17"')
      expect(html).not.toContain('aria-hidden="true" style="display:block;width:1px')
    }
  })
})

describe('edited templates', () => {
  test('an admin edit is marked like a file, and its tracked render matches the rewrite', async () => {
    const source = store.fileSource('course_completed', 'en')
    const edited = await store.compileSource('course_completed', 'en', {
      ...source,
      mjml: `${source.mjml}\n<mj-text><a href="https://extra.test/?a=1&amp;b=2">extra</a> <a href="{{course.url}}#x">again</a></mj-text>\n`,
    })
    expect(edited.trackedHtml).toBeDefined()
    const view = { ...samples.course_completed, site: { name: 'S', url: 'https://s.test' }, footer: {}, links: context.links, email: { subject: 's', preheader: '' } }
    const data = { format: undefined }
    const options = tracking()
    expect(edited.trackedHtml!(view, { data: { ...data, track: options } })).toBe(rewriteHtml(edited.html(view, { data }), tracking()))
    expect(edited.trackedHtml!(view, { data: { ...data, track: options } })).toContain('extra.test')
  })
})

describe('templates the marks refuse or accept', () => {
  const hb = createHandlebars()
  // Values a scan could trip on if they were not escaped or not where they are.
  const values = ['https://v.test/a', ' https://v.test/sp ace ', '/body', 'dy', '--', 'x" onclick="y', '<a href="https://evil.test/">', 'href', 'https://keep.test/k', '']
  const render = (source: string, value: string, flag: boolean) => {
    const plain = hb.compile<Record<string, unknown>>(source)
    const view = { x: value, y: value, u: value, flag, items: [{ u: value }, { u: 'https://v.test/item' }] }
    const tracked = compileTracked(hb, source).trackedHtml
    const options = () => ({ ...tracking(['https://keep.test/k']) })
    const reference = rewriteHtml(plain(view), options())
    return { tracked: tracked?.(view, { data: { track: options() } }), reference }
  }

  const accepted = [
    '<html><body><a href="{{u}}">a</a><a href="https://fixed.test/">b</a><a href=https://bare.test/>c</a></body></html>',
    '<html><head><title>{{x}}</title><style>a{color:red}</style></head><body><div title="{{x}}" class="c {{y}}">{{x}}</div></body></html>',
    '<body>{{#each items}}<a class="l" href="{{u}}" title=\'{{../x}}\'>{{u}}</a>{{/each}}</body>',
    '<body>{{#if flag}}<a href="{{u}}">1</a>{{else}}<a href="https://other.test/{{x}}">2</a>{{/if}}\n{{#if flag}}\n  <p>{{x}}</p>\n{{/if}}\n</body>',
    '<body><a href="mailto:{{x}}">m</a><a href="#top">t</a><a href>b</a><a title="{{x}}">none</a></body>',
    '<p>no body at all {{x}} <a href="https://end.test/">e</a></p>',
    '{{#if flag}}</body>{{/if}}<body><a href="{{u}}">x</a></body>',
    '<body><a href="{{or u "https://fallback.test/"}}">o</a></body>',
    '<body><!-- a comment --><!--[if mso]><a href="https://mso.test/">o</a><![endif]--><a href="{{u}}">x</a></body>',
  ]
  const refused = [
    ['an unquoted value in an <a>', '<body><a href={{u}}>a</a></body>'],
    ['a value among an <a> tag\'s attributes', '<body><a {{x}} href="https://a.test/">a</a></body>'],
    ['a value as a tag name', '<body><{{x}} href="https://a.test/">a</a></body>'],
    ['a value that could finish </body', '<body><p>a</bo{{x}}</p></body>'],
    ['a value after < in raw text', '<style>a<{{x}}</style><body><a href="https://a.test/">a</a></body>'],
    ['a value in a comment', '<body><!-- {{x}}> <a href="https://a.test/">a</a> --></body>'],
    ['a block inside a tag', '<body><a {{#if flag}}href="https://a.test/"{{/if}}>a</a></body>'],
    ['the last </body inside a block', '<body><a href="{{u}}">a</a>{{#if flag}}</body>{{/if}}'],
    ['whitespace control', '<body><a href="{{~u}}">a</a></body>'],
    ['a block helper that writes its own text', '<body>{{#or x}}<a href="https://a.test/">a</a>{{/or}}</body>'],
    ['an unescaped value', '<body>{{{x}}}</body>'],
  ]

  test.each(accepted)('marked, and equal to the rewrite for awkward values: %s', (source) => {
    expect(markTracking(hb, source)).not.toBeNull()
    for (const value of values) {
      for (const flag of [true, false]) {
        const { tracked, reference } = render(source, value, flag)
        expect(tracked).toBe(reference)
      }
    }
  })

  test.each(refused)('not marked: %s', (_, source) => {
    expect(markTracking(hb, source)).toBeNull()
  })

  test('no helper writes markup: each returns text, which {{x}} escapes', () => {
    const format = { locale: 'en', timeZone: 'UTC', zoneKnown: true, now: NOW }
    const options = { data: { format }, hash: { one: '<a href="x">', other: '<b>#</b>' }, fn: () => '', inverse: () => '' }
    const own = ['date', 'datetime', 'relative', 'money', 'number', 'plural', 'or', 'truncate', 'kind']
    expect(Object.keys(hb.helpers).filter((name) => !['variant', 'helperMissing', 'blockHelperMissing', 'each', 'if', 'unless', 'with', 'log', 'lookup'].includes(name)).sort()).toEqual(own.sort())
    for (const name of own) {
      for (const args of [['<a href="https://x.test/">'], ['2025-03-10T14:00:00Z', 'USD'], [3, 10]]) {
        const result = (hb.helpers[name] as (...a: unknown[]) => unknown)(...args, options)
        expect(result instanceof hb.SafeString).toBe(false)
      }
    }
  })

  test('a template that is not marked is still tracked exactly, by the rewrite', async () => {
    const source = store.fileSource('welcome', 'en')
    const own = await TemplateStore.load(TEMPLATES)
    const edited = await own.compileSource('welcome', 'en', { ...source, mjml: `${source.mjml}\n<mj-raw><a {{#if site.url}}href="https://a.test/"{{/if}}>x</a></mj-raw>\n` })
    expect(edited.trackedHtml).toBeUndefined()
    own.useVersion({ id: 'v-test', notification: 'welcome', locale: 'en', version: 1_000_000, revertedToDefault: false, ...source }, edited)
    const base = { locale: 'en', timeZone: 'Europe/Paris', variables: samples.welcome!, context, now: NOW }
    const tracked = own.render('welcome', { ...base, tracking: tracking() }).html
    const reference = rewriteHtml(own.render('welcome', base).html, tracking())
    expect(tracked).toBe(reference)
    expect(reference).toContain('t.test/c/')
    expect(reference).toContain('https%3A%2F%2Fa.test%2F')
  })
})
