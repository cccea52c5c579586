// Settings (issue 4, item 7): admin alert recipients and what each gets, the
// active transport with a test send, the webhook secret (shown once, right
// after it is made), and the `file` transport's mailbox. Each panel's forms
// post with htmx and swap only that panel (hx-select); without JavaScript
// the same forms post and the whole page comes back. Props in, HTML out.

import { Html } from '@elysiajs/html'
import type { Brand } from '../../src/render/brand.ts'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'
import { Pager, Status, when, type Paging } from './people.tsx'

export type EnrollmentMode = 'paid' | 'all' | 'off'

export const ENROLLMENT_LABELS: Record<EnrollmentMode, string> = {
  paid: 'Paid enrollments only',
  all: 'Every enrollment',
  off: 'No enrollments',
}

export const OVERLAP_CHOICES = [
  { hours: 0, label: 'None: the old secret stops working now' },
  { hours: 1, label: '1 hour' },
  { hours: 24, label: '24 hours' },
  { hours: 72, label: '3 days' },
  { hours: 168, label: '7 days' },
] as const

export interface AlertRow {
  email: string
  enrollment: EnrollmentMode
  registrations: boolean
  errors: boolean
}

export interface TestSendResult {
  ok: boolean
  to: string
  code: string
  response: string
}

/** One configured transport as the routing form shows it. */
export interface RouteRow {
  transport: string
  weight: number
  fallback: boolean
  state: 'closed' | 'open' | 'half-open'
  retryAt: Date | null
}

export interface RoutingProps {
  rows: readonly RouteRow[]
  /** An admin's routing is in force, not MAIL_TRANSPORTS / MAIL_FALLBACK. */
  overridden: boolean
  /** What the environment says, for the reset button's label. */
  environment: string
}

const STATE_TEXT = {
  closed: 'Taking mail',
  'half-open': 'Being probed after failures',
  open: 'Resting after failures',
} as const

export interface SettingsProps extends AdminShell {
  csrfToken: string
  alerts: readonly AlertRow[]
  alertStatus?: string | undefined
  alertError?: string | undefined
  transport: { name: string; detail: string | null }
  routing: RoutingProps
  routingStatus?: string | undefined
  brand: { current: Brand; isDefault: boolean; defaultName: string }
  brandStatus?: string | undefined
  brandErrors?: readonly string[] | undefined
  routingError?: string | undefined
  testResult?: TestSendResult | undefined
  testError?: string | undefined
  webhook: {
    managedByEnvironment: boolean
    fingerprint: string
    previous: { fingerprint: string; until: Date } | null
    /** Only in the answer to a rotation: the one time the secret is shown. */
    newSecret?: string | undefined
  }
  webhookError?: string | undefined
  mailboxCount: number | null
  /** Set after an admin was added: fresh ids so htmx's morph empties the add form. */
  formKey?: string | undefined
}

/** A stable id part per address, so a row keeps its ids when another row is removed. */
const rowKey = (email: string) => Array.from(email, (c) => c.charCodeAt(0).toString(16)).join('')

const panel = (id: string) => ({ 'hx-target': `#${id}`, 'hx-select': `#${id}`, 'hx-swap': 'outerMorph' })

export function SettingsPage(props: SettingsProps): JSX.Element {
  const { csrfToken, alerts, transport, webhook, mailboxCount, formKey, ...rest } = props
  const newId = (name: string) => (formKey ? `${name}-${formKey}` : name)
  const shell: AdminShell = { assets: rest.assets, siteName: rest.siteName, admin: rest.admin, current: '/admin/settings' }
  return (
    <AdminLayout {...shell} title="Settings">
      <nav aria-label="Settings sections" class="toc">
        <ul>
          <li>
            <a href="#alerts-panel">Admin alerts</a>
          </li>
          <li>
            <a href="#transport-panel">Transport</a>
          </li>
          <li>
            <a href="#brand-panel">Brand</a>
          </li>
          <li>
            <a href="#webhook-panel">Webhook secret</a>
          </li>
          <li>
            <a href="/admin/settings/mailbox">Mailbox</a>
          </li>
        </ul>
      </nav>

      <section id="alerts-panel" class="card" aria-labelledby="alerts-heading" tabindex="-1">
        <h2 id="alerts-heading">Admin alerts</h2>
        <p class="hint">
          Who gets the admin emails: new registrations, enrollments, and system errors (dead-letter bursts, failing
          transport, errors the LMS reports).
        </p>
        {alerts.length === 0 ? <p>Nobody gets admin alerts.</p> : ''}
        <ul class="alert-list">
          {alerts.map((row) => {
            const i = rowKey(row.email)
            return (
            <li>
              <form method="post" action="/admin/settings/alerts" hx-post="/admin/settings/alerts" {...panel('alerts-panel')}>
                <CsrfField token={csrfToken} />
                <input type="hidden" name="email" value={row.email} />
                <fieldset>
                  <legend safe>{row.email}</legend>
                  <label for={`alert-${i}-enrollment`}>Enrollments</label>
                  <select id={`alert-${i}-enrollment`} name="enrollment">
                    {(Object.keys(ENROLLMENT_LABELS) as EnrollmentMode[]).map((mode) => (
                      <option value={mode} selected={mode === row.enrollment} safe>
                        {ENROLLMENT_LABELS[mode]}
                      </option>
                    ))}
                  </select>
                  <label class="check" for={`alert-${i}-registrations`}>
                    <input type="checkbox" id={`alert-${i}-registrations`} name="registrations" value="on" checked={row.registrations} />
                    New registrations
                  </label>
                  <label class="check" for={`alert-${i}-errors`}>
                    <input type="checkbox" id={`alert-${i}-errors`} name="errors" value="on" checked={row.errors} />
                    System errors
                  </label>
                  <div class="actions">
                    <button type="submit" name="action" value="save">
                      Save
                    </button>
                    <button type="submit" name="action" value="remove" aria-label={`Remove ${row.email}`}>
                      Remove
                    </button>
                  </div>
                </fieldset>
              </form>
            </li>
            )
          })}
        </ul>
        <form method="post" action="/admin/settings/alerts" class="stacked" hx-post="/admin/settings/alerts" {...panel('alerts-panel')}>
          <CsrfField token={csrfToken} />
          <input type="hidden" name="action" value="add" />
          <fieldset>
            <legend>Add a recipient</legend>
            <label for={newId('alert-new-email')}>Email address</label>
            <input
              id={newId('alert-new-email')}
              name="email"
              type="email"
              required
              maxlength="320"
              aria-describedby="alerts-error"
              autofocus={formKey ? true : undefined}
            />
            <label for={newId('alert-new-enrollment')}>Enrollments</label>
            <select id={newId('alert-new-enrollment')} name="enrollment">
              {(Object.keys(ENROLLMENT_LABELS) as EnrollmentMode[]).map((mode) => (
                <option value={mode} selected={mode === 'paid'} safe>
                  {ENROLLMENT_LABELS[mode]}
                </option>
              ))}
            </select>
            <label class="check" for={newId('alert-new-registrations')}>
              <input type="checkbox" id={newId('alert-new-registrations')} name="registrations" value="on" checked />
              New registrations
            </label>
            <label class="check" for={newId('alert-new-errors')}>
              <input type="checkbox" id={newId('alert-new-errors')} name="errors" value="on" checked />
              System errors
            </label>
            <button type="submit" class="primary">
              Add
            </button>
          </fieldset>
        </form>
        <p id="alerts-error" class="error" role="alert" safe>
          {props.alertError ?? ''}
        </p>
        <Status id="alerts-status" message={props.alertStatus} />
      </section>

      <section id="transport-panel" class="card" aria-labelledby="transport-heading" tabindex="-1">
        <h2 id="transport-heading">Transport</h2>
        <dl class="facts">
          <dt>Active transport</dt>
          <dd safe>{transport.name}</dd>
          {transport.detail ? (
            <>
              <dt>{transport.name === 'file' ? 'Writes to' : 'Server'}</dt>
              <dd safe>{transport.detail}</dd>
            </>
          ) : (
            ''
          )}
        </dl>
        <form method="post" action="/admin/settings/transport" hx-post="/admin/settings/transport" {...panel('transport-panel')}>
          <CsrfField token={csrfToken} />
          <div class="table-wrap">
            <table class="list">
              <caption>Where mail goes: each transport's share, and which one takes over when another is resting</caption>
              <thead>
                <tr>
                  <th scope="col">Transport</th>
                  <th scope="col">State</th>
                  <th scope="col">Share (weight)</th>
                  <th scope="col">Fallback</th>
                </tr>
              </thead>
              <tbody>
                {props.routing.rows.map((row) => (
                  <tr>
                    <th scope="row" safe>
                      {row.transport}
                    </th>
                    <td safe>{row.state === 'closed' || !row.retryAt ? STATE_TEXT[row.state] : `${STATE_TEXT[row.state]} until ${when(row.retryAt)}`}</td>
                    <td>
                      <input
                        type="number"
                        name={`weight_${row.transport}`}
                        min="0"
                        max="1000"
                        step="1"
                        required
                        value={String(row.weight)}
                        aria-label={`Share of mail for ${row.transport}`}
                      />
                    </td>
                    <td>
                      <input type="radio" name="fallback" value={row.transport} checked={row.fallback} aria-label={`${row.transport} is the fallback`} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          <p>
            <label>
              <input type="radio" name="fallback" value="" checked={!props.routing.rows.some((r) => r.fallback)} /> No fallback
            </label>
          </p>
          <p class="hint">
            A weight of 0 takes a transport out of the split. Changes reach every Belfry process within 10 seconds.
          </p>
          <button type="submit" name="action" value="save">
            Save routing
          </button>{' '}
          {props.routing.overridden ? (
            <button type="submit" name="action" value="reset" safe>
              {`Back to the environment's (${props.routing.environment})`}
            </button>
          ) : (
            ''
          )}
        </form>
        <p id="routing-error" class="error" role="alert" safe>
          {props.routingError ?? ''}
        </p>
        <Status id="routing-status" message={props.routingStatus} />
        <form method="post" action="/admin/settings/test-email" class="stacked" hx-post="/admin/settings/test-email" {...panel('transport-panel')}>
          <CsrfField token={csrfToken} />
          <label for="test-to">Send a test email to</label>
          <input id="test-to" name="to" type="email" required maxlength="320" value={props.admin?.email ?? ''} />
          <button type="submit">Send test email</button>
        </form>
        {props.testError ? (
          <p class="error" role="alert" safe>
            {props.testError}
          </p>
        ) : (
          ''
        )}
        <div id="test-result" role="status">
          {props.testResult ? (
            <div class={props.testResult.ok ? 'result ok' : 'result error'}>
              <p safe>
                {props.testResult.ok
                  ? `Sent to ${props.testResult.to}.`
                  : `Sending to ${props.testResult.to} failed.`}
              </p>
              <dl class="facts">
                <dt>Code</dt>
                <dd safe>{props.testResult.code}</dd>
                <dt>Response</dt>
                <dd safe>{props.testResult.response}</dd>
              </dl>
            </div>
          ) : (
            ''
          )}
        </div>
      </section>

      <BrandPanel csrfToken={csrfToken} {...props.brand} status={props.brandStatus} errors={props.brandErrors} />

      <section id="webhook-panel" class="card" aria-labelledby="webhook-heading" tabindex="-1">
        <h2 id="webhook-heading">Webhook secret</h2>
        <p class="hint">
          The LMS signs every webhook with this secret (Standard Webhooks). It is shown once, right after it is made.
        </p>
        <dl class="facts">
          <dt>Current secret</dt>
          <dd>
            <code safe>{webhook.fingerprint}</code>
          </dd>
          {webhook.previous ? (
            <>
              <dt>Previous secret</dt>
              <dd>
                <code safe>{webhook.previous.fingerprint}</code> still accepted until <span safe>{when(webhook.previous.until)}</span>
              </dd>
            </>
          ) : (
            ''
          )}
        </dl>
        {webhook.newSecret ? (
          <div class="secret-once" role="status">
            <p>
              <strong>The new secret.</strong> Copy it into the LMS now: it will not be shown again.
            </p>
            <label for="new-secret">New webhook secret</label>
            <input id="new-secret" class="secret" readonly value={webhook.newSecret} autofocus />
          </div>
        ) : (
          ''
        )}
        {webhook.managedByEnvironment ? (
          <p class="notice">
            WEBHOOK_SECRET is set in the environment, so rotation is managed there: change the variable and restart.
          </p>
        ) : (
          <form
            method="post"
            action="/admin/settings/webhook-secret/rotate"
            class="stacked"
            hx-post="/admin/settings/webhook-secret/rotate"
            {...panel('webhook-panel')}
          >
            <CsrfField token={csrfToken} />
            <label for="overlap">Keep accepting the current secret for</label>
            <select id="overlap" name="overlap_hours">
              {OVERLAP_CHOICES.map((choice) => (
                <option value={String(choice.hours)} selected={choice.hours === 24}>
                  {choice.label}
                </option>
              ))}
            </select>
            <button type="submit">Generate a new secret</button>
          </form>
        )}
        {props.webhookError ? (
          <p class="error" role="alert" safe>
            {props.webhookError}
          </p>
        ) : (
          ''
        )}
      </section>

      <section id="mailbox-panel" class="card" aria-labelledby="mailbox-heading">
        <h2 id="mailbox-heading">Mailbox</h2>
        <p>
          <span safe>
            {mailboxCount === null
              ? 'The mailbox holds what the file transport writes.'
              : `${mailboxCount} messages written by the file transport.`}
          </span>{' '}
          <a href="/admin/settings/mailbox">Open the mailbox</a>
        </p>
      </section>
    </AdminLayout>
  )
}

export interface MailboxProps extends AdminShell {
  transportName: string
  entries: readonly { name: string; size: number; modifiedAt: Date }[]
  paging: Paging
}

export function MailboxPage({ transportName, entries, paging, ...shell }: MailboxProps): JSX.Element {
  return (
    <AdminLayout {...shell} title="Mailbox" current="/admin/settings">
      <p>
        <a href="/admin/settings">Settings</a>
      </p>
      {transportName !== 'file' ? (
        <p class="notice" safe>
          {`The active transport is ${transportName}; this lists what the file transport wrote before.`}
        </p>
      ) : (
        ''
      )}
      {entries.length === 0 ? (
        <p>No messages yet.</p>
      ) : (
        <div class="table-wrap">
          <table>
            <caption safe>{`${paging.total} messages, newest first`}</caption>
            <thead>
              <tr>
                <th scope="col">File</th>
                <th scope="col">Written</th>
                <th scope="col">Size</th>
              </tr>
            </thead>
            <tbody>
              {entries.map((entry) => (
                <tr>
                  <td>
                    <a href={`/admin/settings/mailbox/${encodeURIComponent(entry.name)}`} safe>
                      {entry.name}
                    </a>
                  </td>
                  <td safe>{when(entry.modifiedAt)}</td>
                  <td safe>{`${Math.max(1, Math.round(entry.size / 1024))} KiB`}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <Pager paging={paging} label="Mailbox pages" />
    </AdminLayout>
  )
}

export interface MailboxMessageProps extends AdminShell {
  name: string
  subject: string
  headers: readonly { name: string; value: string }[]
  text: string | null
  hasHtml: boolean
}

export function MailboxMessagePage({ name, subject, headers, text, hasHtml, ...shell }: MailboxMessageProps): JSX.Element {
  return (
    <AdminLayout {...shell} title={subject || name} current="/admin/settings">
      <p>
        <a href="/admin/settings/mailbox">Mailbox</a>
      </p>
      <section class="card" aria-labelledby="headers-heading">
        <h2 id="headers-heading">Headers</h2>
        <dl class="facts headers">
          {headers.map((h) => (
            <>
              <dt safe>{h.name}</dt>
              <dd safe>{h.value}</dd>
            </>
          ))}
        </dl>
      </section>
      {hasHtml ? (
        <section class="card" aria-labelledby="html-heading">
          <h2 id="html-heading">HTML part</h2>
          <iframe
            class="mail-preview"
            title="The email's HTML part"
            sandbox=""
            src={`/admin/settings/mailbox/${encodeURIComponent(name)}/html`}
          ></iframe>
        </section>
      ) : (
        ''
      )}
      <section class="card" aria-labelledby="text-heading">
        <h2 id="text-heading">Text part</h2>
        {text === null ? <p>No text part.</p> : <pre class="mail-text" tabindex="0" aria-labelledby="text-heading" safe>{text}</pre>}
      </section>
    </AdminLayout>
  )
}

const COLOURS = [
  { key: 'primary', label: 'Buttons and links' },
  { key: 'text', label: 'Text' },
  { key: 'muted', label: 'Secondary text and footer' },
  { key: 'page', label: 'Page background' },
  { key: 'card', label: 'Card background' },
] as const

/** One brand for every email: checked for contrast before it is saved. */
function BrandPanel(props: {
  csrfToken: string
  current: Brand
  isDefault: boolean
  defaultName: string
  status?: string | undefined
  errors?: readonly string[] | undefined
}): JSX.Element {
  const { current } = props
  return (
    <section id="brand-panel" class="card" aria-labelledby="brand-heading" tabindex="-1">
      <h2 id="brand-heading">Brand</h2>
      <p class="hint">
        Every email's name, logo, colours, font and postal address. Colours must keep text readable (WCAG AA, 4.5:1); dark
        mode keeps its own palette.
      </p>
      <form method="post" action="/admin/settings/brand" class="stacked" hx-post="/admin/settings/brand" {...panel('brand-panel')}>
        <CsrfField token={props.csrfToken} />
        <label for="brand-name">Name in emails</label>
        <input id="brand-name" name="name" type="text" maxlength="100" value={current.name ?? ''} placeholder={props.defaultName} />
        <label for="brand-logo">Logo (an https image URL; shown instead of the name, which becomes its alt text)</label>
        <input id="brand-logo" name="logo_url" type="url" maxlength="500" value={current.logoUrl ?? ''} />
        <fieldset>
          <legend>Colours</legend>
          {COLOURS.map((c) => (
            <p>
              <label for={`brand-${c.key}`}>{c.label}</label>{' '}
              <input id={`brand-${c.key}`} name={c.key} type="color" value={current[c.key]} />
            </p>
          ))}
        </fieldset>
        <label for="brand-font">Font stack</label>
        <input id="brand-font" name="font_stack" type="text" maxlength="200" value={current.fontStack} />
        <label for="brand-address">Postal address in the footer (empty: ORG_POSTAL_ADDRESS)</label>
        <textarea id="brand-address" name="postal_address" rows="3" maxlength="500" safe>
          {'\n' + (current.postalAddress ?? '')}
        </textarea>
        <button type="submit" name="action" value="save" class="primary">
          Save brand
        </button>{' '}
        {props.isDefault ? (
          ''
        ) : (
          <button type="submit" name="action" value="reset">
            Back to the defaults
          </button>
        )}
      </form>
      {props.errors?.length ? (
        <div class="error" role="alert">
          <p>Not saved:</p>
          <ul>
            {props.errors.map((e) => (
              <li safe>{e}</li>
            ))}
          </ul>
        </div>
      ) : (
        ''
      )}
      <Status id="brand-status" message={props.status} />
    </section>
  )
}
