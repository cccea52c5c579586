// The operations pages, all behind adminGuard:
//
//   GET  /admin                           dashboard (counters, charts, queue age, transport health)
//   GET  /admin/dashboard/live            its live part, polled by htmx every 5 s
//   GET  /admin/messages                  the message browser (GET form of filters, 50 a page)
//   GET  /admin/messages/:id              one message: fields, attempts, headers, text, event
//   GET  /admin/messages/:id/preview      its HTML, rendered now, for a sandboxed iframe
//   GET  /admin/dead-letters              dead letters, filterable
//   POST /admin/dead-letters/action       retry / discard one, a selection, or all matching;
//                                         bulk ones and discards confirm first (a page, no JS)

import { Html } from '@elysiajs/html'
import { Elysia } from 'elysia'
import { DashboardLive, DashboardPage, LIVE_PATH, type DashboardData } from '../../views/admin/dashboard.tsx'
import { ConfirmActionPage, DeadLettersPage, type DeadLetterFilterFields } from '../../views/admin/dead-letters.tsx'
import { AdminLayout } from '../../views/admin/layout.tsx'
import { MessagePage, MessagesPage, type MessageFilterFields } from '../../views/admin/messages.tsx'
import { ANNOUNCEMENT_NOTIFICATION } from '../announcements/queries.ts'
import { announcementOf } from '../announcements/templates.ts'
import { messageStates, type MessageState } from '../db/schema/index.ts'
import { discardDead, notifyWorkers, requeueDead, type DeadLetterFilter } from '../outbox/queries.ts'
import { learnerLinks, unsubscribeHeaders } from '../preferences/links.ts'
import { contextFromConfig } from '../render/render.ts'
import { maskSecrets } from '../render/secrets.ts'
import { adminGuard, html, redirect, safeNext, signedIn, type AdminDeps } from './http.ts'
import { PREVIEW_HEADERS } from './previews.ts'
import { recordAudit } from './queries.ts'
import {
  attemptsOf,
  attemptsPerHour,
  countByState,
  findMessage,
  knownNotifications,
  listDeadLetters,
  listMessages,
  oldestQueuedSince,
  transportHealth,
  type MessageDetail,
} from './queries-ops.ts'

export const PAGE_SIZE = 50
/** Deeper than this, narrow the filter: offset paging gets slow and nobody reads page 200. */
const MAX_PAGE = 200

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

type Query = Record<string, string | string[] | undefined>

function one(value: unknown, max = 320): string {
  const text = Array.isArray(value) ? value[0] : value
  return typeof text === 'string' ? text.trim().slice(0, max) : ''
}

function many(value: unknown): string[] {
  const list = Array.isArray(value) ? value : value === undefined ? [] : [value]
  return list.filter((v): v is string => typeof v === 'string')
}

/** A datetime-local value (no zone) read as UTC; undefined when empty, null when unreadable. */
function parseUtc(value: string): Date | undefined | null {
  if (!value) return undefined
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?)?$/.test(value)) return null
  const date = new Date(value.length === 10 ? `${value}T00:00:00Z` : `${value}Z`)
  return Number.isNaN(date.getTime()) ? null : date
}

function pageOf(query: Query): number {
  const page = Number.parseInt(one(query.page), 10)
  return Number.isFinite(page) && page >= 1 ? Math.min(page, MAX_PAGE) : 1
}

/** The query string without empty fields, for pager links. */
function cleanQuery(fields: Record<string, string>): URLSearchParams {
  const q = new URLSearchParams()
  for (const [name, value] of Object.entries(fields)) if (value) q.set(name, value)
  return q
}

function readDeadFilter(fields: DeadLetterFilterFields): { filter: DeadLetterFilter; error?: string } {
  const from = parseUtc(fields.from)
  const to = parseUtc(fields.to)
  return {
    filter: {
      notification: fields.notification || undefined,
      email: fields.email || undefined,
      from: from ?? undefined,
      to: to ?? undefined,
    },
    ...(from === null || to === null ? { error: 'A date could not be read; it was left out of the filter. Use YYYY-MM-DDTHH:MM.' } : {}),
  }
}

const DONE_TEXT: Record<string, (n: number) => string> = {
  retry: (n) => `${n} dead ${n === 1 ? 'letter' : 'letters'} put back in the queue.`,
  discard: (n) => `${n} dead ${n === 1 ? 'letter' : 'letters'} discarded.`,
  none: () => 'Select at least one dead letter first.',
}

export function opsRoutes(deps: AdminDeps) {
  const { db, auth } = deps
  const context = contextFromConfig(deps.config)
  const shellFor = (session: { email: string; csrfToken: string }) => ({
    assets: deps.assets,
    siteName: deps.siteName,
    admin: { email: session.email, csrfToken: session.csrfToken },
  })

  async function dashboardData(): Promise<DashboardData> {
    const [counts, hours, oldest, transports] = await Promise.all([
      countByState(db),
      attemptsPerHour(db),
      oldestQueuedSince(db),
      transportHealth(db, deps.transport.name),
    ])
    return { now: new Date(), counts, hours, oldestQueuedSince: oldest, transports, currentTransport: deps.transport.name }
  }

  /**
   * Renders the message as the worker would now: same templates, same
   * per-recipient links — but with the values the template marks secret (a
   * password-reset link) masked: an admin page never shows them.
   */
  async function render(message: MessageDetail) {
    const links = learnerLinks(deps.signer, deps.config.publicUrl, message)
    // An announcement's body lives in the database: compiled (once) before the synchronous render.
    const announcement = message.notification === ANNOUNCEMENT_NOTIFICATION ? announcementOf(message.variables) : undefined
    if (announcement) await deps.renderer.ensure(announcement.id, announcement.version, [message.locale])
    const rendered = deps.renderer.render(message.notification, {
      locale: message.locale,
      timeZone: message.recipientId ? ((message.variables.user as { timezone?: string } | undefined)?.timezone ?? null) : null,
      variables: maskSecrets(message.variables, deps.templates.secrets(message.notification)),
      context: { ...context, links },
    })
    return { rendered, links }
  }

  function notFound(session: { email: string; csrfToken: string }) {
    return html(
      <AdminLayout {...shellFor(session)} title="Not found">
        <p>
          There is no such message. <a href="/admin/messages">Back to all messages</a>
        </p>
      </AdminLayout>,
      404,
    )
  }

  return new Elysia({ name: 'admin-ops' })
    .use(adminGuard(auth))
    .get('/admin', async ({ session }) => {
      const insecure = deps.config.publicUrl.startsWith('https://') ? undefined : { publicUrl: deps.config.publicUrl }
      return html(<DashboardPage {...shellFor(signedIn(session))} current="/admin" data={await dashboardData()} insecure={insecure} />)
    })
    .get(LIVE_PATH, async () => html(<DashboardLive data={await dashboardData()} />))
    .get('/admin/messages', async ({ session, query }) => {
      const q = query as Query
      const fields: MessageFilterFields = {
        state: one(q.state, 40),
        notification: one(q.notification, 100),
        email: one(q.email),
        course: one(q.course, 200),
        from: one(q.from, 40),
        to: one(q.to, 40),
      }
      const from = parseUtc(fields.from)
      const to = parseUtc(fields.to)
      const state = (messageStates as readonly string[]).includes(fields.state) ? (fields.state as MessageState) : undefined
      const page = pageOf(q)
      const [list, notifications] = await Promise.all([
        listMessages(
          db,
          {
            state,
            notification: fields.notification || undefined,
            email: fields.email || undefined,
            courseId: fields.course || undefined,
            from: from ?? undefined,
            to: to ?? undefined,
          },
          { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE },
        ),
        knownNotifications(db),
      ])
      const error =
        from === null || to === null ? 'A date could not be read; it was left out of the filter. Use YYYY-MM-DDTHH:MM.' : undefined
      return html(
        <MessagesPage
          {...shellFor(signedIn(session))}
          filter={fields}
          states={messageStates}
          notifications={notifications}
          rows={list.rows}
          page={page}
          more={list.more}
          query={cleanQuery({ ...fields })}
          error={error}
        />,
        200,
        { vary: 'HX-Request' },
      )
    })
    .get('/admin/messages/:id', async ({ session, params }) => {
      const admin = signedIn(session)
      if (!UUID.test(params.id)) return notFound(admin)
      const message = await findMessage(db, params.id)
      if (!message) return notFound(admin)
      const attempts = await attemptsOf(db, message.id)
      let text: { ok: true; body: string } | { ok: false; error: string }
      let subject = message.subject
      let listUnsubscribe: Record<string, string> = {}
      try {
        const { rendered, links } = await render(message)
        text = { ok: true, body: rendered.text }
        subject ??= rendered.subject
        listUnsubscribe = unsubscribeHeaders(links)
      } catch (error) {
        text = { ok: false, error: `This message cannot be rendered now: ${(error as Error).message}` }
      }
      const headers: [string, string][] = [
        ['From', deps.config.mailFrom],
        ['To', message.toName ? `${message.toName} <${message.toAddress}>` : message.toAddress],
        ['Subject', subject ?? '—'],
        ['Message-ID', message.messageIdHeader],
        ...Object.entries(listUnsubscribe),
      ]
      return html(
        <MessagePage
          {...shellFor(admin)}
          message={message}
          event={
            message.event && {
              id: message.event.id,
              type: message.event.type,
              webhookId: message.event.webhookId,
              receivedAt: message.event.receivedAt,
              payload: JSON.stringify(maskSecrets(message.event.data, deps.templates.secrets(message.notification)), null, 2),
            }
          }
          attempts={attempts}
          headers={headers}
          text={text}
          csrfToken={admin.csrfToken}
        />,
      )
    })
    .get('/admin/messages/:id/preview', async ({ params }) => {
      const message = UUID.test(params.id) ? await findMessage(db, params.id) : undefined
      if (!message) return new Response('No such message.', { status: 404, headers: { ...PREVIEW_HEADERS, 'content-type': 'text/plain; charset=utf-8' } })
      try {
        return new Response((await render(message)).rendered.html, { headers: PREVIEW_HEADERS })
      } catch (error) {
        const page = (
          <html lang="en">
            <head>
              <title>Preview unavailable</title>
            </head>
            <body>
              <p safe>{`This message cannot be rendered now: ${(error as Error).message}`}</p>
            </body>
          </html>
        ) as string
        return new Response(`<!doctype html>${page}`, { status: 200, headers: PREVIEW_HEADERS })
      }
    })
    .get('/admin/dead-letters', async ({ session, query }) => {
      const q = query as Query
      const fields: DeadLetterFilterFields = {
        notification: one(q.notification, 100),
        email: one(q.email),
        from: one(q.from, 40),
        to: one(q.to, 40),
      }
      const { filter, error } = readDeadFilter(fields)
      const page = pageOf(q)
      const [list, notifications] = await Promise.all([
        listDeadLetters(db, filter, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE }),
        knownNotifications(db),
      ])
      const doneVerb = one(q.done, 20)
      const count = Number.parseInt(one(q.n, 10), 10) || 0
      const done = DONE_TEXT[doneVerb]?.(count)
      return html(
        <DeadLettersPage
          {...shellFor(signedIn(session))}
          filter={fields}
          notifications={notifications}
          rows={list.rows}
          total={list.total}
          page={page}
          more={list.more}
          query={cleanQuery({ ...fields })}
          csrfToken={signedIn(session).csrfToken}
          done={done}
          error={error}
        />,
      )
    })
    .post('/admin/dead-letters/action', async ({ session, body }) => {
      const admin = signedIn(session)
      const form = (body ?? {}) as Record<string, unknown>
      const op = one(form.op, 100)
      const fields: DeadLetterFilterFields = {
        notification: one(form.filter_notification, 100),
        email: one(form.filter_email),
        from: one(form.filter_from, 40),
        to: one(form.filter_to, 40),
      }
      const listUrl = (extra: Record<string, string> = {}) => {
        const q = cleanQuery({ ...fields, ...extra })
        return q.size ? `/admin/dead-letters?${q}` : '/admin/dead-letters'
      }
      const back = one(form.back, 500)

      const single = /^(retry|discard):(.+)$/.exec(op)
      const verb = (single?.[1] ?? /^(retry|discard)-(selected|all)$/.exec(op)?.[1]) as 'retry' | 'discard' | undefined
      const scope = single ? 'one' : op.endsWith('-all') ? 'all' : 'selected'
      if (!verb) return new Response('Unknown action.', { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' } })

      let filter: DeadLetterFilter
      let target: string
      if (scope === 'all') {
        filter = readDeadFilter(fields).filter
        target = 'filter'
      } else {
        const ids = (single ? [single[2]!] : many(form.ids)).filter((id) => UUID.test(id)).slice(0, 1000)
        if (ids.length === 0) return redirect(listUrl({ done: 'none' }))
        filter = { ids }
        target = ids.length === 1 ? ids[0]! : 'selection'
      }

      // Retrying one message needs no second thought; everything else is confirmed first.
      const needsConfirm = !(scope === 'one' && verb === 'retry')
      if (needsConfirm && one(form.confirmed) !== 'yes') {
        const { total } = await listDeadLetters(db, filter, { limit: 0, offset: 0 })
        const what =
          scope === 'all'
            ? `all ${total} dead ${total === 1 ? 'letter' : 'letters'} matching the filter`
            : scope === 'one'
              ? 'this dead letter'
              : `the ${total} selected dead ${total === 1 ? 'letter' : 'letters'}`
        const passOn: [string, string][] = [['op', op]]
        if ('ids' in filter && !single) for (const id of filter.ids) passOn.push(['ids', id])
        for (const [name, value] of Object.entries(fields)) if (value) passOn.push([`filter_${name}`, value])
        if (back) passOn.push(['back', back])
        return html(
          <ConfirmActionPage
            {...shellFor(admin)}
            verb={verb}
            what={what}
            count={total}
            fields={passOn}
            csrfToken={admin.csrfToken}
            cancel={back ? safeNext(back) : listUrl()}
          />,
        )
      }

      const changed = await db.transaction(async (tx) => {
        const ids = verb === 'retry' ? await requeueDead(tx, filter) : await discardDead(tx, filter)
        await recordAudit(tx, {
          adminId: admin.adminId,
          adminEmail: admin.email,
          action: `dead_letters.${verb}`,
          target,
          detail: {
            count: ids.length,
            scope,
            ids: ids.slice(0, 100),
            ...(scope === 'all' ? { filter: Object.fromEntries(Object.entries(fields).filter(([, v]) => v)) } : {}),
          },
        })
        if (verb === 'retry' && ids.length > 0) await notifyWorkers(tx)
        return ids
      })
      deps.log.info(`dead letters ${verb === 'retry' ? 'retried' : 'discarded'}`, { admin: admin.email, count: changed.length, scope })
      return redirect(back ? safeNext(back) : listUrl({ done: verb, n: String(changed.length) }))
    })
}
