// GET /u/:token asks, POST answers. The question page only shows a button:
// mail scanners follow every link in a message, so following this one must
// change nothing. The form posts exactly what RFC 8058 clients post.

import { Html } from '@elysiajs/html'
import type { LearnerCategory } from '../src/preferences/categories.ts'
import { Layout, type PageShell } from './layout.tsx'

export interface UnsubscribeProps {
  /** `confirm` asks; `invalid` asks again after a POST without the one-click body; `done` confirms. */
  state: 'confirm' | 'invalid' | 'done'
  category: LearnerCategory | 'digest'
  /** Where the button posts: this page's own URL. */
  action: string
  /** The learner's full preference page. */
  preferencesUrl: string
}

export function UnsubscribePage(props: UnsubscribeProps & PageShell): JSX.Element {
  const { t, siteName, category } = props
  const name = t.t(`category.${category}.name`)
  const digest = category === 'digest'
  if (props.state === 'done') {
    return (
      <Layout t={t} siteName={siteName} assets={props.assets} title={t.t('unsubscribe.done.title')}>
        <div class="card narrow">
          <h1 safe>{t.t('unsubscribe.done.title')}</h1>
          <p class="lead" safe>
            {digest ? t.t('unsubscribe.done.digest', { site: siteName }) : t.t('unsubscribe.done', { category: name, site: siteName })}
          </p>
          <p safe>{t.t('unsubscribe.manage.after')}</p>
          <p>
            <a class="button secondary" href={props.preferencesUrl} safe>
              {t.t('unsubscribe.manage')}
            </a>
          </p>
        </div>
      </Layout>
    )
  }
  const title = t.t('unsubscribe.title', { category: name })
  return (
    <Layout t={t} siteName={siteName} assets={props.assets} title={title}>
      <div class="card narrow">
        <h1 safe>{title}</h1>
        {props.state === 'invalid' && (
          <p class="status status-error" role="alert" safe>
            {t.t('unsubscribe.invalid')}
          </p>
        )}
        <p class="lead" safe>
          {digest ? t.t('unsubscribe.explain.digest', { site: siteName }) : t.t('unsubscribe.explain', { category: name, site: siteName })}
        </p>
        <form method="post" action={props.action}>
          <input type="hidden" name="List-Unsubscribe" value="One-Click" />
          <button type="submit" class="button primary" safe>
            {t.t('unsubscribe.button')}
          </button>
        </form>
        <p class="aside">
          <a href={props.preferencesUrl} safe>
            {t.t('unsubscribe.manage')}
          </a>
        </p>
      </div>
    </Layout>
  )
}
