// Email templates from files: read, composed with the shared layout and
// partials, compiled once, kept. See templates/README.md for the file format.
//
// Two kinds of placeholder, resolved at two times:
//   [[name]] and <partial name="..."/>  at load, by this file, before MJML;
//   {{value}}                           per message, by Handlebars, after MJML.
// MJML 5 is async and slow (measured: about 9 ms per template, warm; the 11
// templates load in about 200 ms), so it runs once per (notification,
// locale) at load. Its HTML is compiled by Handlebars once, and a message
// costs only Handlebars calls (render.ts: about 90 µs a message).

import { readdir, readFile } from 'node:fs/promises'
import { join, relative, resolve } from 'node:path'
import mjml2html from 'mjml'
import type { MJMLParseError, MJMLParsingOptions } from 'mjml-core'
import { BLOCK_HELPERS, canonicalLocale, createHandlebars, directionOf, type HandlebarsInstance } from './helpers.ts'
import { parseVariants } from '../experiments/assign.ts'
import { brandFillIns, DEFAULT_BRAND, type Brand } from './brand.ts'
import { compileTracked, renderTemplate, type CompiledTemplate, type RenderedEmail, type RenderOptions, type TemplateExperiment } from './render.ts'

/** DESIGN.md's categories, plus `digest` for the digest email itself; a template names one in its front matter. */
export const CATEGORIES = ['account', 'enrollment', 'progress', 'reminders', 'discussions', 'announcements', 'admin', 'digest'] as const
export type Category = (typeof CATEGORIES)[number]

/** Front matter keys a template may set; anything else is a typo we would rather hear about. */
const FRONT_MATTER_KEYS = ['subject', 'category', 'preheader', 'variants', 'experiment', 'metric', 'auto_promote', 'secret'] as const

/** `reset.url`, `session.join_url`: a dotted path into a message's variables. */
const SECRET_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/

/** The `secret:` front matter of a file, as a list of paths (commas or spaces between them). */
function secretPaths(file: SourceFile): string[] {
  return (file.frontMatter.secret ?? '').split(/[\s,]+/).filter(Boolean)
}

/** The front matter keys of an A/B test, which an admin edits as lines of their own. */
const EXPERIMENT_KEYS: readonly string[] = ['variants', 'experiment', 'metric', 'auto_promote']

/** `subject.b`: the subject of variant `b` of the template's experiment (`subject` is the first variant's). */
const VARIANT_SUBJECT = /^subject\.([a-z][a-z0-9_-]{0,19})$/

/** A template that cannot be used; the message starts with the file's path. */
export class TemplateError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file}: ${detail}`)
    this.name = 'TemplateError'
  }
}

/** The MJML compiler; tests pass a wrapper around the real one to count calls. */
export type MjmlCompiler = (mjml: string, options: MJMLParsingOptions) => Promise<{ html: string; errors: MJMLParseError[] }>

export interface LoadOptions {
  /** The locale every notification must have and every lookup ends at. */
  fallbackLocale?: string
  compileMjml?: MjmlCompiler
  /** Colours, fonts and logo the layouts are filled with; the defaults otherwise. */
  brand?: Brand
}

/** The text part follows the MJML in the same file, after a line that is exactly this. */
const TEXT_SEPARATOR = /^--- text ---[ \t]*$/m

interface SourceFile {
  /** Path shown in errors, relative to the templates' parent folder. */
  name: string
  /** Absolute path, for MJML. */
  path: string
  frontMatter: Record<string, string>
  mjml: string
  /** 1-based line of the file where the MJML part starts, for error positions. */
  mjmlLine: number
  text: string
}

function lineCount(text: string): number {
  let lines = 0
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) lines++
  return lines
}

function unquote(value: string): string {
  const quoted = /^"(.*)"$/.exec(value) ?? /^'(.*)'$/.exec(value)
  return quoted ? quoted[1]!.replace(/\\(["'\\])/g, '$1') : value
}

/**
 * `key: value` lines (blank lines and `#` comments skipped), keys among
 * `allowed` or `subject.<variant>`, each at most once. `firstLine` numbers
 * the lines in errors.
 */
function frontMatterLines(name: string, text: string, firstLine: number, allowed: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {}
  text.split('\n').forEach((line, index) => {
    if (/^\s*(#.*)?$/.test(line)) return
    const pair = /^([A-Za-z_][\w.-]*)\s*:\s*(.*?)\s*$/.exec(line)
    if (!pair) throw new TemplateError(name, `front matter line ${index + firstLine} is not "key: value": ${line}`)
    const key = pair[1]!
    if (!allowed.includes(key) && !VARIANT_SUBJECT.test(key)) {
      throw new TemplateError(name, `unknown front matter key "${key}" (known: ${allowed.join(', ')}, subject.<variant>)`)
    }
    if (key in found) throw new TemplateError(name, `front matter key "${key}" is set twice`)
    found[key] = unquote(pair[2]!)
  })
  return found
}

/** An admin's A/B test lines as front matter; only the experiment's own keys may appear. */
function experimentLines(name: string, text: string | null): Record<string, string> {
  if (!text?.trim()) return {}
  try {
    return frontMatterLines(name, text.replace(/\r\n?/g, '\n'), 1, EXPERIMENT_KEYS)
  } catch (error) {
    throw new TemplateError(name, `A/B test: ${(error as TemplateError).message.slice(name.length + 2).replace('front matter ', '')}`)
  }
}

/**
 * Front matter between `---` lines, then MJML, then `--- text ---` and the
 * plain-text part. Front matter is plain `key: value` lines (values may be
 * quoted), not YAML: subjects are one line, and a YAML library would be a
 * dependency for three keys.
 */
function parseTemplateFile(name: string, path: string, source: string, withFrontMatter: boolean): SourceFile {
  const content = source.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n')
  const frontMatter: Record<string, string> = {}
  let rest = content
  let offset = 1
  if (withFrontMatter) {
    const match = /^---\n([\s\S]*?)\n---\n/.exec(content)
    if (!match) throw new TemplateError(name, 'must start with front matter between two "---" lines')
    Object.assign(frontMatter, frontMatterLines(name, match[1]!, 2, FRONT_MATTER_KEYS))
    rest = content.slice(match[0].length)
    offset += lineCount(match[0])
  }
  const parts = rest.split(TEXT_SEPARATOR)
  if (parts.length !== 2) {
    throw new TemplateError(name, `needs exactly one "--- text ---" line between the MJML and the text part (found ${parts.length - 1})`)
  }
  return { name, path, frontMatter, mjml: parts[0]!, mjmlLine: offset, text: parts[1]!.replace(/^\n/, '') }
}

// ---- composition: layout + partials + body, as MJML source ----

const PARTIAL_TAG = /<partial\b([^>]*?)(?:\/>|>([\s\S]*?)<\/partial>)/g
const ATTRIBUTE = /\s*([A-Za-z_][\w-]*)\s*=\s*"([^"]*)"/y
const PARAMETER = /\[\[\s*([A-Za-z_][\w-]*)\s*\]\]/g

function fill(file: string, source: string, params: Record<string, string>): string {
  return source.replace(PARAMETER, (_, key: string) => {
    const value = params[key]
    if (value === undefined) throw new TemplateError(file, `[[${key}]] has no value: pass ${key}="..." (or content) where it is used`)
    return value
  })
}

function parseAttributes(file: string, raw: string): Record<string, string> {
  const attributes: Record<string, string> = {}
  let end = 0
  let match: RegExpExecArray | null
  ATTRIBUTE.lastIndex = 0
  while ((match = ATTRIBUTE.exec(raw))) {
    attributes[match[1]!] = match[2]!
    end = ATTRIBUTE.lastIndex
  }
  if (raw.slice(end).trim() !== '') throw new TemplateError(file, `cannot read <partial${raw}>: attributes must be name="value"`)
  return attributes
}

/**
 * Replaces each `<partial name="x" a="…">content</partial>` by
 * `_partials/x.mjml` with its `[[a]]` and `[[content]]` filled in. The
 * expansion is put on one line and followed by as many line breaks as the
 * tag spanned, so MJML's line numbers still point into the file being
 * composed.
 */
function expandPartials(file: string, source: string, partials: ReadonlyMap<string, string>, fills: Readonly<Record<string, string>>, depth = 0): string {
  if (depth > 5) throw new TemplateError(file, 'partials include each other more than 5 deep (a loop?)')
  return source.replace(PARTIAL_TAG, (tag, rawAttributes: string, content: string | undefined) => {
    const { name, ...params } = parseAttributes(file, rawAttributes)
    if (!name) throw new TemplateError(file, `${tag.split('\n')[0]} has no name="..."`)
    const partial = partials.get(name)
    if (partial === undefined) throw new TemplateError(file, `no partial "${name}" (templates/_partials/${name}.mjml)`)
    const partialFile = `_partials/${name}.mjml`
    const body = fill(partialFile, expandPartials(partialFile, partial, partials, fills, depth + 1), {
      ...fills,
      ...params,
      ...(content !== undefined ? { content: content.trim() } : {}),
    })
    return body.replace(/\s*\n\s*/g, ' ').trim() + '\n'.repeat(lineCount(tag))
  })
}

interface Composed {
  mjml: string
  /** Maps a line of `mjml` back to a file and line, for MJML's error messages. */
  where(line: number): string
}

function compose(
  layout: SourceFile,
  template: SourceFile,
  lang: string,
  partials: ReadonlyMap<string, string>,
  fills: Readonly<Record<string, string>>,
): Composed {
  const body = expandPartials(template.name, template.mjml, partials, fills)
  const layoutMjml = expandPartials(layout.name, layout.mjml, partials, fills)
  const at = layoutMjml.search(/\[\[\s*body\s*\]\]/)
  if (at === -1) throw new TemplateError(layout.name, 'has no [[body]] for the template to go in')
  const before = layoutMjml.slice(0, at)
  const mjml = fill(layout.name, layoutMjml, { ...fills, body, lang, dir: directionOf(lang) })
  const bodyStart = lineCount(before) + 1
  const bodyLines = lineCount(body)
  return {
    mjml,
    where(line) {
      if (line < bodyStart) return `${layout.name} line ${line + layout.mjmlLine - 1}`
      if (line <= bodyStart + bodyLines) return `${template.name} line ${line - bodyStart + template.mjmlLine}`
      return `${layout.name} line ${line - bodyLines + layout.mjmlLine - 1}`
    },
  }
}

// ---- checks on Handlebars source ----

type AstNode = { type?: string; path?: { original?: unknown }; params?: unknown[]; hash?: unknown; escaped?: boolean; loc?: { start: { line: number } } }

/**
 * Every helper a template calls must exist, and runtime partials (`{{> x}}`)
 * are not used: composition happens at load with <partial>. Handlebars
 * would only notice either on the first message. In HTML, `{{{x}}}` and
 * `{{& x}}` are refused: they would put the LMS's data into the email as
 * markup.
 */
function checkHandlebars(hb: HandlebarsInstance, file: string, where: string, source: string, html = false): void {
  let ast: unknown
  try {
    ast = hb.parse(source)
  } catch (error) {
    throw new TemplateError(file, `Handlebars syntax error in ${where}: ${(error as Error).message}`)
  }
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit)
    if (!node || typeof node !== 'object') return
    const n = node as AstNode
    if (n.type === 'PartialStatement' || n.type === 'PartialBlockStatement') {
      throw new TemplateError(file, `${where} line ${n.loc?.start.line}: {{> partial}} is not supported; use <partial name="..."/> in the MJML`)
    }
    if (html && n.type === 'MustacheStatement' && n.escaped === false) {
      throw new TemplateError(file, `${where} line ${n.loc?.start.line}: {{{…}}} / {{& …}} output unescaped HTML; use {{…}}`)
    }
    if (html && n.type === 'BlockStatement' && typeof n.path?.original === 'string' && n.path.original in hb.helpers && !BLOCK_HELPERS.has(n.path.original)) {
      throw new TemplateError(file, `${where} line ${n.loc?.start.line}: {{#${n.path.original}}} as a block writes its value unescaped; use {{#if}}, {{#each}}, {{#unless}}, {{#with}} or {{#variant}}`)
    }
    const callsHelper = n.type === 'SubExpression' || ((n.type === 'MustacheStatement' || n.type === 'BlockStatement') && ((n.params?.length ?? 0) > 0 || !!n.hash))
    const name = n.path?.original
    if (callsHelper && typeof name === 'string' && !(name in hb.helpers)) {
      throw new TemplateError(file, `${where} line ${n.loc?.start.line}: unknown helper "${name}" (known: ${Object.keys(hb.helpers).sort().join(', ')})`)
    }
    for (const [key, value] of Object.entries(n)) if (key !== 'loc' && key !== 'path') visit(value)
  }
  visit(ast)
}

const MUSTACHE = /\{\{[\s\S]*?\}\}/g
const BLOCK_TAG = /\{\{~?\s*(?:[#^/]|else\b)[\s\S]*?\}\}/g

/**
 * MJML must hand every Handlebars expression through untouched: a block
 * tag it dropped or moved (one written between MJML elements instead of
 * inside mj-text or mj-raw) would change which parts of the email show.
 */
function checkSurvived(file: string, source: string, html: string): void {
  const blocks = (s: string) => (s.match(BLOCK_TAG) ?? []).map((t) => t.replace(/\s+/g, ' '))
  const before = blocks(source)
  const after = blocks(html)
  if (before.join('\n') !== after.join('\n')) {
    throw new TemplateError(
      file,
      `MJML changed the Handlebars block tags (put {{#if}}/{{/if}} inside <mj-text> or <mj-raw>): expected ${before.join(' ')}; got ${after.join(' ')}`,
    )
  }
  const output = new Set((html.match(MUSTACHE) ?? []).map((t) => t.replace(/\s+/g, ' ')))
  const lost = (source.match(MUSTACHE) ?? []).map((t) => t.replace(/\s+/g, ' ')).filter((t) => !output.has(t))
  if (lost.length > 0) throw new TemplateError(file, `MJML dropped or altered ${lost.join(', ')} (Handlebars in an attribute MJML rewrites?)`)
}

// ---- loading ----

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort()
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw error
  }
}

/** `fr-CA.mjml` → `fr-CA`; the name must be a canonical BCP 47 tag so lookups can match it exactly. */
function localeOfFile(file: string, entry: string): string {
  const tag = entry.slice(0, -'.mjml'.length)
  const canonical = canonicalLocale(tag)
  if (canonical !== tag) {
    throw new TemplateError(file, canonical ? `name the file ${canonical}.mjml (canonical BCP 47)` : `"${tag}" is not a BCP 47 locale`)
  }
  return tag
}

/** Reads `<folder>/<locale>.mjml` files: locale → parsed file. */
async function readLocales(root: string, folder: string, withFrontMatter: boolean): Promise<Map<string, SourceFile>> {
  const files = new Map<string, SourceFile>()
  for (const entry of await listDir(join(root, folder))) {
    if (!entry.endsWith('.mjml')) continue
    const path = resolve(root, folder, entry)
    const name = relative(resolve(root, '..'), path)
    const locale = localeOfFile(name, entry)
    files.set(locale, parseTemplateFile(name, path, await readFile(path, 'utf8'), withFrontMatter))
  }
  return files
}

/** `fr-CA` → [`fr-CA`, `fr`, `en`]; `zh-Hant-TW` → [`zh-Hant-TW`, `zh-Hant`, `zh`, `en`]. */
export function localeChain(requested: string | null | undefined, fallback: string): string[] {
  const chain: string[] = []
  const parts = (canonicalLocale(requested) ?? fallback).split('-')
  for (let n = parts.length; n > 0; n--) chain.push(parts.slice(0, n).join('-'))
  if (!chain.includes(fallback)) chain.push(fallback)
  return chain
}

function pick<T>(byLocale: ReadonlyMap<string, T>, requested: string | null | undefined, fallback: string): T | undefined {
  for (const locale of localeChain(requested, fallback)) {
    const found = byLocale.get(locale)
    if (found !== undefined) return found
  }
  return undefined
}

/** An admin's edit of one (notification, locale), as the database keeps it: the file's parts, stored apart. */
export interface TemplateSource {
  subject: string
  preheader: string | null
  /**
   * The A/B test, as the front matter lines that declare it in a file
   * (`variants: a:50, b:50`, `subject.b: "…"`, `metric: clicks`, …); null for none.
   */
  experiment: string | null
  /** The MJML of the email's card, as in a file between the front matter and `--- text ---`. */
  mjml: string
  /** The plain-text part, as after `--- text ---`. */
  text: string
}

/** A stored version of a template (see src/render/versions.ts). */
export interface StoredVersion extends TemplateSource {
  id: string
  notification: string
  locale: string
  version: number
  /** This version hands the template back to its file. */
  revertedToDefault: boolean
}

interface Compiler {
  hb: HandlebarsInstance
  compileMjml: MjmlCompiler
  layouts: ReadonlyMap<string, SourceFile>
  partials: ReadonlyMap<string, string>
  sources: ReadonlyMap<string, ReadonlyMap<string, SourceFile>>
}

/** Which version of a (notification, locale) is in use; `compiled` null means the file again. */
interface ActiveVersion {
  id: string
  version: number
  compiled: CompiledTemplate | null
  /** What `compiled` was compiled from, to compile it again for a new brand. */
  source: TemplateSource | null
}

export class TemplateStore {
  /**
   * Edited versions over the files: notification → locale → the newest
   * version. Replaced as a whole by applyVersions, so render() never sees
   * half an update.
   */
  private active = new Map<string, Map<string, ActiveVersion>>()
  /** One rebrand at a time, in the order asked. */
  private rebranding: Promise<void> = Promise.resolve()

  private constructor(
    private templates: ReadonlyMap<string, ReadonlyMap<string, CompiledTemplate>>,
    private readonly fallbackLocale: string,
    private readonly compiler: Compiler,
    private currentBrand: Brand,
  ) {}

  get brand(): Brand {
    return this.currentBrand
  }

  /**
   * Compiles every file and every edited version again with another brand,
   * then puts them all in use at once: a render sees the old brand or the
   * new one, never a mix. A version that no longer compiles keeps its old
   * compiled form (it compiled before; the brand changes only fill-ins).
   */
  rebrand(brand: Brand): Promise<void> {
    const run = this.rebranding.then(async () => {
      const fills = brandFillIns(brand)
      const { hb, compileMjml, layouts, partials, sources } = this.compiler
      const templates = new Map<string, Map<string, CompiledTemplate>>()
      for (const [notification, files] of sources) {
        const byLocale = new Map<string, CompiledTemplate>()
        for (const [locale, file] of files) {
          const layout = pick(layouts, locale, this.fallbackLocale)!
          byLocale.set(locale, await compileTemplate(hb, compileMjml, notification, locale, file, layout, partials, fills))
        }
        templates.set(notification, byLocale)
      }
      const active = new Map<string, Map<string, ActiveVersion>>()
      for (const [notification, byLocale] of this.active) {
        const next = new Map<string, ActiveVersion>()
        for (const [locale, entry] of byLocale) {
          const compiled = entry.source ? await this.compileSource(notification, locale, entry.source, fills).catch(() => entry.compiled) : null
          next.set(locale, { ...entry, compiled })
        }
        active.set(notification, next)
      }
      this.templates = templates
      this.active = active
      this.currentBrand = brand
    })
    this.rebranding = run.catch(() => {})
    return run
  }

  /**
   * Reads and compiles every template under `dir` (`<notification>/<locale>.mjml`,
   * `_layout/<locale>.mjml`, `_partials/<name>.mjml`). Throws a TemplateError
   * naming the file for anything wrong, so a bad template stops the start
   * instead of failing messages one by one.
   */
  static async load(dir: string, options: LoadOptions = {}): Promise<TemplateStore> {
    const fallback = options.fallbackLocale ?? 'en'
    const compileMjml: MjmlCompiler = options.compileMjml ?? mjml2html
    const brand = options.brand ?? DEFAULT_BRAND
    const fills = brandFillIns(brand)
    const hb = createHandlebars()

    const partials = new Map<string, string>()
    for (const entry of await listDir(join(dir, '_partials'))) {
      if (entry.endsWith('.mjml')) partials.set(entry.slice(0, -'.mjml'.length), await readFile(join(dir, '_partials', entry), 'utf8'))
    }
    const layouts = await readLocales(dir, '_layout', false)
    if (!layouts.has(fallback)) throw new TemplateError(relative(join(dir, '..'), join(dir, '_layout', `${fallback}.mjml`)), 'the shared layout is missing')

    // Every folder not starting with _ or . is a notification; files beside them (README.md) are not.
    const notifications = (await readdir(dir, { withFileTypes: true }))
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith('_') && !entry.name.startsWith('.'))
      .map((entry) => entry.name)
      .sort()
    const templates = new Map<string, Map<string, CompiledTemplate>>()
    const sources = new Map<string, Map<string, SourceFile>>()
    for (const notification of notifications) {
      const files = await readLocales(dir, notification, true)
      if (files.size === 0) continue
      if (!files.has(fallback)) {
        throw new TemplateError(relative(join(dir, '..'), join(dir, notification)), `has no ${fallback}.mjml, which every other locale falls back to`)
      }
      const byLocale = new Map<string, CompiledTemplate>()
      for (const [locale, file] of files) {
        const layout = pick(layouts, locale, fallback)!
        byLocale.set(locale, await compileTemplate(hb, compileMjml, notification, locale, file, layout, partials, fills))
      }
      for (const file of files.values()) {
        for (const path of secretPaths(file)) {
          if (!SECRET_PATH.test(path)) throw new TemplateError(file.name, `secret: "${path}" is not a variable path like reset.url`)
        }
      }
      const categories = new Set([...byLocale.values()].map((t) => t.category))
      if (categories.size > 1) {
        throw new TemplateError(notification, `locales disagree on the category (${[...categories].join(', ')}); it is one per notification`)
      }
      templates.set(notification, byLocale)
      sources.set(notification, files)
    }
    return new TemplateStore(templates, fallback, { hb, compileMjml, layouts, partials, sources }, brand)
  }

  /**
   * The variables a notification's files mark `secret` (`secret: reset.url`):
   * what may not outlive the send in stored payloads, and what admin pages
   * never show. Read from the files only, so an admin's edit of the text
   * cannot drop a secret.
   */
  secrets(notification: string): string[] {
    const files = this.compiler.sources.get(notification)
    return files ? [...new Set([...files.values()].flatMap(secretPaths))] : []
  }

  notifications(): string[] {
    return [...this.templates.keys()]
  }

  /** The A/B experiments templates declare, by id, with the notification that runs each (any locale's file counts). */
  experiments(): (Omit<TemplateExperiment, 'subjects'> & { notification: string })[] {
    const found = new Map<string, Omit<TemplateExperiment, 'subjects'> & { notification: string }>()
    for (const [notification, byLocale] of this.templates) {
      const edited = [...(this.active.get(notification)?.values() ?? [])].flatMap((v) => (v.compiled ? [v.compiled] : []))
      for (const template of [...byLocale.values(), ...edited]) {
        const experiment = template.experiment
        if (experiment && !found.has(experiment.id)) {
          const { subjects: _, ...rest } = experiment
          found.set(experiment.id, { ...rest, notification })
        }
      }
    }
    return [...found.values()]
  }

  /** Every locale an admin may edit: those of the layouts and of any template file, the fallback first. */
  locales(): string[] {
    const all = new Set<string>(this.compiler.layouts.keys())
    for (const byLocale of this.templates.values()) for (const locale of byLocale.keys()) all.add(locale)
    return [this.fallbackLocale, ...[...all].filter((l) => l !== this.fallbackLocale).sort()]
  }

  category(notification: string): Category {
    return this.fallbackTemplate(notification).category as Category
  }

  /** Whether `templates/<notification>/<locale>.mjml` itself exists (not a fallback). */
  hasFile(notification: string, locale: string): boolean {
    return this.compiler.sources.get(notification)?.has(locale) ?? false
  }

  /**
   * What the file default of (notification, locale) says, split the way the
   * database stores an edit: the locale's own file, or the one it falls back to.
   */
  fileSource(notification: string, locale: string): TemplateSource {
    const files = this.compiler.sources.get(notification)
    if (!files) throw new Error(`unknown notification "${notification}"`)
    const file = pick(files, locale, this.fallbackLocale)!
    const experiment = Object.entries(file.frontMatter)
      .filter(([key]) => EXPERIMENT_KEYS.includes(key) || VARIANT_SUBJECT.test(key))
      .map(([key, value]) => `${key}: ${/^subject\./.test(key) ? JSON.stringify(value) : value}`)
      .join('\n')
    return {
      subject: file.frontMatter.subject ?? '',
      preheader: file.frontMatter.preheader ?? null,
      experiment: experiment || null,
      mjml: file.mjml,
      text: file.text,
    }
  }

  /**
   * Compiles an edit exactly as a file would be: composed with the locale's
   * layout and the partials, checked, MJML (strict) once, Handlebars once.
   * Throws a TemplateError saying what is wrong and where.
   */
  async compileSource(
    notification: string,
    locale: string,
    source: TemplateSource,
    fills: Readonly<Record<string, string>> = brandFillIns(this.currentBrand),
  ): Promise<CompiledTemplate> {
    const category = this.category(notification)
    const name = `${notification}/${locale}`
    if (!source.subject.trim()) throw new TemplateError(name, 'the subject is empty')
    if (/[\r\n]/.test(source.subject)) throw new TemplateError(name, 'the subject must be one line')
    if (source.preheader && /[\r\n]/.test(source.preheader)) throw new TemplateError(name, 'the preheader must be one line')
    const file: SourceFile = {
      name,
      path: resolve(this.compiler.layouts.get(this.fallbackLocale)!.path, '..', '..', notification, `${locale}.mjml`),
      frontMatter: {
        subject: source.subject,
        category,
        ...(source.preheader ? { preheader: source.preheader } : {}),
        ...experimentLines(name, source.experiment),
      },
      mjml: source.mjml.replace(/\r\n?/g, '\n'),
      mjmlLine: 1,
      text: source.text.replace(/\r\n?/g, '\n'),
    }
    const layout = pick(this.compiler.layouts, locale, this.fallbackLocale)!
    const { hb, compileMjml, partials } = this.compiler
    return compileTemplate(hb, compileMjml, notification, locale, file, layout, partials, fills)
  }

  /**
   * Compiles an announcement's body (src/announcements) as a template of
   * category `announcements` with no file behind it: the locale's shared
   * layout, the partials, the same checks, MJML strict. Callers cache the
   * result: MJML is the slow part.
   */
  async compileAnnouncement(notification: string, locale: string, source: TemplateSource): Promise<CompiledTemplate> {
    if (!source.subject.trim()) throw new TemplateError(notification, 'the subject is empty')
    if (/[\r\n]/.test(source.subject)) throw new TemplateError(notification, 'the subject must be one line')
    const layoutLocale = localeChain(locale, this.fallbackLocale).find((l) => this.compiler.layouts.has(l)) ?? this.fallbackLocale
    const layout = this.compiler.layouts.get(layoutLocale)!
    const file: SourceFile = {
      name: notification,
      // No file of its own; MJML wants an existing path to resolve from, and mj-include is refused anyway.
      path: layout.path,
      frontMatter: {
        subject: source.subject,
        category: 'announcements',
        ...(source.preheader ? { preheader: source.preheader } : {}),
        ...experimentLines(notification, source.experiment),
      },
      mjml: source.mjml.replace(/\r\n?/g, '\n'),
      mjmlLine: 1,
      text: source.text.replace(/\r\n?/g, '\n'),
    }
    const { hb, compileMjml, partials } = this.compiler
    return compileTemplate(hb, compileMjml, notification, layoutLocale, file, layout, partials, brandFillIns(this.currentBrand))
  }

  /** The version in use for exactly (notification, locale), if an edit (or a revert) was stored. */
  activeVersion(notification: string, locale: string): { id: string; version: number; edited: boolean } | undefined {
    const active = this.active.get(notification)?.get(locale)
    return active ? { id: active.id, version: active.version, edited: active.compiled !== null } : undefined
  }

  /**
   * Puts the newest stored versions in use. A version compiled before (same
   * id) is reused, so each is compiled once per process; one that no longer
   * compiles (a partial it used was removed from the files) is reported and
   * its file used instead. A version never replaces a newer one already in
   * use: a save installs itself at once, and a refresh that read the table a
   * moment earlier must not undo it.
   */
  async applyVersions(versions: readonly StoredVersion[], onError: (version: StoredVersion, error: Error) => void): Promise<void> {
    const next = new Map<string, Map<string, ActiveVersion>>()
    for (const version of versions) {
      if (!this.templates.has(version.notification)) continue
      const current = this.active.get(version.notification)?.get(version.locale)
      let entry: ActiveVersion
      if (current && current.version >= version.version) entry = current
      else if (version.revertedToDefault) entry = { id: version.id, version: version.version, compiled: null, source: null }
      else {
        try {
          const compiled = await this.compileSource(version.notification, version.locale, version)
          entry = { id: version.id, version: version.version, compiled, source: version }
        } catch (error) {
          onError(version, error as Error)
          entry = { id: version.id, version: version.version, compiled: null, source: null }
        }
      }
      if (!next.has(version.notification)) next.set(version.notification, new Map())
      next.get(version.notification)!.set(version.locale, entry)
    }
    // Versions installed by useVersion while this ran stay.
    for (const [notification, byLocale] of this.active) {
      for (const [locale, entry] of byLocale) {
        const kept = next.get(notification)?.get(locale)
        if (!kept || kept.version < entry.version) {
          if (!next.has(notification)) next.set(notification, new Map())
          next.get(notification)!.set(locale, entry)
        }
      }
    }
    this.active = next
  }

  /** Puts one just-saved version in use in this process, already compiled (null: back to the file). */
  useVersion(version: StoredVersion, compiled: CompiledTemplate | null): void {
    const current = this.active.get(version.notification)?.get(version.locale)
    if (current && current.version >= version.version) return
    const next = new Map(this.active)
    const byLocale = new Map(next.get(version.notification) ?? [])
    byLocale.set(version.locale, { id: version.id, version: version.version, compiled, source: compiled ? version : null })
    next.set(version.notification, byLocale)
    this.active = next
  }

  /** Renders one message; only Handlebars runs here. Throws for an unknown notification. */
  render(notification: string, options: RenderOptions): RenderedEmail {
    return renderTemplate(this.resolve(notification, options.locale), options)
  }

  /**
   * The template a reader of `locale` gets: along the fallback chain
   * (`fr-CA → fr → en`), the first locale with an edited version or a file;
   * at one locale, the edited version wins over the file.
   */
  resolve(notification: string, locale: string | null | undefined): CompiledTemplate {
    const byLocale = this.templates.get(notification)
    if (!byLocale) throw new Error(`unknown notification "${notification}"`)
    const edits = this.active.get(notification)
    for (const candidate of localeChain(locale, this.fallbackLocale)) {
      const found = edits?.get(candidate)?.compiled ?? byLocale.get(candidate)
      if (found) return found
    }
    return byLocale.get(this.fallbackLocale)!
  }

  private fallbackTemplate(notification: string): CompiledTemplate {
    const template = this.templates.get(notification)?.get(this.fallbackLocale)
    if (!template) throw new Error(`unknown notification "${notification}"`)
    return template
  }
}

/**
 * The experiment a template's front matter declares: `variants: a:50, b:50`
 * and optionally `subject.b: "…"` (variant `a` uses `subject`), content
 * variants in the body with `{{#variant "b"}}…{{else}}…{{/variant}}`,
 * `experiment: <id>` (default: the notification), `metric: opens|clicks`
 * and `auto_promote: true`.
 */
function readExperiment(file: SourceFile, notification: string) {
  const fm = file.frontMatter
  const variantSubjects = Object.keys(fm).filter((key) => VARIANT_SUBJECT.test(key))
  if (!fm.variants) {
    if (variantSubjects.length > 0 || fm.experiment || fm.metric || fm.auto_promote) {
      throw new TemplateError(file.name, 'subject.<variant>, experiment, metric and auto_promote need "variants: a:50, b:50"')
    }
    return undefined
  }
  const variants = parseVariants(fm.variants)
  if (!variants) throw new TemplateError(file.name, `variants must list two or more "name:weight" pairs, got "${fm.variants}"`)
  const names = variants.map((v) => v.name)
  const subjects: Record<string, string> = {}
  for (const key of variantSubjects) {
    const variant = VARIANT_SUBJECT.exec(key)![1]!
    if (!names.includes(variant)) throw new TemplateError(file.name, `${key} names a variant not in "variants" (${names.join(', ')})`)
    if (variant === names[0]) throw new TemplateError(file.name, `${key}: the first variant's subject is "subject"`)
    subjects[variant] = fm[key]!
  }
  const metric = fm.metric ?? 'opens'
  if (metric !== 'opens' && metric !== 'clicks') throw new TemplateError(file.name, `metric must be opens or clicks, got "${metric}"`)
  if (fm.auto_promote && !['true', 'false'].includes(fm.auto_promote)) throw new TemplateError(file.name, 'auto_promote must be true or false')
  const id = fm.experiment ?? notification
  if (!/^[a-z0-9][a-z0-9_.-]{0,79}$/.test(id)) throw new TemplateError(file.name, `experiment "${id}" must be lower-case letters, digits, _ . -`)
  return { id, variants, subjects, metric: metric as 'opens' | 'clicks', autoPromote: fm.auto_promote === 'true' }
}

async function compileTemplate(
  hb: HandlebarsInstance,
  compileMjml: MjmlCompiler,
  notification: string,
  locale: string,
  file: SourceFile,
  layout: SourceFile,
  partials: ReadonlyMap<string, string>,
  fills: Readonly<Record<string, string>>,
): Promise<CompiledTemplate> {
  const { subject, category, preheader } = file.frontMatter
  if (!subject) throw new TemplateError(file.name, 'front matter has no subject')
  if (!category) throw new TemplateError(file.name, `front matter has no category (one of ${CATEGORIES.join(', ')})`)
  if (!(CATEGORIES as readonly string[]).includes(category)) {
    throw new TemplateError(file.name, `category "${category}" is not one of ${CATEGORIES.join(', ')}`)
  }
  checkHandlebars(hb, file.name, 'the subject', subject)
  if (preheader) checkHandlebars(hb, file.name, 'the preheader', preheader)
  const experiment = readExperiment(file, notification)
  for (const [variant, text] of Object.entries(experiment?.subjects ?? {})) checkHandlebars(hb, file.name, `the subject of variant ${variant}`, text)
  checkHandlebars(hb, file.name, 'the MJML', file.mjml, true)
  checkHandlebars(hb, file.name, 'the text part', file.text)
  checkHandlebars(hb, layout.name, 'the MJML', layout.mjml, true)
  checkHandlebars(hb, layout.name, 'the text part', layout.text)

  const composed = compose(layout, file, locale, partials, fills)
  if (/<mj-include\b/.test(composed.mjml)) throw new TemplateError(file.name, 'mj-include is not resolved here; use <partial name="..."/>')
  for (const image of composed.mjml.match(/<mj-image\b[^>]*>/g) ?? []) {
    if (!/\salt="[^"]*"/.test(image)) throw new TemplateError(file.name, `${image} needs an alt="..." (alt="" for a decorative image)`)
  }

  let html: string
  try {
    // fonts: {} — MJML would otherwise link Google Fonts for any family it
    // recognises in our font stack (Roboto), a request per open to a third party.
    const result = await compileMjml(composed.mjml, { validationLevel: 'strict', fonts: {}, keepComments: false, filePath: file.path })
    html = result.html
  } catch (error) {
    const errors = (error as { errors?: MJMLParseError[] }).errors
    const detail = errors?.length
      ? errors.map((e) => `${composed.where(e.line)}: ${e.message}`).join('; ')
      : (error as Error).message
    throw new TemplateError(file.name, `MJML: ${detail}`)
  }
  checkSurvived(file.name, composed.mjml, html)

  const text = fill(layout.name, layout.text, { body: file.text.trim() })
  const compile = (source: string, what: string, noEscape: boolean) => {
    try {
      const template = hb.compile<Record<string, unknown>>(source, { noEscape })
      // Handlebars compiles lazily on first use; do it now, so the first
      // message pays nothing and a compile error names the file at load.
      template({}, { data: {} })
      return template
    } catch (error) {
      throw new TemplateError(file.name, `${what}: ${(error as Error).message}`)
    }
  }
  return {
    notification,
    locale,
    category,
    subject: compile(subject, 'subject', true),
    ...(preheader ? { preheader: compile(preheader, 'preheader', true) } : {}),
    ...(experiment
      ? {
          experiment: {
            ...experiment,
            subjects: Object.fromEntries(
              Object.entries(experiment.subjects).map(([variant, text]) => [variant, compile(text, `subject.${variant}`, true)]),
            ),
          },
        }
      : {}),
    html: compile(html, 'compiled HTML', false),
    // The same HTML with its links and pixel marked, for tracked messages (render.ts).
    ...compileTracked(hb, html),
    text: compile(text, 'text part', true),
  }
}
