// The Handlebars instance every template is compiled with, and the helpers
// that format dates, times and money for one message's reader. Helpers are
// registered on an instance of our own (`Handlebars.create()`) so that no
// other code in the process can add to, or be surprised by, what templates
// may call.
//
// Per-message settings (locale, time zone, "now") travel in Handlebars'
// `@data` frame as `format`, not in the template context: the context is the
// LMS's data and may hold any key, and compiled templates are shared by every
// message.

import Handlebars from 'handlebars'

export type HandlebarsInstance = typeof Handlebars

/** How one message formats values; built once per render by `messageFormat`. */
export interface MessageFormat {
  /** BCP 47 tag that Intl formats with. */
  locale: string
  /** IANA zone; `UTC` when the reader's zone is unknown. */
  timeZone: string
  /** False when we fell back to UTC: dates then say "UTC" so nobody mistakes it for local time. */
  zoneKnown: boolean
  /** The send time, which relative phrases ("in 2 hours") count from. */
  now: Date
}

/** Languages written right to left: their emails and pages get `dir="rtl"`. */
const RTL = new Set(['ar', 'fa', 'he', 'ur'])

export function directionOf(locale: string): 'rtl' | 'ltr' {
  return RTL.has(locale.split('-')[0]!.toLowerCase()) ? 'rtl' : 'ltr'
}

export function canonicalLocale(tag: string | null | undefined): string | undefined {
  if (!tag) return undefined
  try {
    return Intl.getCanonicalLocales(tag.trim().replace(/_/g, '-'))[0]
  } catch {
    return undefined
  }
}

function language(tag: string): string {
  return (tag.split('-')[0] ?? tag).toLowerCase()
}

const zoneValidity = new Map<string, boolean>()

function isTimeZone(zone: string): boolean {
  let valid = zoneValidity.get(zone)
  if (valid === undefined) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: zone })
      valid = true
    } catch {
      valid = false
    }
    if (zoneValidity.size > 1000) zoneValidity.clear()
    zoneValidity.set(zone, valid)
  }
  return valid
}

/**
 * The reader asked for `requested`; the template we found is in
 * `templateLocale`. Dates follow the reader's regional conventions only when
 * the template speaks their language: an en-GB reader of the English
 * template gets "5 March 2025", but a de reader who fell back to English gets
 * English dates rather than "5. März" in an English sentence.
 */
export function messageFormat(
  requested: string | null | undefined,
  templateLocale: string,
  timeZone: string | null | undefined,
  now: Date,
): MessageFormat {
  const reader = canonicalLocale(requested)
  const locale = reader && language(reader) === language(templateLocale) ? reader : templateLocale
  const zoneKnown = !!timeZone && isTimeZone(timeZone)
  return { locale, timeZone: zoneKnown ? timeZone! : 'UTC', zoneKnown, now }
}

const DEFAULT_FORMAT: MessageFormat = { locale: 'en', timeZone: 'UTC', zoneKnown: false, now: new Date(0) }

// Building an Intl formatter costs far more than using one (measured in
// Bun 1.4: 45 µs to build and format a datetime, 2 µs to format with a kept
// one; a whole message renders in about 90 µs), so keep them.
// Readers share few (locale, zone) pairs, so the cache stays small; the
// bound is only a guard against a flood of distinct values.
const formatters = new Map<string, unknown>()
function cached<T>(key: string, make: () => T): T {
  let value = formatters.get(key) as T | undefined
  if (value === undefined) {
    if (formatters.size > 5000) formatters.clear()
    value = make()
    formatters.set(key, value)
  }
  return value
}

const DATE: Intl.DateTimeFormatOptions = { year: 'numeric', month: 'long', day: 'numeric' }
const DAY: Intl.DateTimeFormatOptions = { weekday: 'long', month: 'long', day: 'numeric' }
const DAY_IN_YEAR: Intl.DateTimeFormatOptions = { ...DAY, year: 'numeric' }
const TIME: Intl.DateTimeFormatOptions = { hour: 'numeric', minute: '2-digit' }
const YEAR: Intl.DateTimeFormatOptions = { year: 'numeric' }
const FORMATS = { date: DATE, day: DAY, dayInYear: DAY_IN_YEAR, time: TIME, year: YEAR }

function dateFormat(kind: keyof typeof FORMATS, f: MessageFormat): Intl.DateTimeFormat {
  return cached(`${kind}|${f.locale}|${f.timeZone}`, () => {
    const options = { ...FORMATS[kind], timeZone: f.timeZone }
    // A 24-hour clock reads "09:00", not "9:00"; a 12-hour one keeps "9:00 AM".
    if (kind === 'time' && /h2[34]/.test(new Intl.DateTimeFormat(f.locale, options).resolvedOptions().hourCycle ?? '')) {
      options.hour = '2-digit'
    }
    return new Intl.DateTimeFormat(f.locale, options)
  })
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value
  if (typeof value !== 'string' && typeof value !== 'number') return undefined
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : date
}

function formatOf(options: Handlebars.HelperOptions | undefined): MessageFormat {
  return (options?.data?.format as MessageFormat | undefined) ?? DEFAULT_FORMAT
}

/** Helpers take `(...args, options)`; split the two. */
function split(args: unknown[]): { values: unknown[]; options: Handlebars.HelperOptions } {
  return { values: args.slice(0, -1), options: args[args.length - 1] as Handlebars.HelperOptions }
}

// Missing optional values render as nothing: a template shows them inside
// {{#if}} and an empty string is safer than "undefined" in an email. A value
// that is present but unreadable is shown as sent rather than dropped.
const blank = (value: unknown) => value === undefined || value === null || value === ''

/** "March 5, 2025"; "March 5, 2025 (UTC)" when the reader's zone is unknown. */
export function formatDate(value: unknown, f: MessageFormat): string {
  if (blank(value)) return ''
  const date = toDate(value)
  if (!date) return String(value)
  const text = dateFormat('date', f).format(date)
  return f.zoneKnown ? text : `${text} (UTC)`
}

/**
 * "Friday 12 December, 17:00 (Europe/Paris)" for en-GB, "Friday, December
 * 12, 5:00 PM (America/New_York)" for en-US: the reader's own conventions,
 * and the zone by its IANA name, which unlike "CET" or "GMT+9" nobody
 * misreads. The year only when it is not this year.
 */
export function formatDateTime(value: unknown, f: MessageFormat): string {
  if (blank(value)) return ''
  const date = toDate(value)
  if (!date) return String(value)
  const year = dateFormat('year', f)
  const day = dateFormat(year.format(date) === year.format(f.now) ? 'day' : 'dayInYear', f).format(date)
  return `${day}${directionOf(f.locale) === 'rtl' ? '، ' : ', '}${dateFormat('time', f).format(date)} (${f.timeZone})`
}

/**
 * "in 2 hours", "in 3 days", "now", "3 hours ago", counted from the send
 * time rather than taken from the reminder's planned offset: a reminder held
 * back by quiet hours or retries still tells the truth when it is read.
 * Rounded to the unit a person would use (61 minutes is "in 1 hour").
 */
export function formatRelative(value: unknown, f: MessageFormat): string {
  if (blank(value)) return ''
  const date = toDate(value)
  if (!date) return String(value)
  const minutes = (date.getTime() - f.now.getTime()) / 60_000
  const size = Math.abs(minutes)
  const rtf = cached(`relative|${f.locale}`, () => new Intl.RelativeTimeFormat(f.locale, { numeric: 'auto' }))
  if (size < 1) return rtf.format(0, 'second')
  if (size < 59.5) return rtf.format(Math.round(minutes), 'minute')
  if (size < 36 * 60) return rtf.format(Math.round(minutes / 60), 'hour')
  return rtf.format(Math.round(minutes / 1440), 'day')
}

/**
 * `amount` is in major units (49.5 is $49.50), as the webhook schema takes
 * any number; an unknown currency code is shown as sent.
 */
export function formatMoney(amount: unknown, currency: unknown, f: MessageFormat): string {
  if (blank(amount)) return ''
  const value = Number(amount)
  if (!Number.isFinite(value) || typeof currency !== 'string') return `${String(amount)} ${String(currency ?? '')}`.trim()
  try {
    return cached(`money|${f.locale}|${currency}`, () => new Intl.NumberFormat(f.locale, { style: 'currency', currency })).format(value)
  } catch {
    return `${value} ${currency}`
  }
}

function formatNumber(value: unknown, f: MessageFormat): string {
  if (blank(value)) return ''
  const n = Number(value)
  return Number.isFinite(n) ? cached(`number|${f.locale}`, () => new Intl.NumberFormat(f.locale)).format(n) : String(value)
}

/**
 * What an LMS calls a piece of work, in our languages. LMSs send these as
 * English identifiers; a kind not listed here is shown as sent.
 */
const KINDS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  en: { assignment: 'assignment', quiz: 'quiz', exam: 'exam', project: 'project', discussion: 'discussion', survey: 'survey', essay: 'essay', lab: 'lab' },
  fr: { assignment: 'devoir', quiz: 'quiz', exam: 'examen', project: 'projet', discussion: 'discussion', survey: 'questionnaire', essay: 'dissertation', lab: 'TP' },
  es: { assignment: 'tarea', quiz: 'cuestionario', exam: 'examen', project: 'proyecto', discussion: 'debate', survey: 'encuesta', essay: 'ensayo', lab: 'práctica' },
  de: { assignment: 'Aufgabe', quiz: 'Quiz', exam: 'Prüfung', project: 'Projekt', discussion: 'Diskussion', survey: 'Umfrage', essay: 'Aufsatz', lab: 'Praktikum' },
  ar: { assignment: 'واجب', quiz: 'اختبار قصير', exam: 'امتحان', project: 'مشروع', discussion: 'نقاش', survey: 'استبيان', essay: 'مقال', lab: 'تجربة عملية' },
}

export function kindLabel(value: unknown, f: MessageFormat): string {
  if (blank(value)) return ''
  const kind = String(value)
  return KINDS[language(f.locale)]?.[kind.toLowerCase()] ?? kind
}

const graphemes = new Intl.Segmenter('en', { granularity: 'grapheme' })

/** Shortens to `max` characters as a reader counts them (no emoji or accent cut in half), ending in "…". */
export function truncate(value: unknown, max: number): string {
  if (blank(value)) return ''
  const chars = Array.from(graphemes.segment(String(value).trim()), (s) => s.segment)
  return chars.length <= max ? chars.join('') : `${chars.slice(0, Math.max(1, max - 1)).join('').trimEnd()}…`
}

/**
 * Block helpers whose output is only their own blocks, shown, repeated or
 * not (Handlebars' own and `variant`). A value helper used as a block
 * (`{{#or x}}…{{/or}}`) would write its result unescaped: an HTML part may
 * use only these as blocks.
 */
export const BLOCK_HELPERS: ReadonlySet<string> = new Set(['if', 'unless', 'each', 'with', 'variant'])

/**
 * The helpers templates may call. `templates.ts` refuses, at load, a
 * template that calls anything else, so a typo fails at start rather than
 * on the first message.
 *
 * - `{{date x}}`, `{{datetime x}}`, `{{relative x}}`: ISO-8601 values in the reader's locale and zone.
 * - `{{money amount currency}}`, `{{number n}}`.
 * - `{{plural n one="once" other="# times"}}`: CLDR plural rules of the locale; `#` is the number;
 *   `zero="…"`, when given, is used for 0 in any language.
 * - `{{or a b "fallback"}}`: the first value that is present; for attributes, where `{{#if}}` cannot go.
 * - `{{truncate text 80}}`.
 * - `{{#variant "b"}}…{{else}}…{{/variant}}`: content for one variant of the template's A/B experiment.
 * - `{{kind item.kind}}`: the LMS's word for a piece of work (`assignment`, `quiz`, …) in the reader's language.
 *
 * Every helper returns plain text (never a SafeString), which `{{…}}`
 * escapes, and `variant` writes only its own blocks: tracking, planned once
 * per template from its tags (render.ts, markTracking), relies on no value
 * adding markup. A new block helper must join BLOCK_HELPERS, or an HTML
 * part that uses it is refused (templates.ts, checkHandlebars).
 */
export function createHandlebars(): HandlebarsInstance {
  const hb = Handlebars.create()
  hb.registerHelper('date', (...args: unknown[]) => {
    const { values, options } = split(args)
    return formatDate(values[0], formatOf(options))
  })
  hb.registerHelper('datetime', (...args: unknown[]) => {
    const { values, options } = split(args)
    return formatDateTime(values[0], formatOf(options))
  })
  hb.registerHelper('relative', (...args: unknown[]) => {
    const { values, options } = split(args)
    return formatRelative(values[0], formatOf(options))
  })
  hb.registerHelper('money', (...args: unknown[]) => {
    const { values, options } = split(args)
    return formatMoney(values[0], values[1], formatOf(options))
  })
  hb.registerHelper('number', (...args: unknown[]) => {
    const { values, options } = split(args)
    return formatNumber(values[0], formatOf(options))
  })
  hb.registerHelper('plural', (...args: unknown[]) => {
    const { values, options } = split(args)
    const f = formatOf(options)
    const n = Number(values[0])
    const forms = (options.hash ?? {}) as Record<string, unknown>
    const rule = cached(`plural|${f.locale}`, () => new Intl.PluralRules(f.locale)).select(n)
    const form = String(forms[n === 0 && 'zero' in forms ? 'zero' : rule] ?? forms.other ?? '#')
    return form.replace(/#/g, formatNumber(n, f))
  })
  hb.registerHelper('or', (...args: unknown[]) => {
    const { values } = split(args)
    return values.find((v) => !blank(v)) ?? ''
  })
  hb.registerHelper('truncate', (...args: unknown[]) => {
    const { values } = split(args)
    const max = Number(values[1])
    return truncate(values[0], Number.isFinite(max) && max > 0 ? max : 100)
  })
  hb.registerHelper('kind', (...args: unknown[]) => {
    const { values, options } = split(args)
    return kindLabel(values[0], formatOf(options))
  })
  hb.registerHelper('variant', function (this: unknown, ...args: unknown[]) {
    const { values, options } = split(args)
    return (options.data as { variant?: string } | undefined)?.variant === values[0] ? options.fn(this) : options.inverse(this)
  })
  return hb
}
