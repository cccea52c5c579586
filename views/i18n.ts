// The learner pages' words, one catalogue per language, keyed so a
// translator works from the English file alone. Pages pick the catalogue by
// the recipient's locale with the same fallback as the email templates
// (`fr-CA → fr → en`). Messages are plain text: the views escape them, so a
// translation can never inject markup.

import { directionOf } from '../src/render/helpers.ts'
import { ar } from './i18n/ar.ts'
import { de } from './i18n/de.ts'
import { en } from './i18n/en.ts'
import { es } from './i18n/es.ts'
import { fr } from './i18n/fr.ts'


export type MessageKey = keyof typeof en
/** A language's catalogue: any key it leaves out is read from English. */
export type Translation = Readonly<Partial<Record<MessageKey, string>>>

/** Every catalogue, by BCP 47 language tag; `en` is complete and the last fallback. */
// A language only counts once it has words: an empty catalogue would mark an English page as French.
const catalogues: Readonly<Record<string, Translation>> = Object.fromEntries(
  Object.entries({ en, fr, es, de, ar }).filter(([, words]) => Object.keys(words).length > 0),
)



export interface Translator {
  /** The language the page is written in: the reader's locale when its catalogue matched, else the fallback's. */
  lang: string
  dir: 'rtl' | 'ltr'
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

function bind(lang: string, catalogue: Translation): Translator {
  return {
    lang,
    dir: directionOf(lang),
    t(key, params) {
      const text = catalogue[key] ?? en[key]
      return params ? text.replace(/\{(\w+)\}/g, (whole, name: string) => params[name] ?? whole) : text
    },
  }
}
