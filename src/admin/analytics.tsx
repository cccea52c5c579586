// Analytics (issue 7, item 5):
//
//   GET /admin/analytics        per notification and day, with daily rate charts
//   GET /admin/analytics.csv    the same rows as CSV (counts and rates)

import { Html } from '@elysiajs/html'
import { Elysia } from 'elysia'
import { ANALYTICS_DAYS, AnalyticsPage, rates } from '../../views/admin/analytics.tsx'
import { dailyEngagement, type DailyRow } from '../analytics/queries.ts'
import { adminGuard, html, signedIn, type AdminDeps } from './http.ts'

const DAY = 86_400_000

function choices(deps: AdminDeps, query: Record<string, string | undefined>) {
  const asked = Number(query.days)
  const days = (ANALYTICS_DAYS as readonly number[]).includes(asked) ? asked : 30
  const notification = deps.templates.notifications().includes(query.notification ?? '') ? query.notification! : ''
  // Whole UTC days: today and the days - 1 before it.
  const today = Math.floor(Date.now() / DAY) * DAY
  return { days, notification, from: new Date(today - (days - 1) * DAY) }
}

/** Every day of the range, oldest first, with the days nothing was sent at zero: a chart must not skip them. */
function daily(rows: readonly DailyRow[], from: Date, days: number): Omit<DailyRow, 'notification'>[] {
  const byDay = new Map<string, Omit<DailyRow, 'notification'>>()
  for (let i = 0; i < days; i++) {
    const day = new Date(from.getTime() + i * DAY).toISOString().slice(0, 10)
    byDay.set(day, { day, sent: 0, bounced: 0, humanOpens: 0, machineOpens: 0, clicks: 0, complaints: 0, unsubscribes: 0 })
  }
  for (const row of rows) {
    const sum = byDay.get(row.day)
    if (!sum) continue
    for (const key of ['sent', 'bounced', 'humanOpens', 'machineOpens', 'clicks', 'complaints', 'unsubscribes'] as const) sum[key] += row[key]
  }
  return [...byDay.values()]
}

/** A CSV field: quoted when it holds a comma, quote or line break; a leading = + - @ is neutralised so no spreadsheet runs it. */
function csvField(value: string | number): string {
  let text = String(value)
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text
}

export function analyticsRoutes(deps: AdminDeps) {
  return new Elysia({ name: 'admin-analytics' })
    .use(adminGuard(deps.auth))
    .get('/admin/analytics', async ({ session, query }) => {
      const admin = signedIn(session)
      const { days, notification, from } = choices(deps, query)
      const rows = await dailyEngagement(deps.db, from, notification || undefined)
      return html(
        <AnalyticsPage
          assets={deps.assets}
          siteName={deps.siteName}
          admin={{ email: admin.email, csrfToken: admin.csrfToken }}
          days={days}
          notification={notification}
          notifications={deps.templates.notifications().sort()}
          rows={rows}
          series={daily(rows, from, days)}
        />,
      )
    })
    .get('/admin/analytics.csv', async ({ session, query }) => {
      signedIn(session)
      const { days, notification, from } = choices(deps, query)
      const rows = await dailyEngagement(deps.db, from, notification || undefined)
      const header = [
        'day', 'notification', 'sent', 'delivered', 'bounced', 'human_opens', 'machine_opens', 'clicks', 'unsubscribes', 'complaints',
        'bounce_rate', 'human_open_rate', 'click_through_rate', 'unsubscribe_rate', 'complaint_rate',
      ]
      const lines = rows.map((row) => {
        const r = rates(row)
        return [
          row.day, row.notification, row.sent, r.delivered, row.bounced, row.humanOpens, row.machineOpens, row.clicks, row.unsubscribes, row.complaints,
          r.bounceRate.toFixed(4), r.openRate.toFixed(4), r.clickRate.toFixed(4), r.unsubscribeRate.toFixed(4), r.complaintRate.toFixed(4),
        ].map(csvField).join(',')
      })
      return new Response([header.join(','), ...lines].join('\r\n') + '\r\n', {
        headers: {
          'content-type': 'text/csv; charset=utf-8',
          'content-disposition': `attachment; filename="belfry-analytics-${notification || 'all'}-${days}d.csv"`,
          'cache-control': 'no-store',
        },
      })
    })
}
