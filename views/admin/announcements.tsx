// Announcements: the list, the compose form (segment with its size, live
// preview per locale, test send, send now or at a time in the admin's
// zone), and a sending one's live progress and results. Plain forms that
// work without JavaScript; htmx adds the live parts. Props in, HTML out:
// every value from outside is escaped with `safe`.

import { Html } from '@elysiajs/html'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'
import { duration, StateBadge, Time } from './ops-format.tsx'
import { when } from './people.tsx'

export interface AnnouncementRow {
  id: string
  subject: string
  segment: string
  state: string
  createdAt: Date
  sendAt: Date | null
  expanded: number
}

export function AnnouncementListPage({ rows, ...shell }: AdminShell & { rows: readonly AnnouncementRow[] }): JSX.Element {
  return (
    <AdminLayout {...shell} title="Announcements" current="/admin/announcements">
      <p>
        <a href="/admin/announcements/new">Write an announcement</a>
      </p>
      {rows.length === 0 ? (
        <p>No announcements yet.</p>
      ) : (
        <div class="table-wrap">
          <table class="list">
            <caption>Announcements, newest first</caption>
            <thead>
              <tr>
                <th scope="col">Subject</th>
                <th scope="col">To</th>
                <th scope="col">State</th>
                <th scope="col">Sends at</th>
                <th scope="col">Emails written</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr>
                  <td>
                    <a href={`/admin/announcements/${row.id}`} safe>
                      {row.subject}
                    </a>
                  </td>
                  <td safe>{row.segment}</td>
                  <td>
                    <StateBadge state={row.state} />
                  </td>
                  <td>
                    <Time at={row.sendAt} />
                  </td>
                  <td safe>{String(row.expanded)}</td>
                  <td>
                    <Time at={row.createdAt} />
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </AdminLayout>
  )
}

export interface ComposeForm {
  subject: string
  subjectB: string
  preheader: string
  mjml: string
  text: string
  segment: 'everyone' | 'courses' | 'locale' | 'admins'
  courses: string
  locale: string
}

export interface SegmentSizeView {
  members: number
  optedOut: number
  error?: string | undefined
}

export function SegmentSize({ size }: { size: SegmentSizeView }): JSX.Element {
  return (
    <p id="segment-size" role="status" class="tpl-notice">
      {size.error ? (
        <span safe>{size.error}</span>
      ) : (
        <span safe>
          {`${size.members} ${size.members === 1 ? 'person' : 'people'} in this segment` +
            (size.optedOut ? `; ${size.optedOut} of them opted out or suppressed, and will be skipped` : '')}
        </span>
      )}
    </p>
  )
}

export type PreviewView = { ok: true; subject: string; frameUrl: string; text: string; locale: string } | { ok: false; errors: string[] }

export function AnnouncementPreview({ preview }: { preview: PreviewView }): JSX.Element {
  if (!preview.ok) {
    return (
      <div id="preview-errors" class="tpl-problems" role="alert">
        <h3>This announcement does not compile</h3>
        <ul>
          {preview.errors.map((error) => (
            <li safe>{error}</li>
          ))}
        </ul>
      </div>
    )
  }
  return (
    <div class="tpl-preview-ok">
      <dl class="tpl-facts">
        <dt>Subject</dt>
        <dd id="preview-subject" safe>
          {preview.subject}
        </dd>
        <dt>Layout</dt>
        <dd safe>{preview.locale}</dd>
      </dl>
      <iframe class="tpl-frame" title="The email's HTML part, rendered for a sample learner" sandbox="" src={preview.frameUrl}></iframe>
      <h3>Text part</h3>
      <pre class="tpl-text" tabindex="0" aria-label="The email's text part" safe>
        {preview.text}
      </pre>
    </div>
  )
}

/** The send time as the admin chose it, and in UTC. */
export function SendTime({ local, utc, error }: { local?: string | undefined; utc?: Date | undefined; error?: string | undefined }): JSX.Element {
  return (
    <p id="send-time" role="status" class="tpl-hint" safe>
      {error ?? (utc ? `${local} is ${when(utc)}.` : 'Choose a date and time to see it in UTC.')}
    </p>
  )
}

export interface ComposeProps extends AdminShell {
  csrfToken: string
  /** Absent for a new announcement. */
  id?: string | undefined
  state?: string | undefined
  form: ComposeForm
  size: SegmentSizeView
  preview: PreviewView
  locales: readonly string[]
  previewLocale: string
  timeZones: readonly string[]
  scheduled?: { local: string; utc: Date; timeZone: string } | undefined
  notice?: string | undefined
  errors?: readonly string[] | undefined
}

export function ComposePage(props: ComposeProps): JSX.Element {
  const { csrfToken, id, state, form, size, preview, locales, previewLocale, timeZones, scheduled, notice, errors, ...shell } = props
  const action = id ? `/admin/announcements/${id}` : '/admin/announcements'
  return (
    <AdminLayout {...shell} title={id ? `Announcement: ${form.subject}` : 'New announcement'} current="/admin/announcements">
      <p>
        <a href="/admin/announcements">All announcements</a>
        {state ? (
          <span>
            {' '}
            · <StateBadge state={state} />
          </span>
        ) : (
          ''
        )}
      </p>
      {notice ? (
        <p class="tpl-notice" role="status" id="notice" safe>
          {notice}
        </p>
      ) : (
        ''
      )}
      {errors?.length ? (
        <div id="form-errors" class="tpl-problems" role="alert">
          <h3>Not saved</h3>
          <ul>
            {errors.map((error) => (
              <li safe>{error}</li>
            ))}
          </ul>
        </div>
      ) : (
        ''
      )}
      {scheduled ? (
        <p id="scheduled" safe>
          {`Scheduled for ${scheduled.local} (${scheduled.timeZone}), which is ${when(scheduled.utc)}.`}
        </p>
      ) : (
        ''
      )}
      <div class="tpl-editor">
        <form
          id="compose"
          method="post"
          action={action}
          class="tpl-form"
          hx-post="/admin/announcements/preview"
          hx-trigger="input delay:500ms"
          hx-target="#preview"
          hx-swap="innerHTML"
          hx-sync="this:replace"
        >
          <CsrfField token={csrfToken} />
          <label for="subject">Subject</label>
          <input id="subject" name="subject" type="text" required maxlength="500" value={form.subject} />
          <label for="subject_b">Subject B (optional A/B test)</label>
          <input id="subject_b" name="subject_b" type="text" maxlength="500" value={form.subjectB} aria-describedby="subject-b-hint" />
          <p id="subject-b-hint" class="tpl-hint">
            With a second subject, half the recipients get each; the results compare them.
          </p>
          <label for="preheader">Preheader (optional)</label>
          <input id="preheader" name="preheader" type="text" maxlength="500" value={form.preheader} />
          <fieldset
            hx-post="/admin/announcements/segment-size"
            hx-trigger="change, input delay:500ms"
            hx-target="#segment-size"
            hx-swap="outerHTML"
            hx-include="closest form"
          >
            <legend>Send to</legend>
            {(
              [
                ['everyone', 'Every learner'],
                ['courses', 'Learners of these courses'],
                ['locale', 'Learners reading this language'],
                ['admins', 'Admins only'],
              ] as const
            ).map(([value, label]) => (
              <label class="tpl-inline">
                <input type="radio" name="segment" value={value} checked={form.segment === value} /> <span>{label}</span>
              </label>
            ))}
            <label for="courses">Course ids (as your LMS sends them; commas between)</label>
            <input id="courses" name="courses" type="text" maxlength="5000" value={form.courses} />
            <label for="locale">Language tag</label>
            <input id="locale" name="locale" type="text" maxlength="35" value={form.locale} placeholder="fr" />
            <SegmentSize size={size} />
          </fieldset>
          <label for="mjml">MJML body</label>
          <textarea id="mjml" name="mjml" rows="14" spellcheck="false" aria-describedby="mjml-hint" safe>
            {'\n' + form.mjml}
          </textarea>
          <p id="mjml-hint" class="tpl-hint">
            The email's card, inside the shared layout with its header and footer (unsubscribe link and postal address).{' '}
            <code>{'{{user.name}}'}</code> and the other template placeholders work here.
          </p>
          <label for="text">Text part</label>
          <textarea id="text" name="text" rows="8" safe>
            {'\n' + form.text}
          </textarea>
          <label for="preview_locale">Preview in</label>
          <select id="preview_locale" name="preview_locale">
            {locales.map((locale) => (
              <option value={locale} selected={locale === previewLocale} safe>
                {locale}
              </option>
            ))}
          </select>
          <div class="tpl-actions">
            <button type="submit" class="primary">
              {id ? 'Save changes' : 'Save draft'}
            </button>
          </div>
          {id ? (
            <fieldset class="tpl-test">
              <legend>Send a test</legend>
              <label for="test_to">To</label>
              <input id="test_to" name="test_to" type="email" maxlength="320" />
              <button type="submit" formaction={`/admin/announcements/${id}/test`}>
                Send a test of the saved version
              </button>
            </fieldset>
          ) : (
            ''
          )}
        </form>
        <section class="tpl-preview" aria-labelledby="preview-heading">
          <h2 id="preview-heading">Preview</h2>
          <div id="preview">
            <AnnouncementPreview preview={preview} />
          </div>
        </section>
      </div>
      {id ? (
        <form
          id="send"
          method="post"
          action={`/admin/announcements/${id}/send`}
          class="tpl-form"
          hx-post="/admin/announcements/send-time"
          hx-trigger="change, input delay:300ms"
          hx-target="#send-time"
          hx-swap="outerHTML"
        >
          <h2>Send</h2>
          <CsrfField token={csrfToken} />
          <label class="tpl-inline">
            <input type="radio" name="when" value="now" checked /> Now
          </label>
          <label class="tpl-inline">
            <input type="radio" name="when" value="later" /> At
          </label>
          <label for="send_at">Date and time</label>
          <input id="send_at" name="send_at" type="datetime-local" />
          <label for="time_zone">In time zone</label>
          <input id="time_zone" name="time_zone" type="text" list="time-zones" value={scheduled?.timeZone ?? 'UTC'} maxlength="64" />
          <datalist id="time-zones">
            {timeZones.map((zone) => (
              <option value={zone}></option>
            ))}
          </datalist>
          <SendTime />
          <div class="tpl-actions">
            <button type="submit" class="primary">
              Send the saved version
            </button>
          </div>
        </form>
      ) : (
        ''
      )}
    </AdminLayout>
  )
}

export interface ProgressView {
  id: string
  state: string
  total: number
  expanded: number
  queued: number
  sent: number
  skipped: number
  failed: number
  /** 0–100. */
  percent: number
  etaMs: number | null
  live: boolean
}

/** Polls itself while the announcement is going out; the last answer has no trigger, so polling stops. */
export function ProgressPanel({ progress }: { progress: ProgressView }): JSX.Element {
  const counts: [string, number][] = [
    ['In the segment', progress.total],
    ['Emails written', progress.expanded],
    ['Waiting to go out', progress.queued],
    ['Sent', progress.sent],
    ['Skipped', progress.skipped],
    ['Failed', progress.failed],
  ]
  return (
    <section id="progress" aria-labelledby="progress-heading">
      <h2 id="progress-heading">Progress</h2>
      <p>
        <label for="progress-bar">Done</label>{' '}
        <progress id="progress-bar" max="100" value={String(progress.percent)} safe>
          {`${progress.percent}%`}
        </progress>{' '}
        <span id="progress-percent" safe>{`${progress.percent}%`}</span> · <StateBadge state={progress.state} />
      </p>
      <dl class="tpl-facts">
        {counts.map(([label, value]) => (
          <>
            <dt safe>{label}</dt>
            <dd safe>{String(value)}</dd>
          </>
        ))}
        {progress.live ? (
          <>
            <dt>Time left</dt>
            <dd safe>{progress.etaMs === null ? '—' : `about ${duration(progress.etaMs)}`}</dd>
          </>
        ) : (
          ''
        )}
      </dl>
    </section>
  )
}

export interface ResultRow {
  variant: string
  subject: string
  sent: number
  delivered: number
  humanOpens: number
  clicks: number
  unsubscribes: number
  bounced: number
}

/** What changes while an announcement goes out: progress, the actions its state allows, results, skip reasons. */
export interface SendingLiveProps {
  csrfToken: string
  id: string
  state: string
  progress: ProgressView
  results: readonly ResultRow[]
  reasons: readonly [string, number][]
}

export interface SendingProps extends AdminShell, SendingLiveProps {
  subject: string
  segment: string
  sendAt: Date | null
  notice?: string | undefined
}

export function SendingPage(props: SendingProps): JSX.Element {
  const { subject, segment, sendAt, notice, ...rest } = props
  const { csrfToken, id, state, progress, results, reasons, ...shell } = rest
  return (
    <AdminLayout {...shell} title={`Announcement: ${subject}`} current="/admin/announcements">
      <p>
        <a href="/admin/announcements">All announcements</a>
      </p>
      {notice ? (
        <p class="tpl-notice" role="status" id="notice" safe>
          {notice}
        </p>
      ) : (
        ''
      )}
      <dl class="tpl-facts">
        <dt>To</dt>
        <dd safe>{segment}</dd>
        <dt>Started</dt>
        <dd>
          <Time at={sendAt} />
        </dd>
      </dl>
      <SendingLive csrfToken={csrfToken} id={id} state={state} progress={progress} results={results} reasons={reasons} />
    </AdminLayout>
  )
}

/**
 * Replaced whole every second while the announcement is live (htmx), so the
 * buttons follow its state and the results fill in; once it has finished
 * the answer carries no trigger and the polling stops.
 */
export function SendingLive(props: SendingLiveProps): JSX.Element {
  const { csrfToken, id, state, progress, results, reasons } = props
  const action = (verb: string, label: string) => (
    <form method="post" action={`/admin/announcements/${id}/${verb}`} class="tpl-inline">
      <CsrfField token={csrfToken} />
      <button type="submit" safe>
        {label}
      </button>
    </form>
  )
  const poll = progress.live ? { 'hx-get': `/admin/announcements/${id}/progress`, 'hx-trigger': 'every 1s', 'hx-swap': 'outerHTML' } : {}
  // Every email written (`done`) is not every email sent: the last batch may still be waiting.
  const stillGoing = state === 'done' && progress.queued > 0
  return (
    <div id="sending-live" {...poll}>
      <ProgressPanel progress={progress} />
      <div class="tpl-actions">
        {state === 'sending' || state === 'scheduled' || stillGoing ? action('pause', 'Pause') : ''}
        {state === 'paused' ? action('resume', 'Resume') : ''}
        {state === 'sending' || state === 'paused' || state === 'scheduled' || stillGoing ? action('cancel', 'Cancel the rest') : ''}
      </div>
      <h2>Results</h2>
      <div class="table-wrap">
        <table class="list">
          <caption>Sent emails and what became of them{results.length > 1 ? ', per A/B variant' : ''}</caption>
          <thead>
            <tr>
              <th scope="col">Variant</th>
              <th scope="col">Subject</th>
              <th scope="col">Sent</th>
              <th scope="col">Delivered</th>
              <th scope="col">Opens</th>
              <th scope="col">Clicks</th>
              <th scope="col">Unsubscribes</th>
              <th scope="col">Bounces</th>
            </tr>
          </thead>
          <tbody>
            {results.map((row) => (
              <tr>
                <th scope="row" safe>
                  {row.variant}
                </th>
                <td safe>{row.subject}</td>
                <td safe>{String(row.sent)}</td>
                <td safe>{String(row.delivered)}</td>
                <td safe>{String(row.humanOpens)}</td>
                <td safe>{String(row.clicks)}</td>
                <td safe>{String(row.unsubscribes)}</td>
                <td safe>{String(row.bounced)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p class="tpl-hint">Opens and clicks count people, not mail proxies or link scanners. Unsubscribes: within 7 days of the email.</p>
      {reasons.length ? (
        <>
          <h3>Not sent, and why</h3>
          <ul id="skip-reasons">
            {reasons.map(([reason, count]) => (
              <li safe>{`${reason}: ${count}`}</li>
            ))}
          </ul>
        </>
      ) : (
        ''
      )}
    </div>
  )
}
