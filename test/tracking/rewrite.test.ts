// Protects the HTML rewrite of tracked emails: only a real <a> element's
// href changes, entity-encoded URLs are read as a browser reads them and
// the tracking URL is written back correctly escaped, and everything a
// reader must reach directly (mailto:, tel:, anchors, our own unsubscribe
// and preference links) is left byte for byte as it was.

import { describe, expect, test } from 'bun:test'
import { decodeAttribute, rewriteHtml, type RewriteOptions } from '../../src/tracking/rewrite.ts'

const seen: string[] = []
const options = (extra: Partial<RewriteOptions> = {}): RewriteOptions => ({
  clickUrl: (target) => {
    seen.push(target)
    return `https://t.test/c/${seen.length - 1}?x=1&y=2`
  },
  ...extra,
})

function rewrite(html: string, extra: Partial<RewriteOptions> = {}) {
  seen.length = 0
  return { html: rewriteHtml(html, options(extra)), targets: [...seen] }
}

describe('links', () => {
  test('an href with &amp; is decoded for the token and the tracked URL is written back escaped', () => {
    const { html, targets } = rewrite('<p><a class="btn" href="https://lms.test/c?a=1&amp;b=2&#x3D;3&#39;">Go</a></p>')
    expect(targets).toEqual(["https://lms.test/c?a=1&b=2=3'"])
    expect(html).toBe('<p><a class="btn" href="https://t.test/c/0?x=1&amp;y=2">Go</a></p>')
  })

  test('single-quoted and unquoted hrefs keep working; other attributes stay', () => {
    const { html, targets } = rewrite(`<a title='x' href='https://a.test/1' target=_blank>1</a><A HREF=https://a.test/2>2</A>`)
    expect(targets).toEqual(['https://a.test/1', 'https://a.test/2'])
    expect(html).toBe(`<a title='x' href='https://t.test/c/0?x=1&amp;y=2' target=_blank>1</a><A HREF="https://t.test/c/1?x=1&amp;y=2">2</A>`)
  })

  test('a link written inside the text of another attribute, in text, in comments or in <style> is not touched', () => {
    const source =
      `<img alt="see <a href='https://evil.test/'>here</a>" src="https://img.test/a.png">` +
      `<a data-href="https://data.test/" title='href="https://title.test/"' href="https://real.test/">x</a>` +
      `<p>write href="https://text.test/" in text</p>` +
      `<!-- <a href="https://comment.test/">c</a> -->` +
      `<!--[if mso]><a href="https://mso.test/">o</a><![endif]-->` +
      `<style>a[href="https://style.test/"]{color:red}</style>` +
      `<abbr href="https://abbr.test/">not an a</abbr>`
    const { html, targets } = rewrite(source)
    expect(targets).toEqual(['https://real.test/'])
    expect(html).toBe(source.replace('href="https://real.test/"', 'href="https://t.test/c/0?x=1&amp;y=2"'))
  })

  test('mailto:, tel:, anchors, relative and javascript: links are left alone', () => {
    const source =
      '<a href="mailto:help@school.test?subject=Hi&amp;x=1">m</a><a href="tel:+441234">t</a><a href="#top">a</a>' +
      '<a href="/relative">r</a><a href="javascript:alert(1)">j</a><a href="">e</a><a>none</a><a href>bare</a>'
    const { html, targets } = rewrite(source)
    expect(targets).toEqual([])
    expect(html).toBe(source)
  })

  test('our unsubscribe and preference links are matched exactly (as decoded) and kept', () => {
    const keep = new Set(['https://n.test/u/abc.def.ghi', 'https://n.test/preferences/abc.xyz'])
    const source =
      '<a href="https://n.test/u/abc.def.ghi">unsubscribe</a> <a href="https://n.test/preferences/abc&#46;xyz">prefs</a>' +
      '<a href="https://n.test/u/abc.def.ghiX">not ours</a>'
    const { html, targets } = rewrite(source, { keep })
    expect(targets).toEqual(['https://n.test/u/abc.def.ghiX'])
    expect(html).toStartWith('<a href="https://n.test/u/abc.def.ghi">unsubscribe</a> <a href="https://n.test/preferences/abc&#46;xyz">prefs</a>')
  })

  test('surrounding whitespace is dropped from the target as a browser would; unicode is kept as is', () => {
    const { targets } = rewrite('<a href="\n  https://lms.test/cours/é?q=ü&amp;r=1  ">x</a>')
    expect(targets).toEqual(['https://lms.test/cours/é?q=ü&r=1'])
  })

  test('an href with a named reference we do not know stays untracked rather than guessed', () => {
    const source = '<a href="https://lms.test/?a=1&copy;b=2">x</a><a href="https://lms.test/?a=1&b=2">y</a>'
    const { html, targets } = rewrite(source)
    // A bare & that starts no reference is a literal & (as in HTML).
    expect(targets).toEqual(['https://lms.test/?a=1&b=2'])
    expect(html).toStartWith('<a href="https://lms.test/?a=1&copy;b=2">x</a>')
  })

  test('a tag cut off at the end of the input does not throw', () => {
    expect(() => rewrite('<p>x</p><a href="https://a.test/')).not.toThrow()
    expect(rewrite('<a href=').html).toBe('<a href=')
  })
})

describe('the open pixel', () => {
  test('goes just before </body>, escaped, 1×1, empty alt, hidden from screen readers', () => {
    const { html } = rewrite('<html><body><div>Hi</div></body></html>', { pixelUrl: 'https://t.test/o/a.b"c' })
    const img = /<img [^>]*>/.exec(html)![0]
    expect(html.indexOf(img)).toBe(html.indexOf('</body>') - img.length)
    expect(img).toContain('src="https://t.test/o/a.b&quot;c"')
    expect(img).toContain('width="1" height="1"')
    expect(img).toContain('alt=""')
    expect(img).toContain('aria-hidden="true"')
  })

  test('goes at the end when there is no </body>; only one is added', () => {
    const { html } = rewrite('<div>Hi</div>', { pixelUrl: 'https://t.test/o/x' })
    expect(html).toStartWith('<div>Hi</div><img src="https://t.test/o/x"')
    expect(html.match(/<img /g)).toHaveLength(1)
  })
})

test('decodeAttribute reads numeric and the basic named references', () => {
  expect(decodeAttribute('a&amp;b&lt;&gt;&quot;&apos;&#x27;&#39;&#x1F600;')).toBe(`a&b<>"''\u0027😀`)
  expect(decodeAttribute('&eacute;')).toBeNull()
  expect(decodeAttribute('&#xD800;')).toBeNull()
})
