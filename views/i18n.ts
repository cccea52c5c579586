// The learner pages' words, one catalogue per language, keyed so a
// translator works from the English file alone. Pages pick the catalogue by
// the recipient's locale with the same fallback as the email templates
// (`fr-CA → fr → en`). Messages are plain text: the views escape them, so a
// translation can never inject markup.

const en = {
  'layout.language': 'English',

  'preferences.title': 'Email preferences',
  'preferences.intro': 'Choose what {site} emails you about, and how often.',
  'preferences.for': 'These settings are for {who}.',
  'preferences.topics.heading': 'Topics',
  'preferences.topics.intro': 'A digest collects a topic’s emails into one message each morning (daily) or on Monday morning (weekly).',
  'preferences.courses.heading': 'Courses',
  'preferences.courses.legend': 'Mute a course',
  'preferences.courses.hint': 'A muted course sends you no emails at all, whatever you chose above.',
  'preferences.courses.none': 'When you get emails about a course, you can mute it here.',
  'preferences.save': 'Save preferences',
  'preferences.saved': 'Saved. Your choices apply from the next email.',
  'preferences.invalid': 'That could not be saved. Please check your choices and try again.',
  'preferences.all.heading': 'All emails',
  'preferences.all.hint': 'Stop every email except the essential ones, such as password resets.',
  'preferences.all.button': 'Unsubscribe from all non-essential emails',
  'preferences.all.off': 'You are unsubscribed from all non-essential emails. Only essential ones, such as password resets, are sent.',
  'preferences.all.off.choices': 'Your choices on this page apply again once you turn emails back on.',
  'preferences.all.paused': 'Turn emails back on to get them again as you chose them on this page.',
  'preferences.all.jump': 'Turn emails back on',
  'preferences.all.undo': 'Turn emails back on',
  'preferences.all.unsubscribed': 'Done. You are unsubscribed from all non-essential emails.',
  'preferences.all.resubscribed': 'Emails are back on, as you chose them on this page.',

  'frequency.immediately': 'Immediately',
  'frequency.daily': 'Daily digest',
  'frequency.weekly': 'Weekly digest',
  'frequency.off': 'Off',

  'category.account.label': 'Account',
  'category.account.hint': 'Welcome messages. Password reset emails are always sent, right away, whatever you choose.',
  'category.account.name': 'account',
  'category.enrollment.label': 'Enrollments',
  'category.enrollment.hint': 'A confirmation when you join a course.',
  'category.enrollment.name': 'enrollment',
  'category.progress.label': 'Progress',
  'category.progress.hint': 'Completed courses and submitted assignments.',
  'category.progress.name': 'progress',
  'category.reminders.label': 'Reminders',
  'category.reminders.hint': 'Upcoming deadlines and live sessions.',
  'category.reminders.name': 'reminder',
  'category.discussions.label': 'Discussions',
  'category.discussions.hint': 'New posts in discussions you follow.',
  'category.discussions.name': 'discussion',
  'category.announcements.label': 'Announcements',
  'category.announcements.hint': 'News from your school and your teachers.',
  'category.announcements.name': 'announcement',
  'category.digest.name': 'digest',

  'unsubscribe.title': 'Unsubscribe from {category} emails?',
  'unsubscribe.explain': 'You will stop getting {category} emails from {site}. Other emails are not affected.',
  'unsubscribe.explain.digest': 'You will stop getting digest emails from {site}, and the topics they collect will be turned off.',
  'unsubscribe.button': 'Unsubscribe',
  'unsubscribe.done.title': 'You are unsubscribed',
  'unsubscribe.done': 'You will not get {category} emails from {site} any more.',
  'unsubscribe.done.digest': 'You will not get digest emails from {site} any more.',
  'unsubscribe.manage': 'Manage all your email preferences',
  'unsubscribe.manage.after': 'Changed your mind, or want to choose topic by topic?',
  'unsubscribe.invalid': 'Please use the button below to unsubscribe.',

  'notFound.title': 'Link not found',
  'notFound.body': 'This link does not work. It may have been copied incompletely from the email.',
  'notFound.help': 'Open the link again from the bottom of any email we sent you.',
} as const

export type MessageKey = keyof typeof en
export type Catalogue = Readonly<Record<MessageKey, string>>

/** Every catalogue, by BCP 47 language tag; `en` is complete and the last fallback. */
const catalogues: Readonly<Record<string, Catalogue>> = { en }

export interface Translator {
  /** The language the page is written in: the reader's locale when its catalogue matched, else the fallback's. */
  lang: string
  t(key: MessageKey, params?: Readonly<Record<string, string>>): string
}

/** `fr-CA` → [`fr-CA`, `fr`]; a malformed tag → []. */
function candidates(locale: string | null | undefined): string[] {
  if (!locale) return []
  let canonical: string
  try {
    canonical = Intl.getCanonicalLocales(locale)[0] ?? ''
  } catch {
    return []
  }
  const parts = canonical.split('-')
  return parts.map((_, i) => parts.slice(0, parts.length - i).join('-'))
}

/** The reader's catalogue: their locale, its language, the default locale, then English. */
export function translator(locale: string | null | undefined, defaultLocale = 'en'): Translator {
  for (const tried of [locale, defaultLocale]) {
    for (const candidate of candidates(tried)) {
      const catalogue = catalogues[candidate]
      // `en-GB` reads the `en` catalogue but is still `lang="en-GB"`: the words are English either way.
      if (catalogue) return bind(candidates(tried)[0]!, catalogue)
    }
  }
  return bind('en', en)
}

function bind(lang: string, catalogue: Catalogue): Translator {
  return {
    lang,
    t(key, params) {
      const text = catalogue[key] ?? en[key]
      return params ? text.replace(/\{(\w+)\}/g, (whole, name: string) => params[name] ?? whole) : text
    },
  }
}
