// Rewrites a rendered HTML email for tracking: each http(s) link of an <a>
// element goes through the click URL, and the open pixel goes at the end of
// the body. Pure string work on the HTML the renderer produced, so it costs
// one pass over the message and needs no DOM.
//
// The scan walks the markup tag by tag, honouring quotes, comments and raw
// text elements, so only a real <a> start tag's own href is touched: an
// "href=" inside another attribute, a comment or a <style> is left alone.

export interface RewriteOptions {
  /** The tracking URL for a link target (decoded, as a browser would follow it). */
  clickUrl(target: string): string
  /** The open pixel's URL; no pixel without one. */
  pixelUrl?: string
  /** Targets left exactly as they are (our unsubscribe and preference links). */
  keep?: ReadonlySet<string>
}

const RAW_TEXT = new Set(['script', 'style', 'title', 'textarea', 'xmp'])
const NAMED: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }
const TRACKABLE = /^https?:\/\/[^\s]/i

/** Escapes a value for a double-quoted attribute. */
export function escapeAttribute(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}

/**
 * An attribute value as a browser reads it, or null when it holds a named
 * reference outside the few we know: guessing could change where the link
 * goes, and an untracked link is the safe failure.
 */
export function decodeAttribute(raw: string): string | null {
  let unknown = false
  const decoded = raw.replace(/&(#[xX][0-9a-fA-F]+|#[0-9]+|[A-Za-z][A-Za-z0-9]*);/g, (whole, ref: string) => {
    if (ref[0] === '#') {
      const code = ref[1] === 'x' || ref[1] === 'X' ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10)
      if (!Number.isFinite(code) || code <= 0 || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
        unknown = true
        return whole
      }
      return String.fromCodePoint(code)
    }
    const known = NAMED[ref]
    if (known === undefined) unknown = true
    return known ?? whole
  })
  return unknown ? null : decoded
}

/** Browsers drop surrounding whitespace and any tab or line break inside a URL before following it. */
function asFollowed(url: string): string {
  return url.replace(/^[\u0000-\u0020]+|[\u0000-\u0020]+$/g, '').replace(/[\t\n\r]/g, '')
}

interface Attribute {
  name: string
  /** Offsets of the value in the HTML, quotes excluded; absent for a bare attribute. */
  valueStart?: number
  valueEnd?: number
  quote?: '"' | "'" | ''
}

interface Tag {
  name: string
  attributes: Attribute[]
  /** Offset just after the closing `>` (or the end of the input). */
  end: number
}

/** Case-insensitive search; lowercasing the whole string could change its length (İ) and so every offset. */
function find(html: string, needle: string, from: number, last = false): number {
  const pattern = searchPattern(needle)
  pattern.lastIndex = from
  let found = -1
  for (let match = pattern.exec(html); match; match = pattern.exec(html)) {
    found = match.index
    if (!last) break
  }
  return found
}

const patterns = new Map<string, RegExp>()
/** One compiled pattern per needle: the needles are a handful of closing tags. */
function searchPattern(needle: string): RegExp {
  let pattern = patterns.get(needle)
  if (!pattern) patterns.set(needle, (pattern = new RegExp(needle.replace(/[/]/g, '\\/'), 'gi')))
  return pattern
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f'

/** Reads the start tag whose name begins at `i` (just after `<`). */
function readStartTag(html: string, i: number): Tag {
  let p = i
  while (p < html.length && !isSpace(html[p]) && html[p] !== '>' && html[p] !== '/') p++
  const name = html.slice(i, p).toLowerCase()
  const attributes: Attribute[] = []
  while (p < html.length) {
    while (p < html.length && (isSpace(html[p]) || html[p] === '/')) p++
    if (p >= html.length) break
    if (html[p] === '>') return { name, attributes, end: p + 1 }
    const nameStart = p
    p++ // a first character of `=` is part of the name
    while (p < html.length && !isSpace(html[p]) && html[p] !== '>' && html[p] !== '/' && html[p] !== '=') p++
    const attribute: Attribute = { name: html.slice(nameStart, p).toLowerCase() }
    let q = p
    while (q < html.length && isSpace(html[q])) q++
    if (html[q] === '=') {
      q++
      while (q < html.length && isSpace(html[q])) q++
      const quote = html[q]
      if (quote === '"' || quote === "'") {
        const close = html.indexOf(quote, q + 1)
        const valueEnd = close === -1 ? html.length : close
        Object.assign(attribute, { valueStart: q + 1, valueEnd, quote })
        p = close === -1 ? html.length : close + 1
      } else {
        let e = q
        while (e < html.length && !isSpace(html[e]) && html[e] !== '>') e++
        Object.assign(attribute, { valueStart: q, valueEnd: e, quote: '' })
        p = e
      }
    }
    attributes.push(attribute)
  }
  return { name, attributes, end: html.length }
}

interface Edit {
  start: number
  end: number
  text: string
}

function linkEdit(html: string, tag: Tag, options: RewriteOptions): Edit | null {
  // A browser uses the first href when there are several.
  const href = tag.attributes.find((a) => a.name === 'href')
  if (!href || href.valueStart === undefined || href.valueEnd === undefined) return null
  const decoded = decodeAttribute(html.slice(href.valueStart, href.valueEnd))
  if (decoded === null) return null
  const target = asFollowed(decoded)
  if (!TRACKABLE.test(target) || options.keep?.has(target)) return null
  const value = escapeAttribute(options.clickUrl(target))
  return href.quote === ''
    ? { start: href.valueStart, end: href.valueEnd, text: `"${value}"` }
    : { start: href.valueStart, end: href.valueEnd, text: value }
}

/** Where the pixel goes: before the last `</body>`, or at the end when there is none. */
function pixelEdit(html: string, pixelUrl: string): Edit {
  const at = find(html, '</body', 0, true)
  const position = at === -1 ? html.length : at
  // 1×1, no border, no line-height of its own: nothing a reader can see or a screen reader announces.
  const text =
    `<img src="${escapeAttribute(pixelUrl)}" width="1" height="1" alt="" aria-hidden="true" ` +
    `style="display:block;width:1px;height:1px;max-width:1px;max-height:1px;border:0;margin:0;padding:0;overflow:hidden;opacity:0">`
  return { start: position, end: position, text }
}

// A start tag's name, and the rest of a start tag up to its `>` with quoted
// values skipped whole. Sticky, so each runs from where the scan stands.
const TAG_NAME = /[^\s>/]*/y
const TAG_REST = /(?:[^>"']+|"[^"]*"|'[^']*')*>?/y

/** Offset just after the start tag whose name ends at `from`: only <a> tags need their attributes read. */
function skipStartTag(html: string, from: number): number {
  TAG_REST.lastIndex = from
  TAG_REST.exec(html)
  return TAG_REST.lastIndex || html.length
}

export function rewriteHtml(html: string, options: RewriteOptions): string {
  const edits: Edit[] = []
  let i = 0
  while (i < html.length) {
    const lt = html.indexOf('<', i)
    if (lt === -1) break
    const next = html.charCodeAt(lt + 1)
    if (html.startsWith('<!--', lt)) {
      // Outlook's conditional comments included: a link only Outlook shows stays untracked.
      const close = html.indexOf('-->', lt + 4)
      i = close === -1 ? html.length : close + 3
    } else if (next === 33 /* ! */ || next === 63 /* ? */ || next === 47 /* / */) {
      const close = html.indexOf('>', lt + 2)
      i = close === -1 ? html.length : close + 1
    } else if ((next >= 65 && next <= 90) || (next >= 97 && next <= 122)) {
      TAG_NAME.lastIndex = lt + 1
      const name = (TAG_NAME.exec(html)?.[0] ?? '').toLowerCase()
      // Reading every tag's attributes one character at a time cost more
      // than rendering the email (65 µs of ~100 per message); only links
      // need them, every other tag is skipped by one regular expression.
      if (name === 'a') {
        const tag = readStartTag(html, lt + 1)
        const edit = linkEdit(html, tag, options)
        if (edit) edits.push(edit)
        i = tag.end
      } else {
        i = skipStartTag(html, TAG_NAME.lastIndex)
      }
      if (RAW_TEXT.has(name)) {
        const close = find(html, `</${name}`, i)
        i = close === -1 ? html.length : close
      }
    } else {
      i = lt + 1
    }
  }
  if (options.pixelUrl) edits.push(pixelEdit(html, options.pixelUrl))
  let out = ''
  let at = 0
  for (const edit of edits.sort((a, b) => a.start - b.start)) {
    out += html.slice(at, edit.start) + edit.text
    at = edit.end
  }
  return out + html.slice(at)
}
