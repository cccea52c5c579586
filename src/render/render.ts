// One message's subject, HTML and text from a template that `templates.ts`
// compiled at load. Nothing here touches MJML or the file system: a render
// is four calls of compiled Handlebars functions, so it stays cheap at
// thousands of messages a second.

import type { Config } from '../config.ts'
import { messageFormat } from './helpers.ts'

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
  const data = { format: messageFormat(options.locale, template.locale, options.timeZone, options.now ?? new Date()), variant }
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
    html: template.html(view, { data }),
    text: tidyText(template.text(view, { data })),
    locale: template.locale,
    ...(experiment && variant ? { experiment: { id: experiment.id, variant } } : {}),
  }
}
