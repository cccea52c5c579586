// The operations dashboard: what the outbox holds now, what went out and
// what failed over the last day, and whether the transport is healthy.
// The live part is its own fragment, polled by htmx every 5 s; it carries
// no live region (a screen reader is not interrupted every 5 s) and
// nothing focusable, so a refresh never moves focus.

import { Html } from '@elysiajs/html'
import { BarChart } from './bar-chart.tsx'
import { AdminLayout, type AdminShell } from './layout.tsx'
import { duration, Time, utc } from './ops-format.tsx'

export interface DashboardData {
  now: Date
  counts: readonly { state: string; lastHour: number; lastDay: number }[]
  hours: readonly { hour: Date; sent: number; failed: number }[]
  oldestQueuedSince: Date | null
  transports: readonly { transport: string; lastSentAt: Date | null; failuresLast15m: number }[]
  currentTransport: string
}

export const LIVE_PATH = '/admin/dashboard/live'

/** PUBLIC_URL, when it is not https: every link in every email (unsubscribe, preferences, tracking) goes out in the clear. */
export interface InsecureUrl {
  publicUrl: string
}

export function DashboardPage(props: AdminShell & { data: DashboardData; insecure?: InsecureUrl | undefined }): JSX.Element {
  return (
    <AdminLayout {...props} title="Dashboard" current="/admin">
      {props.insecure ? (
        <p class="admin-warning" role="alert" id="insecure-public-url">
          <strong>PUBLIC_URL is not https</strong> (<code safe>{props.insecure.publicUrl}</code>): the unsubscribe,
          preference and tracking links in every email travel unencrypted and can be read or changed on the way. Serve
          Belfry behind TLS and set PUBLIC_URL to its https address.
        </p>
      ) : (
        ''
      )}
      <p class="ops-note">Counts refresh every 5 seconds. Times are UTC.</p>
      <div id="live" hx-get={LIVE_PATH} hx-trigger="every 5s" hx-swap="innerMorph">
        <DashboardLive data={props.data} />
      </div>
    </AdminLayout>
  )
}

/** Everything that refreshes: what the polling swaps in. */
export function DashboardLive({ data }: { data: DashboardData }): JSX.Element {
  const waiting = data.oldestQueuedSince ? data.now.getTime() - data.oldestQueuedSince.getTime() : null
  const totalSent = data.hours.reduce((n, h) => n + h.sent, 0)
  const totalFailed = data.hours.reduce((n, h) => n + h.failed, 0)
  return (
    <div class="dashboard">
      <section class="card" aria-labelledby="counts-heading">
        <h2 id="counts-heading">Messages by state</h2>
        <table class="counts">
          <caption>Messages created in each period, by their state now</caption>
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col" class="num">
                Last hour
              </th>
              <th scope="col" class="num">
                Last 24 hours
              </th>
            </tr>
          </thead>
          <tbody>
            {data.counts.map((c) => (
              <tr id={`count-${c.state}`}>
                <th scope="row" safe>
                  {c.state}
                </th>
                <td class="num" data-period="hour" safe>
                  {String(c.lastHour)}
                </td>
                <td class="num" data-period="day" safe>
                  {String(c.lastDay)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        <p id="oldest-queued" class="oldest">
          {waiting === null ? (
            'No message is waiting in the queue.'
          ) : (
            <>
              Oldest queued message has waited <strong safe>{duration(waiting)}</strong> (due since{' '}
              <Time at={data.oldestQueuedSince} />
              ).
            </>
          )}
        </p>
      </section>

      <section class="card" aria-labelledby="transport-heading">
        <h2 id="transport-heading">Transport health</h2>
        <table>
          <caption>Each transport's last successful send and failed attempts in the last 15 minutes</caption>
          <thead>
            <tr>
              <th scope="col">Transport</th>
              <th scope="col">Last successful send</th>
              <th scope="col" class="num">
                Failures, last 15 min
              </th>
            </tr>
          </thead>
          <tbody>
            {data.transports.map((tr) => (
              <tr class={tr.failuresLast15m > 0 ? 'unhealthy' : ''}>
                <th scope="row">
                  <span safe>{tr.transport}</span>
                  {tr.transport === data.currentTransport ? <span class="muted"> (active)</span> : ''}
                </th>
                <td>{tr.lastSentAt ? <Time at={tr.lastSentAt} /> : <span class="muted">never</span>}</td>
                <td class="num" safe>
                  {String(tr.failuresLast15m)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>

      <section class="card charts" aria-labelledby="charts-heading">
        <h2 id="charts-heading">Last 24 hours</h2>
        <BarChart
          id="chart-sent"
          title="Emails sent per hour"
          summary={`${totalSent} sent in the last 24 hours`}
          unit="in one hour"
          bars={data.hours.map((h, i) => ({ value: h.sent, label: i % 6 === 0 || i === data.hours.length - 1 ? h.hour.toISOString().slice(11, 16) : null }))}
          kind="sent"
        />
        <BarChart
          id="chart-failed"
          title="Failed delivery attempts per hour"
          summary={`${totalFailed} failed attempts (retried or dead) in the last 24 hours`}
          unit="in one hour"
          bars={data.hours.map((h, i) => ({ value: h.failed, label: i % 6 === 0 || i === data.hours.length - 1 ? h.hour.toISOString().slice(11, 16) : null }))}
          kind="failed"
        />
        <table class="visually-hidden">
          <caption>Sent and failed delivery attempts per hour (UTC)</caption>
          <thead>
            <tr>
              <th scope="col">Hour starting</th>
              <th scope="col" class="num">
                Sent
              </th>
              <th scope="col" class="num">
                Failed
              </th>
            </tr>
          </thead>
          <tbody>
            {data.hours.map((h) => (
              <tr>
                <th scope="row" safe>
                  {utc(h.hour).slice(0, 16)}
                </th>
                <td class="num" safe>
                  {String(h.sent)}
                </td>
                <td class="num" safe>
                  {String(h.failed)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
      <p class="ops-note updated">
        Updated <Time at={data.now} />
      </p>
    </div>
  )
}
