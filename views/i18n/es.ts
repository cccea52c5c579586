// Spanish. A key left out falls back to English (views/i18n/en.ts).

import type { Translation } from '../i18n.ts'

export const es: Translation = {}
