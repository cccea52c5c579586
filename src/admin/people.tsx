// Recipients and suppressions (issue 4, item 6):
//
//   GET  /admin/recipients            search by email, name or LMS id; paginated
//   GET  /admin/recipients/:id        profile, preferences, recent messages, suppression
//   GET  /admin/suppressions          the suppression list and a form to add one
//   POST /admin/suppressions          suppress an address (reason `manual`, a note)
//   POST /admin/suppressions/lift     lift one
//
// Every POST is audited and answers 303 back to the page it came from (a
// `back` field limited to these pages), so a plain form and htmx (fetch
// follows the redirect; hx-select picks the panel) share one path.

import { randomBytes } from 'node:crypto'
import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import { AdminLayout } from '../../views/admin/layout.tsx'
import { RecipientPage, RecipientsPage, SuppressionsPage, type Paging } from '../../views/admin/people.tsx'
import { LEARNER_CATEGORIES } from '../preferences/categories.ts'
import { addSuppression, getPreferenceView, liftSuppression } from '../preferences/queries.ts'
import { adminGuard, html, redirect, signedIn, type AdminDeps } from './http.ts'
import { recordAudit } from './queries.ts'
import { findRecipient, findSuppression, listSuppressions, recentMessagesOf, searchRecipients } from './queries-people.ts'

export const PAGE_SIZE = 25
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/

export function pageNumber(raw: unknown): number {
  const n = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : 1
  return Math.max(1, n)
}

/** Where a suppression form may send the admin back to: the list, or one recipient's page. */
function backTo(raw: unknown): string {
  return typeof raw === 'string' && (raw === '/admin/suppressions' || /^\/admin\/recipients\/[0-9a-f-]{36}$/i.test(raw))
    ? raw
    : '/admin/suppressions'
}

const DONE_MESSAGES: Record<string, (email: string) => string> = {
  added: (email) => `${email} is suppressed: nothing will be sent to it.`,
  already: (email) => `${email} was already suppressed.`,
  lifted: (email) => `The suppression of ${email} is lifted.`,
  'not-suppressed': (email) => `${email} was not suppressed.`,
}

function doneMessage(query: Record<string, string | undefined>): string | undefined {
  const make = query.done ? DONE_MESSAGES[query.done] : undefined
  return make ? make(String(query.email ?? '').slice(0, 320)) : undefined
}

export function adminNotFound(deps: AdminDeps, admin: { email: string; csrfToken: string }, what: string): Response {
  return html(
    <AdminLayout assets={deps.assets} siteName={deps.siteName} admin={admin} title="Not found">
      <p safe>{`No such ${what}.`}</p>
    </AdminLayout>,
    404,
  )
}

const suppressionForm = t.Object({
  email: t.Optional(t.String({ maxLength: 320 })),
  note: t.Optional(t.String({ maxLength: 500 })),
  back: t.Optional(t.String({ maxLength: 200 })),
  _csrf: t.Optional(t.String()),
})

export function peopleRoutes(deps: AdminDeps) {
  const { db } = deps
  const shellFor = (session: { email: string; csrfToken: string }, current = '/admin/recipients') => ({
    assets: deps.assets,
    siteName: deps.siteName,
    admin: { email: session.email, csrfToken: session.csrfToken },
    current,
  })

  return new Elysia({ name: 'admin-people' })
    .use(adminGuard(deps.auth))
    .get('/admin/recipients', async ({ session, query }) => {
      const admin = signedIn(session)
      const q = String(query.q ?? '').slice(0, 200)
      const page = pageNumber(query.page)
      const { rows, total } = await searchRecipients(db, q, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE })
      const paging: Paging = {
        page,
        pageSize: PAGE_SIZE,
        total,
        href: (n) => `/admin/recipients?${new URLSearchParams({ q, page: String(n) })}`,
      }
      return html(<RecipientsPage {...shellFor(admin)} query={q} rows={rows} paging={paging} />)
    })
    .get('/admin/recipients/:id', async ({ session, params, query }) => {
      const admin = signedIn(session)
      if (!UUID.test(params.id)) return adminNotFound(deps, admin, 'recipient')
      const [recipient, view, messages] = await Promise.all([
        findRecipient(db, params.id),
        getPreferenceView(db, params.id),
        recentMessagesOf(db, params.id),
      ])
      if (!recipient || !view) return adminNotFound(deps, admin, 'recipient')
      const suppression = await findSuppression(db, recipient.email)
      return html(
        <RecipientPage
          {...shellFor(admin)}
          csrfToken={admin.csrfToken}
          recipient={recipient}
          suppression={suppression ?? null}
          frequencies={LEARNER_CATEGORIES.map((category) => ({ category, frequency: view.frequencies[category] }))}
          courses={view.courses}
          messages={messages}
          status={doneMessage(query)}
        />,
      )
    })
    .get('/admin/suppressions', async ({ session, query }) => {
      const admin = signedIn(session)
      const q = String(query.q ?? '').slice(0, 200)
      const page = pageNumber(query.page)
      const { rows, total } = await listSuppressions(db, q, { limit: PAGE_SIZE, offset: (page - 1) * PAGE_SIZE })
      const paging: Paging = {
        page,
        pageSize: PAGE_SIZE,
        total,
        href: (n) => `/admin/suppressions?${new URLSearchParams({ q, page: String(n) })}`,
      }
      return html(
        <SuppressionsPage
          {...shellFor(admin)}
          csrfToken={admin.csrfToken}
          query={q}
          rows={rows}
          paging={paging}
          status={doneMessage(query)}
          formKey={query.done === 'added' || query.done === 'already' ? randomBytes(4).toString('hex') : undefined}
        />,
      )
    })
    .post(
      '/admin/suppressions',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const email = (body.email ?? '').trim().toLowerCase()
        const note = body.note?.trim() || null
        const back = backTo(body.back)
        if (!EMAIL.test(email)) {
          const { rows, total } = await listSuppressions(db, '', { limit: PAGE_SIZE, offset: 0 })
          const paging: Paging = { page: 1, pageSize: PAGE_SIZE, total, href: (n) => `/admin/suppressions?page=${n}` }
          return html(
            <SuppressionsPage
              {...shellFor(admin)}
              csrfToken={admin.csrfToken}
              query=""
              rows={rows}
              paging={paging}
              error="Enter an email address such as name@example.org."
              email={body.email}
              note={body.note}
            />,
            422,
          )
        }
        const existing = await findSuppression(db, email)
        if (!existing) {
          await db.transaction(async (tx) => {
            await addSuppression(tx, email, 'manual', note ?? undefined)
            await recordAudit(tx, {
              adminId: admin.adminId,
              adminEmail: admin.email,
              action: 'suppression.add',
              target: email,
              detail: { reason: 'manual', note },
            })
          })
        }
        return redirect(`${back}?${new URLSearchParams({ done: existing ? 'already' : 'added', email })}`)
      },
      { body: suppressionForm },
    )
    .post(
      '/admin/suppressions/lift',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const email = (body.email ?? '').trim().toLowerCase()
        const back = backTo(body.back)
        const existing = await findSuppression(db, email)
        if (existing) {
          await db.transaction(async (tx) => {
            await liftSuppression(tx, email)
            await recordAudit(tx, {
              adminId: admin.adminId,
              adminEmail: admin.email,
              action: 'suppression.lift',
              target: email,
              detail: { reason: existing.reason, detail: existing.detail, since: existing.createdAt.toISOString() },
            })
          })
        }
        return redirect(`${back}?${new URLSearchParams({ done: existing ? 'lifted' : 'not-suppressed', email })}`)
      },
      { body: suppressionForm },
    )
}
