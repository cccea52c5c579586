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

/**
 * What a link's href becomes: `raw` is the value as written (between its
 * quotes), `quote` how it was quoted. The new text for the value (quoted
 * when it was bare), or null when the link stays as it is. Shared by the
 * scan below and by templates that mark their links at compile time
 * (src/render/render.ts), so both decide alike.
 */
export function trackedHref(raw: string, quote: '"' | "'" | '', options: RewriteOptions): string | null {
  const decoded = decodeAttribute(raw)
  if (decoded === null) return null
  const target = asFollowed(decoded)
  if (!TRACKABLE.test(target) || options.keep?.has(target)) return null
  const value = escapeAttribute(options.clickUrl(target))
  return quote === '' ? `"${value}"` : value
}

/** Whether a fixed href could ever be tracked: some are never (mailto:, anchors, unknown references), whatever the keep set. */
function mayTrack(raw: string): boolean {
  const decoded = decodeAttribute(raw)
  return decoded !== null && TRACKABLE.test(asFollowed(decoded))
}

/** A browser uses the first href when there are several. */
const hrefOf = (tag: Tag) => tag.attributes.find((a) => a.name === 'href')

function linkEdit(html: string, tag: Tag, options: RewriteOptions): Edit | null {
  const href = hrefOf(tag)
  if (!href || href.valueStart === undefined || href.valueEnd === undefined) return null
  const text = trackedHref(html.slice(href.valueStart, href.valueEnd), href.quote!, options)
  return text === null ? null : { start: href.valueStart, end: href.valueEnd, text }
}

/** Where the pixel goes: before the last `</body`, or at the end when there is none. */
function pixelPosition(html: string): number {
  const at = find(html, '</body', 0, true)
  return at === -1 ? html.length : at
}

/** The open pixel's element. */
export function pixelElement(pixelUrl: string): string {
  // 1×1, no border, no line-height of its own: nothing a reader can see or a screen reader announces.
  return (
    `<img src="${escapeAttribute(pixelUrl)}" width="1" height="1" alt="" aria-hidden="true" ` +
    `style="display:block;width:1px;height:1px;max-width:1px;max-height:1px;border:0;margin:0;padding:0;overflow:hidden;opacity:0">`
  )
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

/** A stretch of markup the scan reads as one unit; see `scanMarkup`. */
interface Token {
  /** `markup`: an end tag, `<!…>` or `<?…>`; `raw`: the text of a <style>, <title>…, up to its end tag. */
  kind: 'comment' | 'markup' | 'tag' | 'raw'
  start: number
  end: number
  /** Start tags: the name (lower case) and where it ends; the attributes of an <a>. */
  name?: string
  nameEnd?: number
  tag?: Tag
}

/**
 * The one scan of the markup: calls `link` for each <a> start tag and, when
 * given, `token` for every unit it skips over (what templateLinks needs to
 * know where a template's placeholders sit).
 */
function scanMarkup(html: string, link: (tag: Tag) => void, token?: (token: Token) => void): void {
  let i = 0
  while (i < html.length) {
    const lt = html.indexOf('<', i)
    if (lt === -1) break
    const next = html.charCodeAt(lt + 1)
    if (html.startsWith('<!--', lt)) {
      // Outlook's conditional comments included: a link only Outlook shows stays untracked.
      const close = html.indexOf('-->', lt + 4)
      i = close === -1 ? html.length : close + 3
      token?.({ kind: 'comment', start: lt, end: i })
    } else if (next === 33 /* ! */ || next === 63 /* ? */ || next === 47 /* / */) {
      const close = html.indexOf('>', lt + 2)
      i = close === -1 ? html.length : close + 1
      token?.({ kind: 'markup', start: lt, end: i })
    } else if ((next >= 65 && next <= 90) || (next >= 97 && next <= 122)) {
      TAG_NAME.lastIndex = lt + 1
      const name = (TAG_NAME.exec(html)?.[0] ?? '').toLowerCase()
      const nameEnd = TAG_NAME.lastIndex
      // Reading every tag's attributes one character at a time cost more
      // than rendering the email (65 µs of ~100 per message); only links
      // need them, every other tag is skipped by one regular expression.
      if (name === 'a') {
        const tag = readStartTag(html, lt + 1)
        link(tag)
        i = tag.end
        token?.({ kind: 'tag', start: lt, end: i, name, nameEnd, tag })
      } else {
        i = skipStartTag(html, nameEnd)
        token?.({ kind: 'tag', start: lt, end: i, name, nameEnd })
      }
      if (RAW_TEXT.has(name)) {
        const close = find(html, `</${name}`, i)
        const start = i
        i = close === -1 ? html.length : close
        token?.({ kind: 'raw', start, end: i, name })
      }
    } else {
      i = lt + 1
    }
  }
}

export function rewriteHtml(html: string, options: RewriteOptions): string {
  const edits: Edit[] = []
  scanMarkup(html, (tag) => {
    const edit = linkEdit(html, tag, options)
    if (edit) edits.push(edit)
  })
  if (options.pixelUrl) {
    const at = pixelPosition(html)
    edits.push({ start: at, end: at, text: pixelElement(options.pixelUrl) })
  }
  let out = ''
  let at = 0
  for (const edit of edits.sort((a, b) => a.start - b.start)) {
    out += html.slice(at, edit.start) + edit.text
    at = edit.end
  }
  return out + html.slice(at)
}

// ---- the same rewrite, planned once for a template ----

/**
 * A placeholder of a template, by its offsets in the template's source: a
 * `value` is replaced per message by text that cannot hold < > " ' ` = or
 * & unescaped (what Handlebars' {{x}} writes); a `block` (a block helper's
 * tags, a comment) may drop, repeat or keep the markup around it.
 */
export interface Hole {
  start: number
  end: number
  kind: 'value' | 'block'
}

/** An href value of the template (quotes excluded) that the rewrite may change. */
export interface LinkSlot {
  start: number
  end: number
  quote: '"' | "'" | ''
}

export interface TemplateLinks {
  links: LinkSlot[]
  /** Where the open pixel goes. */
  pixel: number
}

/**
 * Where rewriteHtml would edit every output of a template, found once by
 * scanning the template itself with its placeholders masked; null when
 * some placeholder stands where its text could change what the scan of an
 * output finds, so only rewriting each output gives rewriteHtml's result.
 *
 * Why the masked template scans like every output: the scan only reacts to
 * `<`, `>`, quotes, whitespace and `/` (and inside an <a> tag and a tag's
 * name, to the characters of names), and to the `</body` and `</style`-like
 * closes it searches for. A value holds none of < > " ' (escaped), so it
 * can change nothing when it stands in text, in any quoted attribute value
 * or among another tag's attributes; a placeholder is refused wherever
 * whitespace or letters would matter (a tag's name, an <a> tag outside its
 * quoted values), inside comments and `<!…>`/`</…>` markup, and straight
 * after a `<` (it could complete `</body` or `</style`). Blocks are allowed
 * only between units of markup, so what they drop or repeat is whole tags
 * and text; the last `</body` must be outside every block (`topLevel`), as
 * it is then the last one of every output too.
 */
export function templateLinks(template: string, holes: readonly Hole[], topLevel: (offset: number) => boolean): TemplateLinks | null {
  const sorted = [...holes].sort((a, b) => a.start - b.start)
  let masked = ''
  let at = 0
  for (const hole of sorted) {
    if (hole.start < at || hole.end <= hole.start) return null
    const before = template.slice(at, hole.start)
    // `<`, `</b`, `<ti`: a value could finish the name of an end tag the scan searches for.
    if (/<\/?[A-Za-z]*$/.test(before)) return null
    // A letter: it extends a tag name it follows, so such a hole shows up as inside the name.
    masked += before + 'x'.repeat(hole.end - hole.start)
    at = hole.end
  }
  masked += template.slice(at)

  const tokens: Token[] = []
  const links: LinkSlot[] = []
  const holesIn = (start: number, end: number) => sorted.some((h) => h.start < end && start < h.end)
  scanMarkup(
    masked,
    (tag) => {
      const href = hrefOf(tag)
      if (!href || href.valueStart === undefined || href.valueEnd === undefined) return
      const slot = { start: href.valueStart, end: href.valueEnd, quote: href.quote! }
      // A fixed href that can never be tracked needs no slot; one with a value in it always does.
      if (holesIn(slot.start, slot.end) || mayTrack(masked.slice(slot.start, slot.end))) links.push(slot)
    },
    (token) => tokens.push(token),
  )

  let t = 0
  for (const hole of sorted) {
    while (t < tokens.length && tokens[t]!.end <= hole.start) t++
    const token = tokens[t]
    if (!token || token.start >= hole.end) continue // between units of markup
    if (hole.kind === 'block' || token.start > hole.start || token.end < hole.end) return null
    if (token.kind === 'comment' || token.kind === 'markup') return null
    if (token.kind === 'tag') {
      if (hole.start < token.nameEnd!) return null
      const inQuotedValue = (a: Attribute) => a.quote !== '' && a.valueStart! <= hole.start && hole.end <= a.valueEnd!
      if (token.tag && !token.tag.attributes.some((a) => a.valueStart !== undefined && inQuotedValue(a))) return null
    }
  }

  const pixel = pixelPosition(masked)
  if (pixel < masked.length && !topLevel(pixel)) return null
  if (links.some((slot) => slot.start <= pixel && pixel <= slot.end)) return null
  return { links, pixel }
}
