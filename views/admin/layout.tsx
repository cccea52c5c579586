// The admin shell: navigation, the signed-in admin, and the CSRF token that
// htmx sends with every request from inside the page (hx-headers, inherited
// from <body>). Props in, HTML out.

import { Html, type PropsWithChildren } from '@elysiajs/html'
import type { AssetUrls } from '../layout.tsx'

export const ADMIN_NAV = [
  { href: '/admin', label: 'Dashboard' },
  { href: '/admin/messages', label: 'Messages' },
  { href: '/admin/dead-letters', label: 'Dead letters' },
  { href: '/admin/templates', label: 'Templates' },
  { href: '/admin/experiments', label: 'Experiments' },
  { href: '/admin/announcements', label: 'Announcements' },
  { href: '/admin/analytics', label: 'Analytics' },
  { href: '/admin/adapters', label: 'Adapters' },
  { href: '/admin/recipients', label: 'Recipients' },
  { href: '/admin/settings', label: 'Settings' },
] as const

export interface AdminShell {
  assets: AssetUrls
  siteName: string
  /** Absent on the sign-in and setup pages. */
  admin?: { email: string; csrfToken: string }
  /** The nav entry to mark as current. */
  current?: string
}

export type AdminLayoutProps = PropsWithChildren<AdminShell & { title: string }>

export function AdminLayout({ assets, siteName, admin, current, title, children }: AdminLayoutProps): JSX.Element {
  const headers = admin ? JSON.stringify({ 'X-CSRF-Token': admin.csrfToken }) : undefined
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="robots" content="noindex, nofollow" />
        <meta name="htmx-config" content='{"includeIndicatorCSS": false}' />
        <title safe>{`${title} · ${siteName} admin`}</title>
        <link rel="stylesheet" href={assets.css} />
        {assets.adminCss ? <link rel="stylesheet" href={assets.adminCss} /> : ''}
        <script src={assets.htmx} defer></script>
      </head>
      <body class="admin" hx-headers:inherited={headers}>
        <a class="skip-link" href="#main">
          Skip to content
        </a>
        <header class="admin-bar">
          <p class="site-name">
            <span safe>{siteName}</span> admin
          </p>
          {admin ? (
            <nav aria-label="Admin">
              <ul>
                {ADMIN_NAV.map((item) => (
                  <li>
                    <a href={item.href} aria-current={current === item.href ? 'page' : undefined}>
                      {item.label}
                    </a>
                  </li>
                ))}
              </ul>
            </nav>
          ) : (
            ''
          )}
          {admin ? (
            <form method="post" action="/admin/logout" class="signout">
              <input type="hidden" name="_csrf" value={admin.csrfToken} />
              <span class="who" safe>
                {admin.email}
              </span>{' '}
              <button type="submit">Sign out</button>
            </form>
          ) : (
            ''
          )}
        </header>
        <main id="main" tabindex="-1">
          <h1 safe>{title}</h1>
          {children}
        </main>
      </body>
    </html>
  )
}

/** A hidden CSRF field for plain form posts (no JavaScript). */
export function CsrfField({ token }: { token: string }): JSX.Element {
  return <input type="hidden" name="_csrf" value={token} />
}
