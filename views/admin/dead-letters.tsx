// Dead letters: what failed for good and why, with retry and discard for
// one, a selection, or everything matching the filter. Bulk actions and
// discards go through a confirmation page (a plain form: no JavaScript
// needed); retrying one message does not, it only puts it back in the queue.

import { Html } from '@elysiajs/html'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'
import { NotificationField, TimeRangeFields, type ListRow } from './messages.tsx'
import { attr, Pager, Time } from './ops-format.tsx'

export interface DeadLetterFilterFields {
  notification: string
  email: string
  from: string
  to: string
}

export interface DeadLettersProps {
  filter: DeadLetterFilterFields
  notifications: readonly string[]
  rows: readonly ListRow[]
  total: number
  page: number
  more: boolean
  query: URLSearchParams
  csrfToken: string
  /** What the last action did, from the redirect after it. */
  done?: string | undefined
  error?: string | undefined
}

function FilterHiddenFields({ filter }: { filter: DeadLetterFilterFields }): JSX.Element {
  return (
    <>
      {(Object.entries(filter) as [string, string][])
        .filter(([, value]) => value !== '')
        .map(([name, value]) => (
          <input type="hidden" name={`filter_${name}`} value={attr(value)} />
        ))}
    </>
  )
}

export function DeadLettersPage(props: AdminShell & DeadLettersProps): JSX.Element {
  const f = props.filter
  const filtered = Object.values(f).some((v) => v !== '')
  return (
    <AdminLayout {...props} title="Dead letters" current="/admin/dead-letters">
      <p id="action-status" class="status" role="status" safe>
        {props.done ?? ''}
      </p>
      <form method="get" action="/admin/dead-letters" class="card filters" role="search" aria-label="Filter dead letters">
        <NotificationField value={f.notification} choices={props.notifications} />
        <div class="field">
          <label for="f-email">Recipient email contains</label>
          <input id="f-email" name="email" type="search" value={attr(f.email)} autocomplete="off" />
        </div>
        <TimeRangeFields from={f.from} to={f.to} />
        <div class="field actions">
          <button type="submit" class="primary">
            Filter
          </button>
          <a href="/admin/dead-letters">Clear</a>
        </div>
        {props.error ? (
          <p class="error" role="alert" safe>
            {props.error}
          </p>
        ) : (
          ''
        )}
      </form>

      {props.rows.length === 0 ? (
        <p class="empty">{filtered ? 'No dead letter matches this filter.' : 'No dead letters. Everything that failed has been dealt with.'}</p>
      ) : (
        <form method="post" action="/admin/dead-letters/action" id="dead-letters-form">
          <CsrfField token={props.csrfToken} />
          <FilterHiddenFields filter={f} />
          <div class="bulk-actions card">
            <p safe>{`${props.total} dead ${props.total === 1 ? 'letter matches' : 'letters match'}${filtered ? ' this filter' : ''}.`}</p>
            <button type="submit" name="op" value="retry-selected">
              Retry selected
            </button>
            <button type="submit" name="op" value="discard-selected">
              Discard selected
            </button>
            <button type="submit" name="op" value="retry-all" safe>
              {`Retry all ${props.total} matching`}
            </button>
            <button type="submit" name="op" value="discard-all" safe>
              {`Discard all ${props.total} matching`}
            </button>
          </div>
          <div class="table-wrap" tabindex="0" role="region" aria-label="Dead letters table">
            <table class="list">
              <caption safe>{`Dead letters, newest first — page ${props.page}`}</caption>
              <thead>
                <tr>
                  <th scope="col">Select</th>
                  <th scope="col">Created</th>
                  <th scope="col">Notification</th>
                  <th scope="col">Recipient</th>
                  <th scope="col">Failure reason</th>
                  <th scope="col">Actions</th>
                </tr>
              </thead>
              <tbody>
                {props.rows.map((row, i) => (
                  <tr>
                    <td>
                      <input
                        type="checkbox"
                        name="ids"
                        value={row.id}
                        id={`select-${i}`}
                        aria-label={`Select the ${row.notification} message to ${row.toAddress}`}
                      />
                    </td>
                    <td>
                      <a href={`/admin/messages/${row.id}`}>
                        <Time at={row.createdAt} />
                        <span class="visually-hidden" safe>{`, ${row.notification} to ${row.toAddress}`}</span>
                      </a>
                    </td>
                    <td safe>{row.notification}</td>
                    <td class="wrap" safe>
                      {row.toAddress}
                    </td>
                    <td class="wrap reason">
                      {row.reason ? <code safe>{row.reason}</code> : ''} <span safe>{row.lastError ?? ''}</span>
                    </td>
                    <td class="row-actions">
                      <button type="submit" name="op" value={`retry:${row.id}`} aria-label={`Retry the message to ${row.toAddress}`}>
                        Retry
                      </button>
                      <button type="submit" name="op" value={`discard:${row.id}`} aria-label={`Discard the message to ${row.toAddress}`}>
                        Discard
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </form>
      )}
      <Pager base="/admin/dead-letters" query={props.query} page={props.page} more={props.more} />
    </AdminLayout>
  )
}

export interface ConfirmProps {
  verb: 'retry' | 'discard'
  /** What will be affected, in words: "3 selected dead letters", "all 12 matching …". */
  what: string
  count: number
  /** Fields to post again with `confirmed=yes`. */
  fields: readonly [string, string][]
  csrfToken: string
  cancel: string
}

export function ConfirmActionPage(props: AdminShell & ConfirmProps): JSX.Element {
  const title = props.verb === 'retry' ? 'Retry dead letters?' : 'Discard dead letters?'
  return (
    <AdminLayout {...props} title={title} current="/admin/dead-letters">
      <form method="post" action="/admin/dead-letters/action" class="card narrow confirm">
        <CsrfField token={props.csrfToken} />
        {props.fields.map(([name, value]) => (
          <input type="hidden" name={name} value={attr(value)} />
        ))}
        <input type="hidden" name="confirmed" value="yes" />
        <p safe>
          {props.verb === 'retry'
            ? `Put ${props.what} back in the queue? ${props.count === 1 ? 'It is' : 'They are'} sent again at once, with the same Message-ID.`
            : `Discard ${props.what}? ${props.count === 1 ? 'It is' : 'They are'} marked cancelled and will not be sent.`}
        </p>
        <div class="actions">
          <button type="submit" class="primary" safe>
            {props.verb === 'retry' ? `Retry ${props.count}` : `Discard ${props.count}`}
          </button>
          <a href={props.cancel}>Cancel</a>
        </div>
      </form>
    </AdminLayout>
  )
}
