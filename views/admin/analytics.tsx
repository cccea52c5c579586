// Engagement per notification and day: what was sent, delivered, opened by
// people, clicked, bounced, complained about and unsubscribed from, with
// the daily rates charted. Props in, HTML out.

import { Html } from '@elysiajs/html'
import type { DailyRow } from '../../src/analytics/queries.ts'
import { BarChart } from './bar-chart.tsx'
import { AdminLayout, type AdminShell } from './layout.tsx'

export const ANALYTICS_DAYS = [7, 30, 90] as const

const percent = (x: number) => `${(x * 100).toFixed(1)}%`
const rate = (part: number, whole: number) => (whole > 0 ? part / whole : 0)

/** The rates a row is read by; "delivered" is sent less bounced. */
export function rates(row: Omit<DailyRow, 'notification' | 'day'>) {
  const delivered = row.sent - row.bounced
  return {
    delivered,
    bounceRate: rate(row.bounced, row.sent),
    openRate: rate(row.humanOpens, delivered),
    clickRate: rate(row.clicks, delivered),
    unsubscribeRate: rate(row.unsubscribes, delivered),
    complaintRate: rate(row.complaints, delivered),
  }
}

const CHARTS = [
  {
    id: 'chart-opens',
    title: 'Human open rate per day',
    summary: 'Opens by people (not mail proxies or scanners) per delivered email',
    value: (r: ReturnType<typeof rates>) => r.openRate,
    kind: 'sent',
  },
  {
    id: 'chart-clicks',
    title: 'Click-through rate per day',
    summary: 'Emails with a click by a person per delivered email',
    value: (r: ReturnType<typeof rates>) => r.clickRate,
    kind: 'sent',
  },
  {
    id: 'chart-bounces',
    title: 'Bounce rate per day',
    summary: 'Bounced emails per sent email',
    value: (r: ReturnType<typeof rates>) => r.bounceRate,
    kind: 'failed',
  },
] as const

export interface AnalyticsProps extends AdminShell {
  days: number
  notification: string
  notifications: readonly string[]
  rows: readonly DailyRow[]
  /** The whole range per UTC day (all notifications, or the chosen one), oldest first, every day present. */
  series: readonly (Omit<DailyRow, 'notification'>)[]
}

export function AnalyticsPage(props: AnalyticsProps): JSX.Element {
  const { days, notification, rows, series, ...rest } = props
  const shell: AdminShell = { assets: rest.assets, siteName: rest.siteName, admin: rest.admin, current: '/admin/analytics' }
  const label = (i: number, day: string) => (i % Math.ceil(series.length / 6) === 0 || i === series.length - 1 ? day.slice(5) : null)
  const query = new URLSearchParams({ days: String(days), ...(notification ? { notification } : {}) }).toString()
  return (
    <AdminLayout {...shell} title="Analytics">
      <form method="get" action="/admin/analytics" class="card filters" role="search" aria-label="Choose what to show">
        <div class="field">
          <label for="a-notification">Notification</label>
          <select id="a-notification" name="notification">
            <option value="">All</option>
            {props.notifications.map((n) => (
              <option value={n} selected={n === notification} safe>
                {n}
              </option>
            ))}
          </select>
        </div>
        <div class="field">
          <label for="a-days">Period</label>
          <select id="a-days" name="days">
            {ANALYTICS_DAYS.map((d) => (
              <option value={String(d)} selected={d === days} safe>
                {`Last ${d} days`}
              </option>
            ))}
          </select>
        </div>
        <div class="field actions">
          <button type="submit" class="primary">
            Show
          </button>
          <a href={`/admin/analytics.csv?${query}`}>
            Download CSV
          </a>
        </div>
      </form>
      <section class="card charts" aria-labelledby="trend-heading">
        <h2 id="trend-heading" safe>{`Per day, last ${days} days (UTC)`}</h2>
        {CHARTS.map((chart) => (
          <BarChart
            id={chart.id}
            title={chart.title}
            summary={chart.summary}
            unit="in one day"
            format={percent}
            bars={series.map((d, i) => ({ value: chart.value(rates(d)), label: label(i, d.day) }))}
            kind={chart.kind}
          />
        ))}
      </section>
      <section aria-labelledby="table-heading">
        <h2 id="table-heading">Per notification and day</h2>
        {rows.length === 0 ? (
          <p>Nothing was sent in this period.</p>
        ) : (
          <div class="table-wrap" tabindex="0" role="region" aria-label="Engagement per notification and day">
            <table class="list">
              <caption>Sent emails by UTC day; rates are per delivered email, the bounce rate per sent email</caption>
              <thead>
                <tr>
                  <th scope="col">Day</th>
                  <th scope="col">Notification</th>
                  <th scope="col" class="num">Sent</th>
                  <th scope="col" class="num">Delivered</th>
                  <th scope="col" class="num">Bounce rate</th>
                  <th scope="col" class="num">Human open rate</th>
                  <th scope="col" class="num">Click-through rate</th>
                  <th scope="col" class="num">Unsubscribe rate</th>
                  <th scope="col" class="num">Complaint rate</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => {
                  const r = rates(row)
                  return (
                    <tr>
                      <th scope="row" safe>
                        {row.day}
                      </th>
                      <td safe>{row.notification}</td>
                      <td class="num" safe>{String(row.sent)}</td>
                      <td class="num" safe>{String(r.delivered)}</td>
                      <td class="num" safe>{percent(r.bounceRate)}</td>
                      <td class="num" safe>{percent(r.openRate)}</td>
                      <td class="num" safe>{percent(r.clickRate)}</td>
                      <td class="num" safe>{percent(r.unsubscribeRate)}</td>
                      <td class="num" safe>{percent(r.complaintRate)}</td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </AdminLayout>
  )
}
