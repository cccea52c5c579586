// The one answer to every link that does not verify: a changed byte, another
// secret, the wrong purpose, a recipient who is gone. It takes no props from
// the request, so all of them are the same bytes and a forger learns nothing.

import { Html } from '@elysiajs/html'
import { Layout, type PageShell } from './layout.tsx'

export function NotFoundPage({ t, siteName, assets }: PageShell): JSX.Element {
  return (
    <Layout t={t} siteName={siteName} assets={assets} title={t.t('notFound.title')}>
      <div class="card narrow">
        <h1 safe>{t.t('notFound.title')}</h1>
        <p class="lead" safe>
          {t.t('notFound.body')}
        </p>
        <p safe>{t.t('notFound.help')}</p>
      </div>
    </Layout>
  )
}
