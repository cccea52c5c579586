// Announcements in the admin UI (issue 12):
//
//   GET  /admin/announcements                    the list
//   GET  /admin/announcements/new                the compose form
//   POST /admin/announcements                    save a new draft
//   GET  /admin/announcements/:id                compose (draft, scheduled) or progress and results (after)
//   POST /admin/announcements/:id                save changes (draft, scheduled only)
//   POST /admin/announcements/:id/test           send the saved version to one address
//   POST /admin/announcements/:id/send           now, or at a time in the admin's zone
//   POST /admin/announcements/:id/pause|resume|cancel
//   GET  /admin/announcements/:id/progress       htmx: the progress panel, polled every second
//   POST /admin/announcements/segment-size       htmx: the segment's size for the form's fields
//   POST /admin/announcements/preview            htmx: compile + render the form for one locale
//   POST /admin/announcements/send-time          htmx: the chosen send time in UTC
//   GET  /admin/announcement-previews/:key       a preview's HTML, for its sandboxed iframe
//
// Every POST passes adminGuard's CSRF check; every change is audited.

import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import {
  AnnouncementListPage,
  AnnouncementPreview,
  ComposePage,
  SegmentSize,
  SendingLive,
  SendingPage,
  type SendingLiveProps,
  SendTime,
  type ComposeForm,
  type PreviewView,
  type ProgressView,
  type SegmentSizeView,
} from '../../views/admin/announcements.tsx'
import type { AdminSession } from '../admin/auth.ts'
import { adminGuard, ADMIN_HEADERS, html, redirect, signedIn, type AdminDeps } from '../admin/http.ts'
import { adminNotFound } from '../admin/people.tsx'
import { PREVIEW_HEADERS, PreviewCache } from '../admin/previews.ts'
import { recordAudit } from '../admin/queries.ts'
import { sendTest, TEST_ADDRESS } from '../admin/test-send.ts'
import type { Announcement, Segment } from '../db/schema/index.ts'
import { fromWallClock } from '../preferences/schedule.ts'
import { contextFromConfig, renderTemplate, type RenderedEmail } from '../render/render.ts'
import { context as sampleContext } from '../render/samples.ts'
import { TemplateError } from '../render/templates.ts'
import { ANNOUNCEMENT_NOTIFICATION, backlogOf, cancelPendingRows, findAnnouncement, holdPending, insertAnnouncement, listAnnouncements, progressOf, releaseHeld, resultsOf, segmentSize, syncEnrollments, transition, updateUnsent, type Progress, type VariantOutcome } from './queries.ts'
import { describeSegment, fieldsOf, segmentFrom, SEGMENT_KINDS } from './segments.ts'
import { sourceOf, type AnnouncementContent } from './templates.ts'

const segmentFields = {
  segment: t.Optional(t.Union(SEGMENT_KINDS.map((kind) => t.Literal(kind)))),
  courses: t.Optional(t.String({ maxLength: 5000 })),
  locale: t.Optional(t.String({ maxLength: 35 })),
}

const composeBody = t.Object(
  {
    _csrf: t.Optional(t.String()),
    subject: t.String({ maxLength: 500 }),
    subject_b: t.Optional(t.String({ maxLength: 500 })),
    preheader: t.Optional(t.String({ maxLength: 500 })),
    mjml: t.String({ maxLength: 200_000 }),
    text: t.String({ maxLength: 100_000 }),
    preview_locale: t.Optional(t.String({ maxLength: 35 })),
    test_to: t.Optional(t.String({ maxLength: 320 })),
    ...segmentFields,
  },
  { additionalProperties: true },
)
type ComposeBody = typeof composeBody.static

const segmentBody = t.Object({ _csrf: t.Optional(t.String()), ...segmentFields }, { additionalProperties: true })

const sendBody = t.Object(
  {
    _csrf: t.Optional(t.String()),
    when: t.Optional(t.Union([t.Literal('now'), t.Literal('later')])),
    send_at: t.Optional(t.String({ maxLength: 40 })),
    time_zone: t.Optional(t.String({ maxLength: 64 })),
  },
  { additionalProperties: true },
)

const actionBody = t.Object({ _csrf: t.Optional(t.String()) }, { additionalProperties: true })

const NO_SUBJECT: PreviewView = { ok: false, errors: ['Write a subject to see the preview.'] }

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const STARTER: ComposeForm = {
  subject: '',
  subjectB: '',
  preheader: '',
  mjml: '<mj-text>\n  <h1>{{email.subject}}</h1>\n  <p>Hi {{or user.name "there"}},</p>\n  <p>…</p>\n</mj-text>\n',
  text: 'Hi {{or user.name "there"}},\n\n…\n',
  segment: 'everyone',
  courses: '',
  locale: '',
}

/** A sample learner for previews and test sends: what `{{user.name}}` and the footer links show. */
const SAMPLE_USER = { id: 'sample', email: 'learner@example.com', name: 'Ada Lovelace', locale: 'en', timezone: 'UTC' }

function contentOf(body: ComposeBody): AnnouncementContent {
  const lf = (value: string) => value.replace(/\r\n?/g, '\n')
  return {
    subject: body.subject.trim(),
    subjectB: body.subject_b?.trim() || null,
    preheader: body.preheader?.trim() || null,
    mjml: lf(body.mjml),
    text: lf(body.text),
  }
}

function formOf(content: AnnouncementContent, segment: Pick<ComposeBody, 'segment' | 'courses' | 'locale'>): ComposeForm {
  return {
    subject: content.subject,
    subjectB: content.subjectB ?? '',
    preheader: content.preheader ?? '',
    mjml: content.mjml,
    text: content.text,
    segment: segment.segment ?? 'everyone',
    courses: segment.courses ?? '',
    locale: segment.locale ?? '',
  }
}

/** `2026-03-01T09:30` in `timeZone` → the instant; undefined for what cannot be read. */
function instantOf(local: string | undefined, timeZone: string | undefined): Date | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})$/.exec(local ?? '')
  if (!match || !validZone(timeZone)) return undefined
  const [, y, mo, d, h, mi] = match.map(Number) as [number, number, number, number, number, number]
  return fromWallClock(y, mo, d, h, timeZone!, mi)
}

function validZone(timeZone: string | undefined): boolean {
  if (!timeZone) return false
  try {
    new Intl.DateTimeFormat('en', { timeZone })
    return true
  } catch {
    return false
  }
}

/** `2026-03-01 09:30` as the clock in `timeZone` shows the instant. */
function localText(at: Date, timeZone: string): string {
  return new Intl.DateTimeFormat('sv-SE', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }).format(at)
}

/** What the panel shows; 100% once every row written is sent, skipped or failed and nothing is left to write. */
export function progressView(announcement: Announcement, progress: Progress, now = Date.now()): ProgressView {
  const finished = announcement.state === 'done' || announcement.state === 'cancelled'
  const total = finished ? progress.expanded : Math.max(announcement.total ?? 0, progress.expanded)
  const settled = progress.sent + progress.skipped + progress.failed
  const percent = total === 0 ? (finished ? 100 : 0) : Math.min(100, Math.floor((settled * 100) / total))
  let etaMs: number | null = null
  const { firstSentAt, lastSentAt } = progress
  if (!finished || progress.queued > 0) {
    if (firstSentAt && lastSentAt && progress.sent > 1 && lastSentAt > firstSentAt) {
      const perMs = progress.sent / (lastSentAt.getTime() - firstSentAt.getTime())
      etaMs = Math.max(0, (total - settled) / perMs - (now - lastSentAt.getTime()))
    }
  }
  return {
    id: announcement.id,
    state: announcement.state,
    total,
    expanded: progress.expanded,
    queued: progress.queued,
    sent: progress.sent,
    skipped: progress.skipped,
    failed: progress.failed,
    percent,
    etaMs: percent === 100 ? 0 : etaMs,
    live: !finished || progress.queued > 0,
  }
}

/**
 * Results per variant while an announcement is live, read at most every
 * RESULTS_EVERY_MS: they join the opens and clicks of every email sent so
 * far, and each open sending page polls every second. Once it has
 * finished (the poll stops), the page reads them fresh.
 */
export class RecentResults {
  private readonly read = new Map<string, { at: number; results: Promise<VariantOutcome[]> }>()

  constructor(private readonly load: (id: string) => Promise<VariantOutcome[]>) {}

  of(id: string, now = Date.now()): Promise<VariantOutcome[]> {
    const cached = this.read.get(id)
    if (cached && now - cached.at < RESULTS_EVERY_MS) return cached.results
    for (const [key, entry] of this.read) if (now - entry.at >= RESULTS_EVERY_MS) this.read.delete(key)
    const results = this.load(id)
    this.read.set(id, { at: now, results })
    // A failed read is not kept: the next poll tries again.
    results.catch(() => this.read.delete(id))
    return results
  }
}

const RESULTS_EVERY_MS = 10_000

export function announcementRoutes(deps: AdminDeps) {
  const { db, templates, config } = deps
  const previews = new PreviewCache(200)
  const timeZones = Intl.supportedValuesOf('timeZone')
  const shellOf = (session: AdminSession) => ({ assets: deps.assets, siteName: deps.siteName, admin: { email: session.email, csrfToken: session.csrfToken } })
  const audit = (admin: AdminSession, action: string, target: string, detail?: Record<string, unknown>) =>
    recordAudit(db, { adminId: admin.adminId, adminEmail: admin.email, action: `announcement.${action}`, target, ...(detail ? { detail } : {}) })

  async function sizeOf(segment: Segment): Promise<SegmentSizeView> {
    if (segment.kind === 'courses') await syncEnrollments(db)
    return segmentSize(db, segment, config.defaultLocale)
  }

  async function render(content: AnnouncementContent, id: string, locale: string): Promise<{ ok: true; rendered: RenderedEmail } | { ok: false; errors: string[] }> {
    try {
      const compiled = await templates.compileAnnouncement(ANNOUNCEMENT_NOTIFICATION, locale, sourceOf(id, content))
      const rendered = renderTemplate(compiled, {
        locale,
        timeZone: SAMPLE_USER.timezone,
        variables: { user: { ...SAMPLE_USER, locale } },
        context: { ...contextFromConfig(config), links: sampleContext.links ?? {} },
      })
      return { ok: true, rendered }
    } catch (error) {
      if (!(error instanceof TemplateError)) return { ok: false, errors: [`Rendering failed: ${(error as Error).message}`] }
      const detail = error.message.replace(`${ANNOUNCEMENT_NOTIFICATION}: `, '').replace(/^MJML: /, '')
      return { ok: false, errors: detail.split('; ') }
    }
  }

  async function previewOf(admin: AdminSession, content: AnnouncementContent, id: string, locale: string): Promise<PreviewView> {
    const result = await render(content, id, locale)
    if (!result.ok) return result
    const key = previews.put(admin.adminId, result.rendered.html)
    return { ok: true, subject: result.rendered.subject, frameUrl: `/admin/announcement-previews/${key}`, text: result.rendered.text, locale: result.rendered.locale }
  }

  const previewLocale = (requested: string | undefined) => (requested && templates.locales().includes(requested) ? requested : templates.locales()[0]!)

  const liveResults = new RecentResults((id) => resultsOf(db, id))

  /** The announcement a route's :id names; undefined for a malformed id as for an unknown one (both 404). */
  const find = (id: string) => (UUID.test(id) ? findAnnouncement(db, id) : Promise.resolve(undefined))

  async function composePage(
    admin: AdminSession,
    announcement: Announcement | undefined,
    options: { form?: ComposeForm; errors?: string[]; notice?: string; status?: number; locale?: string } = {},
  ): Promise<Response> {
    const form = options.form ?? (announcement ? formOf(announcement, fieldsOf(announcement.segment)) : STARTER)
    const parsed = segmentFrom(form)
    const size = parsed.ok ? await sizeOf(parsed.segment) : { members: 0, optedOut: 0, error: parsed.error }
    const locale = previewLocale(options.locale)
    const preview = form.subject.trim()
      ? await previewOf(admin, { ...form, subjectB: form.subjectB || null, preheader: form.preheader || null }, announcement?.id ?? 'preview', locale)
      : NO_SUBJECT
    const scheduled =
      announcement?.state === 'scheduled' && announcement.sendAt
        ? { local: localText(announcement.sendAt, announcement.timeZone), utc: announcement.sendAt, timeZone: announcement.timeZone }
        : undefined
    return html(
      <ComposePage
        {...shellOf(admin)}
        csrfToken={admin.csrfToken}
        id={announcement?.id}
        state={announcement?.state}
        form={form}
        size={size}
        preview={preview}
        locales={templates.locales()}
        previewLocale={locale}
        timeZones={timeZones}
        scheduled={scheduled}
        notice={options.notice}
        errors={options.errors}
      />,
      options.status ?? 200,
    )
  }

  /** The part of the sending page that the progress poll replaces. */
  async function liveOf(admin: AdminSession, announcement: Announcement): Promise<SendingLiveProps> {
    const progress = await progressOf(db, announcement.id)
    const view = progressView(announcement, progress)
    const results = view.live ? await liveResults.of(announcement.id) : await resultsOf(db, announcement.id)
    return {
      csrfToken: admin.csrfToken,
      id: announcement.id,
      state: announcement.state,
      progress: view,
      results: results.map((row) => ({
        ...row,
        variant: row.variant ?? '—',
        subject: row.variant === 'b' ? (announcement.subjectB ?? announcement.subject) : announcement.subject,
      })),
      reasons: Object.entries(progress.reasons),
    }
  }

  async function sendingPage(admin: AdminSession, announcement: Announcement, notice?: string): Promise<Response> {
    return html(
      <SendingPage
        {...shellOf(admin)}
        {...await liveOf(admin, announcement)}
        subject={announcement.subject}
        segment={describeSegment(announcement.segment)}
        sendAt={announcement.startedAt ?? announcement.sendAt}
        notice={notice}
      />,
    )
  }

  async function page(admin: AdminSession, id: string, notice?: string): Promise<Response> {
    const announcement = await find(id)
    if (!announcement) return adminNotFound(deps, admin, 'announcement')
    return announcement.state === 'draft' || announcement.state === 'scheduled'
      ? composePage(admin, announcement, notice ? { notice } : {})
      : sendingPage(admin, announcement, notice)
  }

  /** Validates the form; the content and segment, or the problems. */
  function readForm(body: ComposeBody): { ok: true; content: AnnouncementContent; segment: Segment } | { ok: false; errors: string[] } {
    const content = contentOf(body)
    const errors: string[] = []
    if (!content.subject) errors.push('Write a subject.')
    if (/[\r\n]/.test(content.subject) || /[\r\n]/.test(content.subjectB ?? '')) errors.push('A subject is one line.')
    const segment = segmentFrom({ segment: body.segment ?? 'everyone', courses: body.courses, locale: body.locale })
    if (!segment.ok) errors.push(segment.error)
    return errors.length || !segment.ok ? { ok: false, errors } : { ok: true, content, segment: segment.segment }
  }

  /** A state change under the announcement's row lock, with what it does to the rows already written. */
  async function act(admin: AdminSession, id: string, verb: 'pause' | 'resume' | 'cancel'): Promise<Response> {
    if (!UUID.test(id)) return adminNotFound(deps, admin, 'announcement')
    const moved = await db.transaction(async (tx) => {
      // `done` means every email is written, not sent: while some still wait
      // (up to ANNOUNCE_BATCH), it can be paused or cancelled like a sending one.
      const stillGoing = (await backlogOf(tx, id, 1)) > 0 ? (['done'] as const) : []
      if (verb === 'pause') return (await transition(tx, id, ['sending', ...stillGoing], 'paused')) ? holdPending(tx, id) : null
      if (verb === 'resume') return (await transition(tx, id, ['paused'], 'sending')) ? releaseHeld(tx, id) : null
      const cancelled = await transition(tx, id, ['scheduled', 'sending', 'paused', ...stillGoing], 'cancelled', { finishedAt: new Date() })
      return cancelled ? cancelPendingRows(tx, id) : null
    })
    if (moved === null) return page(admin, id, `Nothing to ${verb}: the announcement is not in a state that allows it.`)
    await audit(admin, verb, id, { rows: moved })
    const notices = { pause: `Paused; ${moved} emails held.`, resume: `Resumed; ${moved} held emails back in the queue.`, cancel: `Cancelled; ${moved} emails not sent.` }
    return page(admin, id, notices[verb])
  }

  return new Elysia({ name: 'admin-announcements' })
    .use(adminGuard(deps.auth))
    .get('/admin/announcements', async ({ session }) => {
      const admin = signedIn(session)
      const rows = (await listAnnouncements(db)).map((a) => ({
        id: a.id,
        subject: a.subject,
        segment: describeSegment(a.segment),
        state: a.state,
        createdAt: a.createdAt,
        sendAt: a.sendAt,
        expanded: a.expanded,
      }))
      return html(<AnnouncementListPage {...shellOf(admin)} rows={rows} />)
    })
    .get('/admin/announcements/new', ({ session }) => composePage(signedIn(session), undefined))
    .post(
      '/admin/announcements',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const read = readForm(body)
        if (!read.ok) return composePage(admin, undefined, { form: formOf(contentOf(body), body), errors: read.errors, status: 422, locale: body.preview_locale })
        const compiled = await render(read.content, 'preview', previewLocale(undefined))
        if (!compiled.ok) return composePage(admin, undefined, { form: formOf(read.content, body), errors: compiled.errors, status: 422 })
        const created = await insertAnnouncement(db, { ...read.content, segment: read.segment, createdBy: admin.email })
        await audit(admin, 'create', created.id, { segment: read.segment })
        return redirect(`/admin/announcements/${created.id}`)
      },
      { body: composeBody },
    )
    .post(
      '/admin/announcements/segment-size',
      async ({ body }) => {
        const parsed = segmentFrom({ segment: body.segment ?? 'everyone', courses: body.courses, locale: body.locale })
        const size = parsed.ok ? await sizeOf(parsed.segment) : { members: 0, optedOut: 0, error: parsed.error }
        return html(<SegmentSize size={size} />)
      },
      { body: segmentBody },
    )
    .post(
      '/admin/announcements/preview',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const content = contentOf(body)
        const preview = content.subject ? await previewOf(admin, content, 'preview', previewLocale(body.preview_locale)) : NO_SUBJECT
        return html(<AnnouncementPreview preview={preview} />)
      },
      { body: composeBody },
    )
    .post(
      '/admin/announcements/send-time',
      ({ body }) => {
        const zone = body.time_zone?.trim() || 'UTC'
        if (!validZone(zone)) return html(<SendTime error={`"${zone}" is not a time zone; try Europe/Paris or America/New_York.`} />)
        const at = instantOf(body.send_at, zone)
        return html(<SendTime local={at ? `${body.send_at!.replace('T', ' ')} in ${zone}` : undefined} utc={at} />)
      },
      { body: sendBody },
    )
    .get('/admin/announcement-previews/:key', ({ session, params }) => {
      const body = previews.get(signedIn(session).adminId, params.key)
      return new Response(body ?? '<!doctype html><title>Preview expired</title><p>This preview has expired. Edit the announcement to render it again.</p>', {
        status: body ? 200 : 404,
        headers: PREVIEW_HEADERS,
      })
    })
    .get('/admin/announcements/:id', ({ session, params }) => page(signedIn(session), params.id))
    .get('/admin/announcements/:id/progress', async ({ session, params }) => {
      const admin = signedIn(session)
      const announcement = await find(params.id)
      if (!announcement) return adminNotFound(deps, admin, 'announcement')
      return html(<SendingLive {...await liveOf(admin, announcement)} />)
    })
    .post(
      '/admin/announcements/:id',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const announcement = await find(params.id)
        if (!announcement) return adminNotFound(deps, admin, 'announcement')
        const read = readForm(body)
        if (!read.ok) return composePage(admin, announcement, { form: formOf(contentOf(body), body), errors: read.errors, status: 422 })
        const compiled = await render(read.content, announcement.id, previewLocale(undefined))
        if (!compiled.ok) return composePage(admin, announcement, { form: formOf(read.content, body), errors: compiled.errors, status: 422 })
        if (!(await updateUnsent(db, announcement.id, { ...read.content, segment: read.segment }))) {
          return page(admin, announcement.id, 'Not saved: sending has started, and what is being sent cannot change.')
        }
        await audit(admin, 'save', announcement.id)
        return page(admin, announcement.id, 'Saved.')
      },
      { body: composeBody },
    )
    .post(
      '/admin/announcements/:id/test',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const announcement = await find(params.id)
        if (!announcement) return adminNotFound(deps, admin, 'announcement')
        const to = (body.test_to ?? '').trim()
        if (!TEST_ADDRESS.test(to)) return composePage(admin, announcement, { errors: ['Enter the address to send the test to, like name@example.com.'], status: 422 })
        const result = await render(announcement, announcement.id, previewLocale(body.preview_locale))
        if (!result.ok) return composePage(admin, announcement, { errors: result.errors, status: 422 })
        try {
          const sent = await sendTest(deps, to, result.rendered, { kind: 'announcement', name: `announcement/${announcement.id}` })
          await audit(admin, 'test_send', announcement.id, { to, code: sent.code })
        } catch (error) {
          deps.log.warn('announcement test send failed', { announcement: announcement.id, error })
          return composePage(admin, announcement, { errors: [`The test was not sent: ${(error as Error).message}`], status: 502 })
        }
        return composePage(admin, announcement, { notice: `Test sent to ${to} through ${deps.transport.name}.` })
      },
      { body: composeBody },
    )
    .post(
      '/admin/announcements/:id/send',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const announcement = await find(params.id)
        if (!announcement) return adminNotFound(deps, admin, 'announcement')
        const zone = body.time_zone?.trim() || 'UTC'
        let sendAt = new Date()
        if (body.when === 'later') {
          const at = instantOf(body.send_at, zone)
          if (!at) return composePage(admin, announcement, { errors: ['Choose a date and time, and a time zone such as Europe/Paris.'], status: 422 })
          if (at.getTime() < Date.now() - 60_000) return composePage(admin, announcement, { errors: [`${localText(at, zone)} in ${zone} has passed.`], status: 422 })
          sendAt = at
        }
        // Now: straight to sending, so the page that follows shows the progress at once.
        const moved =
          body.when === 'later'
            ? await transition(db, announcement.id, ['draft', 'scheduled'], 'scheduled', { sendAt, timeZone: zone })
            : await transition(db, announcement.id, ['draft', 'scheduled'], 'sending', {
                sendAt,
                timeZone: zone,
                startedAt: sendAt,
                total: (await sizeOf(announcement.segment)).members,
              })
        if (!moved) {
          return page(admin, announcement.id, 'Already sending or sent.')
        }
        await audit(admin, 'send', announcement.id, { sendAt: sendAt.toISOString(), timeZone: zone })
        return body.when === 'later' ? page(admin, announcement.id, 'Scheduled.') : redirect(`/admin/announcements/${announcement.id}`)
      },
      { body: sendBody },
    )
    .post('/admin/announcements/:id/pause', ({ session, params }) => act(signedIn(session), params.id, 'pause'), { body: actionBody })
    .post('/admin/announcements/:id/resume', ({ session, params }) => act(signedIn(session), params.id, 'resume'), { body: actionBody })
    .post('/admin/announcements/:id/cancel', ({ session, params }) => act(signedIn(session), params.id, 'cancel'), { body: actionBody })
}
