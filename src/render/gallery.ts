// Every notification in every locale, rendered with its sample event: what
// the screenshot command (`npm run emails:screenshots`) and the browser test
// look at. One place decides what "every email" means.

import { samples, context, NOW } from './samples.ts'
import type { RenderedEmail } from './render.ts'
import type { TemplateStore } from './templates.ts'

export interface GalleryEmail {
  notification: string
  locale: string
  email: RenderedEmail
}

/** Each notification × locale the templates have a file or fallback for; readers in Paris, so times show a real zone. */
export function* gallery(store: TemplateStore): Generator<GalleryEmail> {
  for (const notification of store.notifications().sort()) {
    for (const locale of store.locales()) {
      const variables = samples[notification] ?? {}
      yield { notification, locale, email: store.render(notification, { locale, timeZone: 'Europe/Paris', variables, context, now: NOW }) }
    }
  }
}
