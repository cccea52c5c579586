// One message's subject, HTML and text from a template that `templates.ts`
// compiled at load. Nothing here touches MJML or the file system: a render
// is four calls of compiled Handlebars functions, so it stays cheap at
// thousands of messages a second.

import Handlebars from 'handlebars'
import type { Config } from '../config.ts'
import { pixelElement, rewriteHtml, templateLinks, trackedHref, type Hole, type RewriteOptions } from '../tracking/rewrite.ts'
import { BLOCK_HELPERS, messageFormat, type HandlebarsInstance } from './helpers.ts'

/** What the renderer adds to every message; not stored per message. */
export interface RenderContext {
  /** Display name, e.g. from MAIL_FROM. */
  siteName: string
  /** PUBLIC_URL. */
  siteUrl: string
  /** ORG_POSTAL_ADDRESS; the footer shows it when set. */
  postalAddress?: string
  /** Per-recipient footer links; each is shown only when present. */
  links?: { preferences?: string; unsubscribe?: string }
}

export interface RenderedEmail {
  subject: string
  html: string
  text: string
  /** The locale of the template used (`fr` for an `fr-CA` reader when only `fr` exists): a Content-Language header. */
  locale: string
  /** The experiment this email took part in, and its variant: recorded on the message for the results. */
  experiment?: { id: string; variant: string }
}

export interface RenderOptions {
  /** The reader's BCP 47 locale; the template falls back `fr-CA → fr → en`. */
  locale: string
  /** The reader's IANA zone; without one, times are in UTC and say so. */
  timeZone?: string | null
  /** The notification's variables as the LMS sent them (snake_case). */
  variables: Record<string, unknown>
  context: RenderContext
  /** The send time that relative phrases count from; now by default. */
  now?: Date
  /** Picks the variant when the template runs an experiment (see TemplateStore.render). */
  variantFor?: (experiment: TemplateExperiment) => string
  /**
   * Set when the message is tracked (src/tracking/apply.ts, trackingFor):
   * the HTML comes out exactly as rewriteHtml would make it of the untracked
   * HTML, with tracked links and the open pixel.
   */
  tracking?: RewriteOptions
}

/** An A/B test a template declares in its front matter. */
export interface TemplateExperiment {
  id: string
  variants: readonly { name: string; weight: number }[]
  /** Subjects of the variants other than the first, which uses the template's own. */
  subjects: Readonly<Record<string, Template>>
  /** What decides the winner: human opens or clicks per send. */
  metric: 'opens' | 'clicks'
  autoPromote: boolean
}

type Template = HandlebarsTemplateDelegate<Record<string, unknown>>

/** A template after load: everything compiled, one per (notification, locale). */
export interface CompiledTemplate {
  notification: string
  locale: string
  category: string
  /** Plain text: compiled with `noEscape`, so `R&D <intro>` stays as it is. */
  subject: Template
  preheader?: Template
  /** MJML already turned into HTML; Handlebars escapes every `{{value}}`. */
  html: Template
  /**
   * `html` with its links and pixel marked for tracking (markTracking); absent
   * when a placeholder stands where only rewriting each output is sure to be
   * right, and tracked messages then go through rewriteHtml.
   */
  trackedHtml?: Template
  /** Plain text, `noEscape` like the subject. */
  text: Template
  experiment?: TemplateExperiment
}

/** "Belfry <no-reply@example.com>" → "Belfry"; a bare address → "Belfry". */
export function siteNameFromMailbox(mailFrom: string): string {
  const match = /^\s*"?([^"<]*?)"?\s*</.exec(mailFrom)
  return match?.[1]?.trim() || 'Belfry'
}

/** The context every message shares, from the process config; links are per recipient. */
export function contextFromConfig(
  config: Pick<Config, 'mailFrom' | 'publicUrl' | 'orgPostalAddress'>,
  links?: RenderContext['links'],
): RenderContext {
  return {
    siteName: siteNameFromMailbox(config.mailFrom),
    siteUrl: config.publicUrl,
    ...(config.orgPostalAddress ? { postalAddress: config.orgPostalAddress } : {}),
    ...(links ? { links } : {}),
  }
}

// A subject is one header line: a newline in a course title must not end it.
const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim()

// Handlebars leaves the blank lines of false {{#if}} blocks and of optional
// values; readers should not see holes or trailing spaces.
const tidyText = (text: string) =>
  text
    .replace(/[ \t]+$/gm, '')
    .replace(/\n{3,}/g, '\n\n')
    .trim() + '\n'

export function renderTemplate(template: CompiledTemplate, options: RenderOptions): RenderedEmail {
  const { context } = options
  const experiment = template.experiment
  const variant = experiment ? (options.variantFor?.(experiment) ?? experiment.variants[0]!.name) : undefined
  // `{{#variant "b"}}` blocks read the variant from @data, like the formatting settings.
  // `track` is read by the tracking marks of `trackedHtml`.
  const track = options.tracking
  const data = { format: messageFormat(options.locale, template.locale, options.timeZone, options.now ?? new Date()), variant, track }
  // The renderer's own keys win over a variable of the same name: the footer
  // and site links are ours to vouch for, not the LMS's.
  const view: Record<string, unknown> = {
    ...options.variables,
    site: { name: context.siteName, url: context.siteUrl },
    footer: { postalAddress: context.postalAddress },
    links: { preferences: context.links?.preferences, unsubscribe: context.links?.unsubscribe },
  }
  const subject = oneLine((experiment && variant ? (experiment.subjects[variant] ?? template.subject) : template.subject)(view, { data }))
  const preheader = template.preheader ? oneLine(template.preheader(view, { data })) : ''
  // Subject and preheader are rendered once, as text, and handed to the
  // HTML as values, so the HTML escapes them like any other.
  view.email = { subject, preheader }
  return {
    subject,
    html: !track ? template.html(view, { data }) : template.trackedHtml ? template.trackedHtml(view, { data }) : rewriteHtml(template.html(view, { data }), track),
    text: tidyText(template.text(view, { data })),
    locale: template.locale,
    ...(experiment && variant ? { experiment: { id: experiment.id, variant } } : {}),
  }
}

// ---- tracking planned when the template is compiled ----
//
// Tracking rewrote every tracked email after it was rendered: a scan of the
// whole ~12 KB of HTML for its <a> tags, 87 µs of the ~450 µs of worker CPU
// a message cost (bench/LIMITS.md). The tags of every output are those of
// the compiled template, as Handlebars escapes each value (and templates.ts
// refuses {{{x}}} in HTML; no helper returns a SafeString), so the same scan
// runs once over the template, and its links and the pixel's place are
// marked with helpers that do, per message, only what is left: decide each
// link's rendered href (trackedHref, the rewrite's own rule) and write the
// pixel. test/render/tracked.test.ts proves the output byte-identical to
// rewriteHtml's for every template and locale.
//
// Measured on the bench's email (course_completed, tracked): render and
// tracking take 0.48–0.57× the CPU of rendering then rewriteHtml (e.g. 37
// vs 66 µs; medians of 10 interleaved rounds in one process, `bun
// bench/ab.ts`); in the bench's stage rows tracking adds 15–30 µs to a
// render where the rewrite took 43–59 µs. Most of what is left is signing
// the click tokens (HMAC, ~2.5 µs a link).

/** Helper names a template cannot be using (checked), on an instance of their own, so templates can never call them. */
const TRACK_LINK = '$track-link'
const TRACK_PIXEL = '$track-pixel'

type Position = { line: number; column: number }
interface AstNode {
  type: string
  loc: { start: Position; end: Position }
  original?: unknown
  value?: unknown
  escaped?: boolean
  strip?: { open?: boolean; close?: boolean }
  openStrip?: { open?: boolean; close?: boolean }
  inverseStrip?: { open?: boolean; close?: boolean }
  closeStrip?: { open?: boolean; close?: boolean }
  program?: { body: AstNode[] }
  inverse?: { body: AstNode[] }
  path?: { original?: unknown }
}


interface Parsed {
  /** The template's own text, as offsets of the source; `top` when outside every block. */
  contents: { start: number; end: number; top: boolean }[]
  /** Everything else: Handlebars' statements, by where they start and end. */
  statements: { start: number; end: number; value: boolean }[]
  /** Characters of text Handlebars drops around standalone block tags. */
  stripped: number
}

/** Offsets of the source's lines, counted as Handlebars' lexer counts them (\r\n, \r or \n). */
function lineStarts(source: string): number[] {
  const starts = [0]
  const breaks = /\r\n?|\n/g
  for (let m = breaks.exec(source); m; m = breaks.exec(source)) starts.push(m.index + m[0].length)
  return starts
}

/** The source's text and statements by offset, or null for anything unexpected (strip marks `~`, text that is not the source's). */
function parseSource(hb: HandlebarsInstance, source: string): Parsed | null {
  let ast: { body: AstNode[] }
  try {
    ast = hb.parse(source) as unknown as { body: AstNode[] }
  } catch {
    return null
  }
  const starts = lineStarts(source)
  const offset = (p: Position) => starts[p.line - 1]! + p.column
  const parsed: Parsed = { contents: [], statements: [], stripped: 0 }
  const stripsSomething = (flags?: { open?: boolean; close?: boolean }) => !!(flags?.open || flags?.close)
  const walk = (body: AstNode[], top: boolean): boolean =>
    body.every((node) => {
      const start = offset(node.loc.start)
      if (node.type === 'ContentStatement') {
        const original = String(node.original)
        if (source.slice(start, start + original.length) !== original) return false
        parsed.contents.push({ start, end: start + original.length, top })
        parsed.stripped += original.length - String(node.value).length
        return true
      }
      if ([node.strip, node.openStrip, node.inverseStrip, node.closeStrip].some(stripsSomething)) return false
      // {{{x}}} (refused in HTML anyway), partials and decorators could write markup of their own.
      if (node.type === 'MustacheStatement' ? node.escaped !== true : node.type !== 'BlockStatement' && node.type !== 'CommentStatement') return false
      if (node.type === 'BlockStatement') {
        // A block helper's result is written as it is: only those known to
        // write nothing but their own blocks may stand around markup. A name
        // that is no helper is a section of the message's data (JSON, so no
        // functions), which Handlebars shows like {{#if}} or {{#each}}.
        const name = node.path?.original
        if (typeof name !== 'string' || (name in hb.helpers && !BLOCK_HELPERS.has(name))) return false
      }
      const value = node.type === 'MustacheStatement'
      parsed.statements.push({ start, end: offset(node.loc.end), value })
      return walk(node.program?.body ?? [], false) && walk(node.inverse?.body ?? [], false)
    })
  return walk(ast.body, true) ? parsed : null
}

/**
 * The compiled HTML's source with each link that tracking may change
 * wrapped in `{{#$track-link}}` and the open pixel's place marked, or null
 * when the template must be tracked by rewriting each output instead
 * (templateLinks says where that is).
 */
export function markTracking(hb: HandlebarsInstance, source: string): string | null {
  if (source.includes(TRACK_LINK) || source.includes(TRACK_PIXEL)) return null
  const parsed = parseSource(hb, source)
  if (!parsed) return null
  // The placeholders are the stretches between the template's own text.
  const holes: Hole[] = []
  let at = 0
  parsed.contents.sort((a, b) => a.start - b.start)
  for (const text of [...parsed.contents, { start: source.length, end: source.length, top: true }]) {
    if (text.start < at) return null
    if (text.start > at) {
      const inside = parsed.statements.filter((s) => s.start >= at && s.start < text.start)
      const value = inside.length === 1 && inside[0]!.value && inside[0]!.start === at && inside[0]!.end === text.start
      holes.push({ start: at, end: text.start, kind: value ? 'value' : 'block' })
    }
    at = text.end
  }
  const topLevel = (offset: number) => parsed.contents.some((c) => c.top && c.start <= offset && offset < c.end)
  const plan = templateLinks(source, holes, topLevel)
  if (!plan) return null

  const marks = [
    ...plan.links.flatMap((slot) => [
      { at: slot.start, text: `{{#${TRACK_LINK} "${slot.quote === '' ? 'bare' : 'quoted'}"}}` },
      { at: slot.end, text: `{{/${TRACK_LINK}}}` },
    ]),
    { at: plan.pixel, text: `{{${TRACK_PIXEL}}}` },
  ].sort((a, b) => a.at - b.at)
  let marked = ''
  let from = 0
  for (const mark of marks) {
    marked += source.slice(from, mark.at) + mark.text
    from = mark.at
  }
  marked += source.slice(from)
  // The marks must not change which whitespace Handlebars drops around standalone block tags.
  const check = parseSource(hb, marked)
  return check && check.stripped === parsed.stripped ? marked : null
}

const trackingInstances = new WeakMap<HandlebarsInstance, HandlebarsInstance>()

/** `hb`'s helpers and the two marks', on an instance of their own: templates compiled with `hb` cannot call the marks. */
function trackingHandlebars(hb: HandlebarsInstance): HandlebarsInstance {
  let instance = trackingInstances.get(hb)
  if (!instance) {
    instance = Handlebars.create()
    instance.registerHelper(TRACK_LINK, function (this: unknown, quote: string, options: Handlebars.HelperOptions) {
      const href = options.fn(this)
      const track = (options.data as { track?: RewriteOptions } | undefined)?.track
      return track ? (trackedHref(href, quote === 'bare' ? '' : '"', track) ?? href) : href
    })
    instance.registerHelper(TRACK_PIXEL, (options: Handlebars.HelperOptions) => {
      const pixelUrl = (options.data as { track?: RewriteOptions } | undefined)?.track?.pixelUrl
      return pixelUrl ? new Handlebars.SafeString(pixelElement(pixelUrl)) : ''
    })
    trackingInstances.set(hb, instance)
  }
  // As `hb` has them now; a compiled template looks its helpers up at each call.
  for (const [name, helper] of Object.entries(hb.helpers)) if (name !== TRACK_LINK && name !== TRACK_PIXEL) instance.helpers[name] = helper
  return instance
}

/** `{ trackedHtml }` for a compiled template's HTML source, or nothing when tracked messages must be rewritten after rendering. */
export function compileTracked(hb: HandlebarsInstance, html: string): { trackedHtml?: Template } {
  const marked = markTracking(hb, html)
  if (marked === null) return {}
  try {
    const trackedHtml = trackingHandlebars(hb).compile<Record<string, unknown>>(marked, { noEscape: false })
    trackedHtml({}, { data: {} })
    return { trackedHtml }
  } catch {
    return {}
  }
}
