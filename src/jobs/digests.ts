// Folded messages out as one email per learner. The send-time gate parks a
// message for a `daily`/`weekly` category (or one over the day's budget) as
// `digested`, due at the learner's next local 08:00 (Monday for weekly);
// this job, every few minutes, turns each learner's due items into one new
// outbox row — notification `digest` — that the worker sends like any other
// (so the gate still stops it for a learner who unsubscribed from everything
// or whose address is suppressed).

import { randomUUID } from 'node:crypto'
import type { Db, Executor } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { insertMessages, notifyWorkers } from '../outbox/queries.ts'
import { DIGEST_CATEGORY } from '../preferences/categories.ts'
import type { RenderContext, RenderedEmail, RenderOptions } from '../render/render.ts'
import {
  attachToDigest,
  findDigestRecipient,
  findRecipientsWithDueDigest,
  loadItemVariables,
  lockDueDigestItems,
  skipDigestItems,
  tryLockRecipientDigest,
  type DigestRecipient,
  type DueDigestItem,
} from './queries.ts'

export const DIGEST_NOTIFICATION = 'digest'

/**
 * Items listed one by one in a digest; the rest are counted ("and 12 more").
 * Past fifty lines nobody reads a list, and the email stays well under
 * Gmail's 102 KB clipping size (a listed item is about 600 bytes of HTML).
 */
export const DIGEST_MAX_LISTED = 50

/** Recipients read per page when looking for due digests. */
const RECIPIENT_PAGE = 500

export interface DigestDeps {
  db: Db
  /**
   * Renders each item's own subject as its one-line title; `prepare` first
   * gets ready what render needs that is not in memory yet (an announcement's
   * body, compiled from the database).
   */
  templates: {
    render(notification: string, options: RenderOptions): RenderedEmail
    prepare?(items: readonly { notification: string; variables: Record<string, unknown> }[], locale: string, db: Executor): Promise<void>
  }
  context: RenderContext
  /** Host part of the Message-IDs we mint (as ingest does). */
  messageIdDomain: string
  log: Logger
}

export interface DigestRunResult {
  /** Digest emails queued. */
  digests: number
  /** Items they carry. */
  items: number
  /** Items dropped because a choice made since they were folded rules them out. */
  skipped: number
}

/** What the digest template gets, besides the usual site/footer/links. */
export interface DigestVariables {
  user: { id: string; email: string; name: string | null; locale: string | null; timezone: string | null }
  /** `weekly` when every item waited for the weekly digest, else `daily`. */
  period: 'daily' | 'weekly'
  weekly: boolean
  /** Every item the digest carries, listed or not. */
  count: number
  /** Items beyond DIGEST_MAX_LISTED, carried but not listed. */
  more: number
  courses: DigestCourse[]
}

export interface DigestCourse {
  id: string | null
  /** Null for items about no course. */
  title: string | null
  url: string | null
  items: { title: string; url: string | null; notification: string }[]
}

/**
 * Builds and queues the digest of every learner with items due at `now`.
 * Safe to run twice at once, in one process or several: each learner is
 * built in its own transaction under a per-learner lock, and an item is
 * attached to exactly one digest.
 */
export async function runDueDigests(deps: DigestDeps, now: Date): Promise<DigestRunResult> {
  const total: DigestRunResult = { digests: 0, items: 0, skipped: 0 }
  let after: string | null = null
  for (;;) {
    const page = await findRecipientsWithDueDigest(deps.db, now, after, RECIPIENT_PAGE)
    for (const recipientId of page) {
      try {
        const built = await buildDigest(deps, recipientId, now)
        total.digests += built.digest ? 1 : 0
        total.items += built.items
        total.skipped += built.skipped
      } catch (error) {
        // One learner's bad data must not hold up everyone else's morning mail; their items stay due.
        deps.log.error('digest failed', { recipientId, error })
      }
    }
    if (page.length < RECIPIENT_PAGE) break
    after = page[page.length - 1]!
  }
  return total
}

/** One learner's digest, in one transaction; `digest` is false when there was nothing (left) to send. */
async function buildDigest(
  deps: DigestDeps,
  recipientId: string,
  now: Date,
): Promise<{ digest: boolean; items: number; skipped: number }> {
  return deps.db.transaction(async (tx) => {
    const nothing = { digest: false, items: 0, skipped: 0 }
    // Another run is building this learner's digest right now: it takes every due item.
    if (!(await tryLockRecipientDigest(tx, recipientId))) return nothing
    const due = await lockDueDigestItems(tx, recipientId, now)
    if (due.length === 0) return nothing
    const recipient = await findDigestRecipient(tx, recipientId)
    if (!recipient) return nothing

    const dropped = due.filter((item) => item.dropReason !== null)
    for (const reason of ['preference', 'course_muted'] as const) {
      const ids = dropped.filter((item) => item.dropReason === reason).map((item) => item.id)
      if (ids.length > 0) await skipDigestItems(tx, ids, reason)
    }
    const kept = due.filter((item) => item.dropReason === null)
    if (kept.length === 0) return { ...nothing, skipped: dropped.length }

    const listed = kept.slice(0, DIGEST_MAX_LISTED)
    const variablesById = await loadItemVariables(
      tx,
      listed.map((item) => item.id),
    )
    // The learner's locale now; else the one their items were written for (ingest applied DEFAULT_LOCALE).
    const locale = recipient.locale ?? kept[0]!.locale
    await deps.templates.prepare?.(
      listed.map((item) => ({ notification: item.notification, variables: variablesById.get(item.id) ?? {} })),
      locale,
      tx,
    )
    const variables = digestVariables(deps, recipient, kept, listed, variablesById, locale, now)

    const id = randomUUID()
    await insertMessages(tx, [
      {
        id,
        recipientId,
        notification: DIGEST_NOTIFICATION,
        category: DIGEST_CATEGORY,
        toAddress: recipient.email,
        toName: recipient.name,
        locale,
        variables: variables as unknown as Record<string, unknown>,
        // Queued with the database's now(), not `now`: a run handed a later clock (tests) still sends at once.
        state: 'queued',
        messageIdHeader: `<${id}@${deps.messageIdDomain}>`,
      },
    ])
    await attachToDigest(
      tx,
      kept.map((item) => item.id),
      id,
    )
    await notifyWorkers(tx)
    return { digest: true, items: kept.length, skipped: dropped.length }
  })
}

function digestVariables(
  deps: DigestDeps,
  recipient: DigestRecipient,
  kept: readonly DueDigestItem[],
  listed: readonly DueDigestItem[],
  variablesById: ReadonlyMap<string, Record<string, unknown>>,
  locale: string,
  now: Date,
): DigestVariables {
  // Courses in the order their first item arrived; items oldest first within each.
  const courses = new Map<string, DigestCourse>()
  for (const item of listed) {
    const variables = variablesById.get(item.id) ?? {}
    const course = record(variables.course)
    const key = item.courseId ?? ''
    let group = courses.get(key)
    if (!group) {
      group = { id: item.courseId, title: text(course?.title) ?? item.courseId, url: httpUrl(course?.url), items: [] }
      courses.set(key, group)
    }
    group.items.push({
      title: itemTitle(deps, item, variables, locale, recipient.timezone, now),
      url: itemLink(variables),
      notification: item.notification,
    })
  }
  // Items about no course go last, under a heading of their own.
  const ordered = [...courses.values()].sort((a, b) => Number(a.id === null) - Number(b.id === null))
  // Budget overflow always rolls into the daily digest; weekly only when every item chose weekly.
  const weekly = kept.every((item) => item.reason !== 'budget' && item.frequency === 'weekly')
  return {
    user: {
      id: recipient.lmsUserId,
      email: recipient.email,
      name: recipient.name,
      locale: recipient.locale,
      timezone: recipient.timezone,
    },
    period: weekly ? 'weekly' : 'daily',
    weekly,
    count: kept.length,
    more: kept.length - listed.length,
    courses: ordered,
  }
}

/** The item's own email subject, in the learner's language and zone: what they would have seen in their inbox. */
function itemTitle(
  deps: DigestDeps,
  item: DueDigestItem,
  variables: Record<string, unknown>,
  locale: string,
  timeZone: string | null,
  now: Date,
): string {
  try {
    return deps.templates.render(item.notification, { locale, timeZone, variables, context: deps.context, now }).subject
  } catch (error) {
    // A template removed since the item was folded: still list it, by what it is about.
    deps.log.warn('digest item subject did not render', { messageId: item.id, notification: item.notification, error })
    const about = ['thread', 'item', 'session', 'assignment', 'course'].map((key) => text(record(variables[key])?.title)).find(Boolean)
    return about ?? item.notification.replace(/_/g, ' ')
  }
}

/** Where an item leads, most specific first. */
const LINK_PATHS = [
  ['thread', 'url'],
  ['item', 'url'],
  ['session', 'join_url'],
  ['assignment', 'url'],
  ['completion', 'certificate_url'],
  ['course', 'url'],
] as const

export function itemLink(variables: Record<string, unknown>): string | null {
  for (const [object, key] of LINK_PATHS) {
    const url = httpUrl(record(variables[object])?.[key])
    if (url) return url
  }
  return null
}

function record(value: unknown): Record<string, unknown> | undefined {
  return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : typeof value === 'number' ? String(value) : null
}

/** Only http(s) links go into an href: a `javascript:` URL from the LMS must not become a link in the email. */
function httpUrl(value: unknown): string | null {
  const candidate = text(value)
  return candidate && /^https?:\/\//i.test(candidate.trim()) ? candidate.trim() : null
}
