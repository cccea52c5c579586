// The learner's preference page: a frequency per topic, mute per course, and
// "unsubscribe from everything" with its undo. One plain HTML form that works
// without JavaScript; with htmx the same form posts in place and the panel is
// morphed, so focus stays on the button that was pressed and the status
// message (a live region present from the start) is announced.

import { Html } from '@elysiajs/html'
import type { LearnerCategory } from '../src/preferences/categories.ts'
import { Layout, type PageShell } from './layout.tsx'
import type { Translator } from './i18n.ts'

/** In the order the page offers them, most mail first. */
export const FREQUENCY_CHOICES = ['immediately', 'daily', 'weekly', 'off'] as const
export type FrequencyChoice = (typeof FREQUENCY_CHOICES)[number]

/** What the last POST did, shown in the status region next to the button that did it. */
export type PreferencesStatus = 'saved' | 'invalid' | 'unsubscribed' | 'resubscribed'

export interface PreferencesProps {
  /** Where the forms post: this page's own URL. */
  action: string
  recipient: { email: string; name: string | null }
  categories: readonly { category: LearnerCategory; frequency: FrequencyChoice }[]
  courses: readonly { id: string; title: string; muted: boolean }[]
  unsubscribedAll: boolean
  status?: PreferencesStatus | undefined
}

export function PreferencesPage(props: PreferencesProps & PageShell): JSX.Element {
  const { t, siteName, recipient } = props
  const who = recipient.name ? `${recipient.name} (${recipient.email})` : recipient.email
  return (
    <Layout t={t} siteName={siteName} assets={props.assets} title={t.t('preferences.title')}>
      <h1 safe>{t.t('preferences.title')}</h1>
      <p class="lead" safe>
        {t.t('preferences.intro', { site: siteName })}
      </p>
      <p class="for" safe>
        {t.t('preferences.for', { who })}
      </p>
      <PreferencesPanel {...props} />
    </Layout>
  )
}

/** Everything below the heading: what htmx swaps after a POST. */
export function PreferencesPanel(props: PreferencesProps & { t: Translator }): JSX.Element {
  const { t, action, status, unsubscribedAll } = props
  return (
    <div id="preferences" class="panel">
      {unsubscribedAll && (
        <div class="notice" id="all-notice">
          <p safe>{t.t('preferences.all.off')}</p>
          <p safe>{t.t('preferences.all.off.choices')}</p>
          <p>
            <a href="#everything" safe>
              {t.t('preferences.all.jump')}
            </a>
          </p>
        </div>
      )}

      <form id="preferences-form" method="post" action={action} hx-post={action} hx-target="#preferences" hx-swap="outerMorph">
        <section class="card" aria-labelledby="topics-heading">
          <h2 id="topics-heading" safe>
            {t.t('preferences.topics.heading')}
          </h2>
          <p class="hint" safe>
            {t.t('preferences.topics.intro')}
          </p>
          {props.categories.map(({ category, frequency }) => (
            <TopicFieldset t={t} category={category} frequency={frequency} />
          ))}
        </section>

        <section class="card" aria-labelledby="courses-heading">
          <h2 id="courses-heading" safe>
            {t.t('preferences.courses.heading')}
          </h2>
          {props.courses.length === 0 ? (
            <p class="hint" safe>
              {t.t('preferences.courses.none')}
            </p>
          ) : (
            <fieldset class="courses" aria-describedby="courses-hint">
              <legend safe>{t.t('preferences.courses.legend')}</legend>
              <p class="hint" id="courses-hint" safe>
                {t.t('preferences.courses.hint')}
              </p>
              <ul class="course-list">
                {props.courses.map((course, index) => (
                  <li>
                    <input type="hidden" name="course" value={course.id} />
                    <label class="course" for={`course-${index}`}>
                      <input type="checkbox" id={`course-${index}`} name="muted" value={course.id} checked={course.muted} />
                      <span safe>{course.title}</span>
                    </label>
                  </li>
                ))}
              </ul>
            </fieldset>
          )}
        </section>

        <div class="actions">
          <button type="submit" id="save-button" class="button primary" name="action" value="save" safe>
            {t.t('preferences.save')}
          </button>
          <p id="save-status" class={['status', status === 'invalid' ? 'status-error' : '']} role="status" safe>
            {status === 'saved' ? t.t('preferences.saved') : status === 'invalid' ? t.t('preferences.invalid') : ''}
          </p>
        </div>
      </form>

      <section id="everything" class="card everything" aria-labelledby="everything-heading">
        <h2 id="everything-heading" safe>
          {t.t('preferences.all.heading')}
        </h2>
        <p class="hint" safe>
          {unsubscribedAll ? t.t('preferences.all.paused') : t.t('preferences.all.hint')}
        </p>
        <form method="post" action={action} hx-post={action} hx-target="#preferences" hx-swap="outerMorph">
          <button
            type="submit"
            id="all-button"
            class={['button', unsubscribedAll ? 'primary' : 'secondary']}
            name="action"
            value={unsubscribedAll ? 'resubscribe' : 'unsubscribe_all'}
            safe
          >
            {unsubscribedAll ? t.t('preferences.all.undo') : t.t('preferences.all.button')}
          </button>
        </form>
        <p id="all-status" class="status" role="status" safe>
          {status === 'unsubscribed'
            ? t.t('preferences.all.unsubscribed')
            : status === 'resubscribed'
              ? t.t('preferences.all.resubscribed')
              : ''}
        </p>
      </section>
    </div>
  )
}

function TopicFieldset({ t, category, frequency }: { t: Translator; category: LearnerCategory; frequency: FrequencyChoice }) {
  return (
    <fieldset class="topic" aria-describedby={`hint-${category}`}>
      <legend safe>{t.t(`category.${category}.label`)}</legend>
      <p class="hint" id={`hint-${category}`} safe>
        {t.t(`category.${category}.hint`)}
      </p>
      <div class="choices">
        {FREQUENCY_CHOICES.map((choice) => (
          <label class="choice" for={`f-${category}-${choice}`}>
            <input
              type="radio"
              id={`f-${category}-${choice}`}
              name={`frequency.${category}`}
              value={choice}
              checked={choice === frequency}
            />
            <span safe>{t.t(`frequency.${choice}`)}</span>
          </label>
        ))}
      </div>
    </fieldset>
  )
}
