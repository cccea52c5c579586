// Recipients (search, one person's page) and the suppression list. Plain
// forms that work without JavaScript; with htmx the search swaps the result
// list in place and the suppression forms swap their panel (hx-select picks
// it out of the page the POST redirects to). Props in, HTML out: every value
// from outside is escaped with `safe`.

import { Html } from '@elysiajs/html'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'

/** `2026-12-04 21:05 UTC`: one unambiguous format for an admin on call anywhere. */
export function when(date: Date | string | null | undefined): string {
  if (!date) return '—'
  const d = typeof date === 'string' ? new Date(date) : date
  return `${d.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

export interface Paging {
  page: number
  pageSize: number
  total: number
  /** The page's URL with `page=N` for a given page number. */
  href(page: number): string
}

export function Pager({ paging, label }: { paging: Paging; label: string }): JSX.Element {
  const pages = Math.max(1, Math.ceil(paging.total / paging.pageSize))
  if (pages <= 1) return ''
  return (
    <nav class="pager" aria-label={label}>
      {paging.page > 1 ? (
        <a href={paging.href(paging.page - 1)} rel="prev">
          Previous
        </a>
      ) : (
        ''
      )}
      <span safe>{`Page ${paging.page} of ${pages}`}</span>
      {paging.page < pages ? (
        <a href={paging.href(paging.page + 1)} rel="next">
          Next
        </a>
      ) : (
        ''
      )}
    </nav>
  )
}

/** A one-line result of the last action, in a live region that is there from the start. */
export function Status({ id, message, error }: { id: string; message?: string | undefined; error?: boolean }): JSX.Element {
  return (
    <p id={id} class={error ? 'status error' : 'status'} role="status" safe>
      {message ?? ''}
    </p>
  )
}

export interface RecipientListItem {
  id: string
  lmsUserId: string
  email: string
  name: string | null
  suppressed: boolean
  unsubscribedAt: Date | null
  createdAt: Date
}

export interface RecipientsProps extends AdminShell {
  query: string
  rows: readonly RecipientListItem[]
  paging: Paging
}

export function RecipientsPage({ query, rows, paging, ...shell }: RecipientsProps): JSX.Element {
  return (
    <AdminLayout {...shell} title="Recipients" current="/admin/recipients">
      <p>
        <a href="/admin/suppressions">Suppression list</a>
      </p>
      <form
        method="get"
        action="/admin/recipients"
        role="search"
        class="search"
        hx-get="/admin/recipients"
        hx-trigger="submit, input delay:400ms"
        hx-target="#recipient-results"
        hx-select="#recipient-results"
        hx-swap="outerMorph"
        hx-push-url="true"
      >
        <label for="q">Search by email, name or LMS user id</label>
        <input id="q" name="q" type="search" value={query} autocomplete="off" />
        <button type="submit">Search</button>
      </form>
      <section id="recipient-results" aria-labelledby="results-heading">
        <h2 id="results-heading" safe>
          {query ? `${paging.total} matching “${query}”` : `${paging.total} recipients`}
        </h2>
        {rows.length === 0 ? (
          <p>No recipient matches.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Email</th>
                  <th scope="col">Name</th>
                  <th scope="col">LMS id</th>
                  <th scope="col">Status</th>
                  <th scope="col">First seen</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((r) => (
                  <tr>
                    <td>
                      <a href={`/admin/recipients/${r.id}`} safe>
                        {r.email}
                      </a>
                    </td>
                    <td safe>{r.name ?? ''}</td>
                    <td safe>{r.lmsUserId}</td>
                    <td>{r.suppressed ? 'Suppressed' : r.unsubscribedAt ? 'Unsubscribed from all' : 'Active'}</td>
                    <td safe>{when(r.createdAt)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        <Pager paging={paging} label="Recipient pages" />
      </section>
    </AdminLayout>
  )
}

export interface RecipientProps extends AdminShell {
  csrfToken: string
  recipient: RecipientListItem & { locale: string | null; timezone: string | null }
  suppression: { reason: string; detail: string | null; createdAt: Date } | null
  frequencies: readonly { category: string; frequency: string }[]
  courses: readonly { id: string; title: string; muted: boolean }[]
  messages: readonly {
    id: string
    state: string
    notification: string
    subject: string | null
    reason: string | null
    createdAt: Date
  }[]
  status?: string | undefined
}

export function RecipientPage(props: RecipientProps): JSX.Element {
  const { recipient: r, suppression, csrfToken, frequencies, courses, messages, status, ...shell } = props
  const back = `/admin/recipients/${r.id}`
  return (
    <AdminLayout {...shell} title={r.name ? `${r.name} (${r.email})` : r.email} current="/admin/recipients">
      <p>
        <a href="/admin/recipients">All recipients</a>
      </p>
      <section class="card" aria-labelledby="profile-heading">
        <h2 id="profile-heading">Profile</h2>
        <dl class="facts">
          <dt>Email</dt>
          <dd safe>{r.email}</dd>
          <dt>Name</dt>
          <dd safe>{r.name ?? '—'}</dd>
          <dt>LMS user id</dt>
          <dd safe>{r.lmsUserId}</dd>
          <dt>Locale</dt>
          <dd safe>{r.locale ?? '— (default)'}</dd>
          <dt>Time zone</dt>
          <dd safe>{r.timezone ?? '— (none: no quiet hours)'}</dd>
          <dt>First seen</dt>
          <dd safe>{when(r.createdAt)}</dd>
          <dt>Unsubscribed from all</dt>
          <dd>{r.unsubscribedAt ? `yes, since ${when(r.unsubscribedAt)}` : 'no'}</dd>
        </dl>
      </section>

      <section class="card" id="suppression-panel" aria-labelledby="suppression-heading">
        <h2 id="suppression-heading">Suppression</h2>
        {suppression ? (
          <>
            <p>
              <strong>Suppressed</strong>: nothing at all is sent to this address. Reason{' '}
              <span safe>{suppression.reason}</span>
              {suppression.detail ? (
                <>
                  {' '}
                  (<span safe>{suppression.detail}</span>)
                </>
              ) : (
                ''
              )}
              , since <span safe>{when(suppression.createdAt)}</span>.
            </p>
            <form
              method="post"
              action="/admin/suppressions/lift"
              hx-post="/admin/suppressions/lift"
              hx-target="#suppression-panel"
              hx-select="#suppression-panel"
              hx-swap="outerMorph"
            >
              <CsrfField token={csrfToken} />
              <input type="hidden" name="email" value={r.email} />
              <input type="hidden" name="back" value={back} />
              <button type="submit">Lift the suppression</button>
            </form>
          </>
        ) : (
          <>
            <p>Not suppressed.</p>
            <form
              method="post"
              action="/admin/suppressions"
              class="inline-form"
              hx-post="/admin/suppressions"
              hx-target="#suppression-panel"
              hx-select="#suppression-panel"
              hx-swap="outerMorph"
            >
              <CsrfField token={csrfToken} />
              <input type="hidden" name="email" value={r.email} />
              <input type="hidden" name="back" value={back} />
              <label for="suppress-note">Note (why)</label>
              <input id="suppress-note" name="note" maxlength="500" />
              <button type="submit">Suppress this address</button>
            </form>
          </>
        )}
        <Status id="suppression-status" message={status} />
      </section>

      <section class="card" aria-labelledby="prefs-heading">
        <h2 id="prefs-heading">Preferences</h2>
        <table>
          <caption class="visually-hidden">How often each topic reaches this recipient</caption>
          <thead>
            <tr>
              <th scope="col">Topic</th>
              <th scope="col">Frequency</th>
            </tr>
          </thead>
          <tbody>
            {frequencies.map((f) => (
              <tr>
                <td safe>{f.category}</td>
                <td safe>{f.frequency}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <h3>Courses</h3>
        {courses.length === 0 ? (
          <p>No course mail yet.</p>
        ) : (
          <ul>
            {courses.map((c) => (
              <li>
                <span safe>{c.title}</span>
                {c.muted ? ' — muted' : ''}
              </li>
            ))}
          </ul>
        )}
      </section>

      <section class="card" aria-labelledby="messages-heading">
        <h2 id="messages-heading">Recent messages</h2>
        {messages.length === 0 ? (
          <p>No messages.</p>
        ) : (
          <div class="table-wrap">
            <table>
              <thead>
                <tr>
                  <th scope="col">Created</th>
                  <th scope="col">Notification</th>
                  <th scope="col">Subject</th>
                  <th scope="col">State</th>
                </tr>
              </thead>
              <tbody>
                {messages.map((m) => (
                  <tr>
                    <td>
                      <a href={`/admin/messages/${m.id}`} safe>
                        {when(m.createdAt)}
                      </a>
                    </td>
                    <td safe>{m.notification}</td>
                    <td safe>{m.subject ?? '—'}</td>
                    <td>
                      <span safe>{m.state}</span>
                      {m.reason ? (
                        <>
                          {' '}
                          (<span safe>{m.reason}</span>)
                        </>
                      ) : (
                        ''
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </AdminLayout>
  )
}

export interface SuppressionsProps extends AdminShell {
  csrfToken: string
  query: string
  rows: readonly { email: string; reason: string; detail: string | null; createdAt: Date }[]
  paging: Paging
  status?: string | undefined
  error?: string | undefined
  /** Refill the add form after an error. */
  email?: string | undefined
  note?: string | undefined
  /**
   * Set after a successful add: new ids for the add form's fields, so htmx's
   * morph replaces them (empty) instead of keeping what was typed.
   */
  formKey?: string | undefined
}

export function SuppressionsPage(props: SuppressionsProps): JSX.Element {
  const { csrfToken, query, rows, paging, status, error, email, note, formKey, ...shell } = props
  const fieldId = (name: string) => (formKey ? `${name}-${formKey}` : name)
  const hx = {
    'hx-target': '#suppressions-panel',
    'hx-select': '#suppressions-panel',
    'hx-swap': 'outerMorph',
  }
  return (
    <AdminLayout {...shell} title="Suppressions" current="/admin/recipients">
      <p>
        Nothing at all is sent to a suppressed address, not even a password reset, until it is lifted. Hard bounces
        and complaints add addresses here on their own.
      </p>
      <div id="suppressions-panel">
        <section class="card" aria-labelledby="add-heading">
          <h2 id="add-heading">Suppress an address</h2>
          <form method="post" action="/admin/suppressions" class="stacked" hx-post="/admin/suppressions" {...hx}>
            <CsrfField token={csrfToken} />
            <input type="hidden" name="back" value="/admin/suppressions" />
            <label for={fieldId('suppress-email')}>Email address</label>
            <input
              id={fieldId('suppress-email')}
              name="email"
              type="email"
              required
              maxlength="320"
              value={email ?? ''}
              aria-describedby="suppressions-error"
              autofocus={error || formKey ? true : undefined}
            />
            <label for={fieldId('suppress-note')}>Note (why; shown in the list)</label>
            <input id={fieldId('suppress-note')} name="note" maxlength="500" value={note ?? ''} />
            <button type="submit" class="primary">
              Suppress
            </button>
          </form>
          <p id="suppressions-error" class="error" role="alert" safe>
            {error ?? ''}
          </p>
          <Status id="suppressions-status" message={status} />
        </section>

        <section aria-labelledby="list-heading">
          <h2 id="list-heading" safe>
            {query ? `${paging.total} suppressed matching “${query}”` : `${paging.total} suppressed addresses`}
          </h2>
          <form method="get" action="/admin/suppressions" role="search" class="search">
            <label for="sq">Filter by address</label>
            <input id="sq" name="q" type="search" value={query} />
            <button type="submit">Filter</button>
          </form>
          {rows.length === 0 ? (
            <p>No suppressed address.</p>
          ) : (
            <div class="table-wrap">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Email</th>
                    <th scope="col">Reason</th>
                    <th scope="col">Detail</th>
                    <th scope="col">Since</th>
                    <th scope="col">Action</th>
                  </tr>
                </thead>
                <tbody>
                  {rows.map((row) => (
                    <tr>
                      <td safe>{row.email}</td>
                      <td safe>{row.reason}</td>
                      <td safe>{row.detail ?? ''}</td>
                      <td safe>{when(row.createdAt)}</td>
                      <td>
                        <form method="post" action="/admin/suppressions/lift" hx-post="/admin/suppressions/lift" {...hx}>
                          <CsrfField token={csrfToken} />
                          <input type="hidden" name="email" value={row.email} />
                          <input type="hidden" name="back" value="/admin/suppressions" />
                          <button type="submit" aria-label={`Lift ${row.email}`}>
                            Lift
                          </button>
                        </form>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
          <Pager paging={paging} label="Suppression pages" />
        </section>
      </div>
    </AdminLayout>
  )
}
