// The learner routes reached from an email, with a signed token instead of a
// login (DESIGN.md "Categories and preferences"):
//
//   GET  /preferences/:token   the preference page
//   POST /preferences/:token   save it: 303 back to the page without JS, the
//                              swapped panel with htmx (HX-Request)
//   GET  /u/:token             "Unsubscribe from … emails?" and a button; never
//                              changes anything (mail scanners follow links)
//   POST /u/:token             RFC 8058 one-click: `List-Unsubscribe=One-Click`,
//                              urlencoded or multipart, no cookies; 200, repeatable
//
// Every token that does not verify, or names a recipient who is gone, gets
// the same 404 bytes, rendered once at start: nothing in the answer depends
// on the request, so no one can tell a forged token from an erased learner.

import { Elysia } from 'elysia'
import { translator, type Translator } from '../../views/i18n.ts'
import { documentHtml, fragmentHtml, type AssetUrls } from '../../views/layout.tsx'
import { NotFoundPage } from '../../views/not-found.tsx'
import {
  FREQUENCY_CHOICES,
  PreferencesPage,
  PreferencesPanel,
  type FrequencyChoice,
  type PreferencesProps,
  type PreferencesStatus,
} from '../../views/preferences.tsx'
import { UnsubscribePage, type UnsubscribeProps } from '../../views/unsubscribe.tsx'
import type { Db } from '../db/client.ts'
import { DIGEST_CATEGORY, LEARNER_CATEGORIES, isLearnerCategory } from './categories.ts'
import {
  getPreferenceView,
  setCourseMuted,
  setFrequency,
  setUnsubscribedAll,
  turnOffDigestedCategories,
  type PreferenceView,
} from './queries.ts'
import type { TokenSigner } from './tokens.ts'

export interface PreferenceRoutesDeps {
  db: Db
  signer: TokenSigner
  /** The school's name as the emails show it (from MAIL_FROM). */
  siteName: string
  /** DEFAULT_LOCALE: the page language for recipients without a locale, and for the 404 page. */
  defaultLocale: string
  assets: AssetUrls
}

/** Learner pages carry a personal token in their URL: never cached, never indexed, never sent on as a referrer. */
const PAGE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'x-robots-tag': 'noindex, nofollow',
  'x-content-type-options': 'nosniff',
  // Only our own stylesheet and htmx; htmx's requests go to this origin; no framing (the one-click button must not be clickjacked).
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
}

/** A preference form is a few hundred bytes; anything much bigger is not one. */
const MAX_FORM_BYTES = 64 * 1024

const ONE_CLICK = { key: 'List-Unsubscribe', value: 'One-Click' } as const

/** What the no-JS redirect after a save may ask the page to say. */
const REDIRECT_STATUSES: readonly PreferencesStatus[] = ['saved', 'unsubscribed', 'resubscribed']

function page(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { ...PAGE_HEADERS, ...extra } })
}

/**
 * The fields of a urlencoded or multipart body, as strings; null when the
 * body is too big or cannot be read. Any other content type is read as
 * urlencoded: a one-click client that forgets the header still means it.
 */
async function readForm(request: Request): Promise<URLSearchParams | null> {
  if (Number(request.headers.get('content-length') ?? '0') > MAX_FORM_BYTES) return null
  const chunks: Uint8Array[] = []
  let size = 0
  if (request.body) {
    for await (const chunk of request.body as unknown as AsyncIterable<Uint8Array>) {
      size += chunk.byteLength
      if (size > MAX_FORM_BYTES) return null
      chunks.push(chunk)
    }
  }
  const raw = Buffer.concat(chunks)
  const type = request.headers.get('content-type') ?? ''
  if (/^multipart\/form-data\b/i.test(type)) {
    try {
      const form = await new Response(raw, { headers: { 'content-type': type } }).formData()
      const fields = new URLSearchParams()
      form.forEach((value, name) => {
        if (typeof value === 'string') fields.append(name, value)
      })
      return fields
    } catch {
      return null
    }
  }
  return new URLSearchParams(raw.toString('utf8'))
}

/**
 * Applies the main form: each topic's frequency and each listed course's
 * mute, only where they changed, in one transaction. False (and nothing
 * written) when a value is not one the page offers.
 */
async function saveChoices(db: Db, view: PreferenceView, form: URLSearchParams): Promise<boolean> {
  const frequencies: [string, FrequencyChoice][] = []
  for (const category of LEARNER_CATEGORIES) {
    const value = form.get(`frequency.${category}`)
    if (value === null) continue
    if (!(FREQUENCY_CHOICES as readonly string[]).includes(value)) return false
    if (value !== view.frequencies[category]) frequencies.push([category, value as FrequencyChoice])
  }
  // Only courses the page listed (hidden `course` fields) and the learner has mail from; a box left unticked is "unmuted".
  const listed = new Set(form.getAll('course'))
  const muted = new Set(form.getAll('muted'))
  const mutes = view.courses.filter((course) => listed.has(course.id) && muted.has(course.id) !== course.muted)
  if (frequencies.length === 0 && mutes.length === 0) return true
  await db.transaction(async (tx) => {
    for (const [category, frequency] of frequencies) await setFrequency(tx, view.recipient.id, category, frequency)
    for (const course of mutes) await setCourseMuted(tx, view.recipient.id, course.id, !course.muted)
  })
  return true
}

export function preferenceRoutes(deps: PreferenceRoutesDeps) {
  const { db, signer, siteName, assets } = deps
  const shell = (locale: string | null) => ({ t: translator(locale, deps.defaultLocale), siteName, assets })
  const notFoundHtml = documentHtml(NotFoundPage(shell(null)))
  const notFound = () => page(404, notFoundHtml)

  function preferencesProps(view: PreferenceView, token: string, status?: PreferencesStatus): PreferencesProps {
    return {
      action: `/preferences/${token}`,
      recipient: { email: view.recipient.email, name: view.recipient.name },
      categories: LEARNER_CATEGORIES.map((category) => ({ category, frequency: view.frequencies[category] })),
      courses: view.courses,
      unsubscribedAll: view.recipient.unsubscribedAt !== null,
      status,
    }
  }

  /** The recipient behind a preferences token, or undefined for anything that does not verify or is gone. */
  async function preferencesView(token: string): Promise<PreferenceView | undefined> {
    const subject = signer.verify('preferences', token)
    return subject ? getPreferenceView(db, subject.recipientId) : undefined
  }

  /** An unsubscribe token's recipient and category (a learner category or the digest), or undefined. */
  async function unsubscribeTarget(token: string) {
    const subject = signer.verify('unsubscribe', token)
    const category = subject?.category
    if (!subject || !category || !(isLearnerCategory(category) || category === DIGEST_CATEGORY)) return undefined
    const view = await getPreferenceView(db, subject.recipientId)
    return view && { view, category: category as UnsubscribeProps['category'] }
  }

  function unsubscribePage(
    t: Translator,
    token: string,
    view: PreferenceView,
    category: UnsubscribeProps['category'],
    state: UnsubscribeProps['state'],
  ): string {
    return documentHtml(
      UnsubscribePage({
        t,
        siteName,
        assets,
        state,
        category,
        action: `/u/${token}`,
        preferencesUrl: `/preferences/${signer.sign('preferences', { recipientId: view.recipient.id })}`,
      }),
    )
  }

  return new Elysia({ name: 'preferences' })
    .get('/preferences/:token', async ({ params, query }) => {
      const view = await preferencesView(params.token)
      if (!view) return notFound()
      const saved = REDIRECT_STATUSES.find((status) => status === query.saved)
      return page(200, documentHtml(PreferencesPage({ ...shell(view.recipient.locale), ...preferencesProps(view, params.token, saved) })))
    })
    .post(
      '/preferences/:token',
      async ({ params, request }) => {
        let view = await preferencesView(params.token)
        if (!view) return notFound()
        const recipientId = view.recipient.id
        const form = await readForm(request)
        let status: PreferencesStatus
        switch (form?.get('action') ?? 'save') {
          case 'unsubscribe_all':
            await setUnsubscribedAll(db, recipientId, true)
            status = 'unsubscribed'
            break
          case 'resubscribe':
            await setUnsubscribedAll(db, recipientId, false)
            status = 'resubscribed'
            break
          default:
            status = form && (await saveChoices(db, view, form)) ? 'saved' : 'invalid'
        }
        const htmx = request.headers.get('hx-request') === 'true'
        if (status !== 'invalid' && !htmx) {
          // Post/redirect/get: a reload shows the page instead of posting again; the anchor scrolls to the message.
          const anchor = status === 'saved' ? 'save-status' : 'all-status'
          return new Response(null, {
            status: 303,
            headers: { ...PAGE_HEADERS, location: `/preferences/${params.token}?saved=${status}#${anchor}` },
          })
        }
        view = (await getPreferenceView(db, recipientId)) ?? view
        const props = { ...shell(view.recipient.locale), ...preferencesProps(view, params.token, status) }
        const code = status === 'invalid' ? 400 : 200
        // htmx 4 swaps 4xx answers too, so an invalid save shows its message in place.
        if (htmx) return page(code, fragmentHtml(PreferencesPanel(props)), { vary: 'HX-Request' })
        return page(code, documentHtml(PreferencesPage(props)), { vary: 'HX-Request' })
      },
      { parse: 'none' },
    )
    .get('/u/:token', async ({ params }) => {
      const target = await unsubscribeTarget(params.token)
      if (!target) return notFound()
      const { t } = shell(target.view.recipient.locale)
      return page(200, unsubscribePage(t, params.token, target.view, target.category, 'confirm'))
    })
    .post(
      '/u/:token',
      async ({ params, request }) => {
        const target = await unsubscribeTarget(params.token)
        if (!target) return notFound()
        const { view, category } = target
        const { t } = shell(view.recipient.locale)
        const form = await readForm(request)
        if (form?.get(ONE_CLICK.key) !== ONE_CLICK.value) {
          return page(400, unsubscribePage(t, params.token, view, category, 'invalid'))
        }
        if (category === DIGEST_CATEGORY) await turnOffDigestedCategories(db, view.recipient.id)
        else await setFrequency(db, view.recipient.id, category, 'off')
        // 200 and no redirect (RFC 8058); doing it again changes nothing and answers the same.
        return page(200, unsubscribePage(t, params.token, view, category, 'done'))
      },
      { parse: 'none' },
    )
}
