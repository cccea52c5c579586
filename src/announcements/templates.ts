// An announcement's body, compiled once per (announcement, version, locale)
// and kept: MJML 5 takes ~10 ms a compile, Handlebars ~90 µs a message, so
// 5,000 recipients cost one compile per locale, not 5,000.
//
// The worker's render is synchronous, so the compile happens before it: the
// announcement gate (gate.ts) awaits ensure() for each claimed batch.

import type { Announcement } from '../db/schema/index.ts'
import type { Db, Executor } from '../db/client.ts'
import type { Brand } from '../render/brand.ts'
import { renderTemplate, type CompiledTemplate, type RenderedEmail, type RenderOptions } from '../render/render.ts'
import type { TemplateSource, TemplateStore } from '../render/templates.ts'
import { ANNOUNCEMENT_NOTIFICATION, findAnnouncement } from './queries.ts'

export type AnnouncementContent = Pick<Announcement, 'subject' | 'subjectB' | 'preheader' | 'mjml' | 'text'>

/** The A/B experiment of one announcement: its own id, so its results never mix with another's. */
export const experimentIdOf = (id: string) => `announcement-${id}`

/** The announcement as a template source: variant `b` is an A/B test of the subject, half and half. */
export function sourceOf(id: string, content: AnnouncementContent): TemplateSource {
  return {
    subject: content.subject,
    preheader: content.preheader,
    experiment: content.subjectB ? `variants: a:50, b:50\nsubject.b: ${JSON.stringify(content.subjectB)}\nexperiment: ${experimentIdOf(id)}` : null,
    mjml: content.mjml,
    text: content.text,
  }
}

/** Which announcement, and which edit of it, a message was expanded from (its variables.announcement). */
export function announcementOf(variables: Record<string, unknown>): { id: string; version: number } | undefined {
  const value = variables.announcement as { id?: unknown; version?: unknown } | undefined
  return typeof value?.id === 'string' && typeof value.version === 'number' ? { id: value.id, version: value.version } : undefined
}

/**
 * Compiled bodies kept per process. Only announcements being sent (or looked
 * at) need one, a few locales each; the oldest go first, and one needed
 * again is compiled again (~10 ms), so memory stays bounded over months.
 */
const MAX_COMPILED = 64

interface Entry {
  brand: Brand
  compiled: CompiledTemplate
}

/** The TemplateStore's render, plus announcements: what the worker and the digest job render with. */
export class AnnouncementTemplates {
  private readonly compiled = new Map<string, Entry>()
  private readonly compiling = new Map<string, Promise<void>>()

  constructor(
    private readonly db: Db,
    readonly store: TemplateStore,
  ) {}

  /**
   * Compiles what `render` will need for these messages, unless done already
   * for this brand. Throws when the announcement is gone or does not compile.
   * `db`: the transaction a caller is in (PGlite is one session: a query
   * outside it would wait for it to end).
   */
  async ensure(id: string, version: number, locales: Iterable<string>, db: Executor = this.db): Promise<void> {
    const missing = [...new Set(locales)].filter((locale) => this.compiled.get(keyOf(id, version, locale))?.brand !== this.store.brand)
    if (missing.length === 0) return
    const key = `${id}:${version}:${missing.sort().join(',')}`
    let pending = this.compiling.get(key)
    if (!pending) {
      pending = this.compile(id, version, missing, db).finally(() => this.compiling.delete(key))
      this.compiling.set(key, pending)
    }
    await pending
  }

  private async compile(id: string, version: number, locales: string[], db: Executor): Promise<void> {
    const announcement = await findAnnouncement(db, id)
    if (!announcement) throw new Error(`announcement ${id} no longer exists`)
    // An edit is only possible before sending starts, so a message's version is the row's.
    if (announcement.version !== version) throw new Error(`announcement ${id} is at version ${announcement.version}, not ${version}`)
    const brand = this.store.brand
    for (const locale of locales) {
      const compiled = await this.store.compileAnnouncement(ANNOUNCEMENT_NOTIFICATION, locale, sourceOf(id, announcement))
      this.compiled.delete(keyOf(id, version, locale))
      this.compiled.set(keyOf(id, version, locale), { brand, compiled })
      if (this.compiled.size > MAX_COMPILED) this.compiled.delete(this.compiled.keys().next().value!)
    }
  }

  /** ensure() for the announcements among these messages; one that cannot be compiled is left to fail at render. */
  async prepare(items: readonly { notification: string; variables: Record<string, unknown> }[], locale: string, db: Executor): Promise<void> {
    for (const item of items) {
      const which = item.notification === ANNOUNCEMENT_NOTIFICATION ? announcementOf(item.variables) : undefined
      if (which) await this.ensure(which.id, which.version, [locale], db).catch(() => {})
    }
  }

  render(notification: string, options: RenderOptions): RenderedEmail {
    if (notification !== ANNOUNCEMENT_NOTIFICATION) return this.store.render(notification, options)
    const which = announcementOf(options.variables)
    const entry = which && this.compiled.get(keyOf(which.id, which.version, options.locale))
    if (!entry) throw new Error(`announcement ${which?.id ?? '(none)'} is not compiled in this process`)
    return renderTemplate(entry.compiled, options)
  }
}

const keyOf = (id: string, version: number, locale: string) => `${id}:${version}:${locale}`
