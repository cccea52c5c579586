// The shell every learner page shares: language, viewport, the stylesheet and
// htmx from /public (same origin, so a strict CSP allows them), and the
// school's name on top. Props in, HTML out.

import { Html, type PropsWithChildren } from '@elysiajs/html'
import type { Translator } from './i18n.ts'

/** Where the page's CSS and htmx live, with a content hash so they can be cached for a year. */
export interface AssetUrls {
  css: string
  htmx: string
  /** Only the admin pages link it. */
  adminCss?: string
}

export interface PageShell {
  t: Translator
  siteName: string
  assets: AssetUrls
}

export type LayoutProps = PropsWithChildren<PageShell & { title: string }>

export function Layout({ t, siteName, assets, title, children }: LayoutProps): JSX.Element {
  return (
    <html lang={t.lang} dir={t.dir}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <meta name="referrer" content="no-referrer" />
        <meta name="robots" content="noindex, nofollow" />
        {/* htmx's own indicator stylesheet is not needed: belfry.css has what the pages use. */}
        <meta name="htmx-config" content='{"includeIndicatorCSS": false}' />
        <title safe>{`${title} · ${siteName}`}</title>
        <link rel="stylesheet" href={assets.css} />
        <script src={assets.htmx} defer></script>
      </head>
      <body>
        <header class="site">
          <p class="site-name" safe>
            {siteName}
          </p>
        </header>
        <main id="main">{children}</main>
      </body>
    </html>
  )
}

/** A whole document: the doctype, then the rendered page. Views here never await anything. */
export function documentHtml(page: JSX.Element): string {
  return `<!doctype html>${fragmentHtml(page)}`
}

export function fragmentHtml(element: JSX.Element): string {
  if (typeof element !== 'string') throw new Error('learner views render synchronously')
  return element
}
