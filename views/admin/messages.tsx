// The message browser (a GET form of filters over a paged table; htmx
// swaps just the results, the same form works without JavaScript) and one
// message: its fields, its event, every attempt, the rendered email in a
// sandboxed frame, its text part and its headers.

import { Html } from '@elysiajs/html'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'
import type { MessageListRow } from '../../src/admin/queries-ops.ts'
import { attr, Pager, StateBadge, Time } from './ops-format.tsx'

/** One row of a message list (type only: views never load the database). */
export type ListRow = MessageListRow

/** The filter as the form shows it: exactly what was typed, as strings. */
export interface MessageFilterFields {
  state: string
  notification: string
  email: string
  course: string
  from: string
  to: string
}

export interface MessagesProps {
  filter: MessageFilterFields
  states: readonly string[]
  notifications: readonly string[]
  rows: readonly ListRow[]
  page: number
  more: boolean
  query: URLSearchParams
  /** A filter value that could not be read (a bad date), said next to the form. */
  error?: string | undefined
}

export function MessagesPage(props: AdminShell & MessagesProps): JSX.Element {
  const f = props.filter
  return (
    <AdminLayout {...props} title="Messages" current="/admin/messages">
      <form
        method="get"
        action="/admin/messages"
        class="card filters"
        role="search"
        aria-label="Filter messages"
        hx-get="/admin/messages"
        hx-target="#results"
        hx-select="#results"
        hx-swap="outerHTML"
        hx-push-url="true"
      >
        <div class="field">
          <label for="f-state">State</label>
          <select id="f-state" name="state">
            <option value="">Any</option>
            {props.states.map((s) => (
              <option value={s} selected={s === f.state} safe>
                {s}
              </option>
            ))}
          </select>
        </div>
        <NotificationField value={f.notification} choices={props.notifications} />
        <div class="field">
          <label for="f-email">Recipient email contains</label>
          <input id="f-email" name="email" type="search" value={attr(f.email)} autocomplete="off" />
        </div>
        <div class="field">
          <label for="f-course">Course id</label>
          <input id="f-course" name="course" type="text" value={attr(f.course)} autocomplete="off" />
        </div>
        <TimeRangeFields from={f.from} to={f.to} />
        <div class="field actions">
          <button type="submit" class="primary">
            Filter
          </button>
          <a href="/admin/messages">Clear</a>
        </div>
        {props.error ? (
          <p class="error" role="alert" safe>
            {props.error}
          </p>
        ) : (
          ''
        )}
      </form>
      <MessageResults {...props} />
    </AdminLayout>
  )
}

export function NotificationField({ value, choices }: { value: string; choices: readonly string[] }): JSX.Element {
  return (
    <div class="field">
      <label for="f-notification">Notification</label>
      <select id="f-notification" name="notification">
        <option value="">Any</option>
        {choices.map((n) => (
          <option value={n} selected={n === value} safe>
            {n}
          </option>
        ))}
        {value && !choices.includes(value) ? (
          <option value={attr(value)} selected safe>
            {value}
          </option>
        ) : (
          ''
        )}
      </select>
    </div>
  )
}

export function TimeRangeFields({ from, to }: { from: string; to: string }): JSX.Element {
  return (
    <>
      <div class="field">
        <label for="f-from">Created from (UTC)</label>
        <input id="f-from" name="from" type="datetime-local" value={attr(from)} />
      </div>
      <div class="field">
        <label for="f-to">Created before (UTC)</label>
        <input id="f-to" name="to" type="datetime-local" value={attr(to)} />
      </div>
    </>
  )
}

function MessageResults(props: MessagesProps): JSX.Element {
  return (
    <section id="results" aria-labelledby="results-heading">
      <h2 id="results-heading" class="visually-hidden">
        Results
      </h2>
      {props.rows.length === 0 ? (
        <p class="empty">No messages match this filter.</p>
      ) : (
        <div class="table-wrap" tabindex="0" role="region" aria-label="Messages table">
          <table class="list">
            <caption safe>{`Messages, newest first — page ${props.page}`}</caption>
            <thead>
              <tr>
                <th scope="col">Created</th>
                <th scope="col">State</th>
                <th scope="col">Notification</th>
                <th scope="col">Recipient</th>
                <th scope="col">Course</th>
                <th scope="col" class="num">
                  Attempts
                </th>
                <th scope="col">Subject or reason</th>
              </tr>
            </thead>
            <tbody>
              {props.rows.map((row) => (
                <tr>
                  <td>
                    <a href={`/admin/messages/${row.id}`}>
                      <Time at={row.createdAt} />
                      <span class="visually-hidden" safe>{`, ${row.notification} to ${row.toAddress}`}</span>
                    </a>
                  </td>
                  <td>
                    <StateBadge state={row.state} />
                  </td>
                  <td safe>{row.notification}</td>
                  <td class="wrap" safe>
                    {row.toAddress}
                  </td>
                  <td safe>{row.courseId ?? ''}</td>
                  <td class="num" safe>
                    {String(row.attempts)}
                  </td>
                  <td class="wrap" safe>
                    {row.subject ?? row.lastError ?? row.reason ?? ''}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager base="/admin/messages" query={props.query} page={props.page} more={props.more} />
    </section>
  )
}

export interface AttemptView {
  attempt: number
  transport: string
  outcome: string
  code: string | null
  response: string | null
  startedAt: Date
  finishedAt: Date
}

export interface MessageProps {
  message: {
    id: string
    state: string
    notification: string
    category: string
    toAddress: string
    toName: string | null
    locale: string
    courseId: string | null
    subjectRef: string | null
    runAt: Date
    attempts: number
    lastError: string | null
    reason: string | null
    sentAt: Date | null
    createdAt: Date
    updatedAt: Date
  }
  event: { id: string; type: string; webhookId: string; receivedAt: Date; payload: string } | null
  attempts: readonly AttemptView[]
  headers: readonly [string, string][]
  /** The text part, or why there is none. */
  text: { ok: true; body: string } | { ok: false; error: string }
  csrfToken: string
}

export function MessagePage(props: AdminShell & MessageProps): JSX.Element {
  const m = props.message
  const fields: [string, JSX.Element][] = [
    ['State', <StateBadge state={m.state} />],
    ['Notification', <span safe>{`${m.notification} (${m.category})`}</span>],
    ['To', <span safe>{m.toName ? `${m.toName} <${m.toAddress}>` : m.toAddress}</span>],
    ['Locale', <span safe>{m.locale}</span>],
    ['Course', <span safe>{m.courseId ?? '—'}</span>],
    ['About', <span safe>{m.subjectRef ?? '—'}</span>],
    ['Created', <Time at={m.createdAt} />],
    ['Due', <Time at={m.runAt} />],
    ['Sent', <Time at={m.sentAt} />],
    ['Last change', <Time at={m.updatedAt} />],
    ['Attempts', <span safe>{String(m.attempts)}</span>],
    ['Last error', <span class="wrap" safe>{m.lastError ?? '—'}</span>],
    ['Reason', <span class="wrap" safe>{m.reason ?? '—'}</span>],
  ]
  return (
    <AdminLayout {...props} title="Message" current="/admin/messages">
      <p>
        <a href="/admin/messages">← All messages</a>
      </p>
      {m.state === 'dead' ? (
        <form method="post" action="/admin/dead-letters/action" class="card inline-actions">
          <CsrfField token={props.csrfToken} />
          <input type="hidden" name="back" value={`/admin/messages/${m.id}`} />
          <p>This message is a dead letter.</p>
          <button type="submit" name="op" value={`retry:${m.id}`} class="primary">
            Retry this message
          </button>
          <button type="submit" name="op" value={`discard:${m.id}`}>
            Discard this message
          </button>
        </form>
      ) : (
        ''
      )}
      <section class="card" aria-labelledby="fields-heading">
        <h2 id="fields-heading">Details</h2>
        <dl class="fields">
          {fields.map(([name, value]) => (
            <>
              <dt safe>{name}</dt>
              <dd>{value}</dd>
            </>
          ))}
        </dl>
      </section>

      <section class="card" aria-labelledby="attempts-heading">
        <h2 id="attempts-heading">Delivery attempts</h2>
        {props.attempts.length === 0 ? (
          <p class="empty">No attempt yet.</p>
        ) : (
          <div class="table-wrap" tabindex="0" role="region" aria-label="Delivery attempts table">
            <table class="list" id="attempts">
              <caption>Every attempt to hand this message to a transport, oldest first</caption>
              <thead>
                <tr>
                  <th scope="col">Attempt</th>
                  <th scope="col">Finished</th>
                  <th scope="col">Transport</th>
                  <th scope="col">Outcome</th>
                  <th scope="col">Code</th>
                  <th scope="col">Response</th>
                </tr>
              </thead>
              <tbody>
                {props.attempts.map((a) => (
                  <tr>
                    <td class="num" safe>
                      {String(a.attempt)}
                    </td>
                    <td>
                      <Time at={a.finishedAt} />
                    </td>
                    <td safe>{a.transport}</td>
                    <td>
                      <StateBadge state={a.outcome} />
                    </td>
                    <td safe>{a.code ?? ''}</td>
                    <td class="wrap" safe>
                      {a.response ?? ''}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <section class="card" aria-labelledby="headers-heading">
        <h2 id="headers-heading">Headers</h2>
        <dl class="fields headers">
          {props.headers.map(([name, value]) => (
            <>
              <dt safe>{name}</dt>
              <dd class="wrap" safe>
                {value}
              </dd>
            </>
          ))}
        </dl>
      </section>

      <section class="card" aria-labelledby="preview-heading">
        <h2 id="preview-heading">Rendered email</h2>
        <p class="ops-note">Rendered now from the message's stored data, in a sandbox: no scripts, no forms.</p>
        <iframe
          class="preview"
          sandbox=""
          src={`/admin/messages/${m.id}/preview`}
          title="Rendered HTML of this email"
          referrerpolicy="no-referrer"
        ></iframe>
        <h3>Text part</h3>
        {props.text.ok ? (
          <pre class="text-part" tabindex="0" aria-label="Text part" safe>
            {props.text.body}
          </pre>
        ) : (
          <p class="error" safe>
            {props.text.error}
          </p>
        )}
      </section>

      <section class="card" aria-labelledby="event-heading">
        <h2 id="event-heading">Event</h2>
        {props.event ? (
          <>
            <dl class="fields">
              <dt>Type</dt>
              <dd safe>{props.event.type}</dd>
              <dt>Webhook id</dt>
              <dd class="wrap" safe>
                {props.event.webhookId}
              </dd>
              <dt>Received</dt>
              <dd>
                <Time at={props.event.receivedAt} />
              </dd>
            </dl>
            <pre class="payload" tabindex="0" aria-label="Event payload" safe>
              {props.event.payload}
            </pre>
          </>
        ) : (
          <p class="empty">This message was not caused by a webhook event (a digest or an alert Belfry raised), or the event has been deleted.</p>
        )}
      </section>
    </AdminLayout>
  )
}
