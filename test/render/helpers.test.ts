// The formatting helpers: dates and times in the reader's locale and zone
// (UTC, said out loud, when we don't know it), money in the reader's
// conventions, "in 2 hours" counted from the send time, plural forms by
// the language's rules; and none of it leaks into the global Handlebars.

import { describe, expect, test } from 'bun:test'
import Handlebars from 'handlebars'
import {
  createHandlebars,
  formatDate,
  formatDateTime,
  kindLabel,
  formatMoney,
  formatRelative,
  messageFormat,
  truncate,
} from '../../src/render/helpers.ts'

const now = new Date('2025-03-10T14:00:00Z')
const at = (locale: string, zone: string | null, templateLocale = 'en') => messageFormat(locale, templateLocale, zone, now)

describe('dates and times', () => {
  test('in the reader\'s zone, with the zone named', () => {
    expect(formatDateTime('2025-03-10T16:00:00Z', at('en-US', 'America/Los_Angeles'))).toBe('Monday, March 10, 9:00 AM (America/Los_Angeles)')
    expect(formatDateTime('2025-12-12T16:00:00Z', at('en-GB', 'Europe/Paris'))).toBe('Friday 12 December, 17:00 (Europe/Paris)')
    expect(formatDateTime('2025-12-12T16:00:00Z', at('fr', 'Europe/Paris', 'fr'))).toBe('vendredi 12 décembre, 17:00 (Europe/Paris)')
    expect(formatDate('2025-03-10T23:30:00Z', at('en-US', 'Asia/Kolkata'))).toBe('March 11, 2025')
  })

  test('the year only when it is not the current one, in the reader\'s zone', () => {
    expect(formatDateTime('2026-01-05T09:00:00Z', at('en-GB', 'Europe/London'))).toBe('Monday, 5 January 2026, 09:00 (Europe/London)')
    // New Year's Eve in London is already next year in Tokyo.
    const eve = messageFormat('en-GB', 'en', 'Asia/Tokyo', new Date('2025-12-31T12:00:00Z'))
    expect(formatDateTime('2025-12-31T16:00:00Z', eve)).toBe('Thursday, 1 January 2026, 01:00 (Asia/Tokyo)')
  })

  test('no zone, or one Intl does not know: UTC, and the text says UTC', () => {
    expect(formatDateTime('2025-03-10T16:00:00Z', at('en', null))).toBe('Monday, March 10, 4:00 PM (UTC)')
    expect(formatDateTime('2025-03-10T16:00:00Z', at('en', 'Mars/Olympus_Mons'))).toBe('Monday, March 10, 4:00 PM (UTC)')
    expect(formatDate('2025-03-10T16:00:00Z', at('en', null))).toBe('March 10, 2025 (UTC)')
  })

  test('a reader\'s region shapes dates only when the template speaks their language', () => {
    expect(at('en-GB', null).locale).toBe('en-GB')
    expect(at('de-AT', null).locale).toBe('en')
    expect(at('fr-CA', null, 'fr').locale).toBe('fr-CA')
    expect(at('nonsense!!', null).locale).toBe('en')
  })

  test('a missing value renders as nothing, an unreadable one as sent', () => {
    expect(formatDateTime(undefined, at('en', null))).toBe('')
    expect(formatDate('next Tuesday', at('en', null))).toBe('next Tuesday')
  })
})

describe('relative time, counted from the send time', () => {
  const f = at('en', 'UTC')
  test.each([
    ['2025-03-10T16:00:00Z', 'in 2 hours'],
    ['2025-03-10T15:59:20Z', 'in 2 hours'],
    ['2025-03-10T14:15:00Z', 'in 15 minutes'],
    ['2025-03-11T14:00:00Z', 'in 24 hours'],
    ['2025-03-12T14:00:00Z', 'in 2 days'],
    ['2025-03-10T14:00:20Z', 'now'],
    ['2025-03-10T11:00:00Z', '3 hours ago'],
  ])('%s is "%s"', (due, words) => {
    expect(formatRelative(due, f)).toBe(words)
  })

  test('in the reader\'s language', () => {
    expect(formatRelative('2025-03-10T16:00:00Z', at('fr-CA', null, 'fr'))).toBe('dans 2 heures')
  })
})

describe('money', () => {
  test('amounts are major units, in the reader\'s conventions', () => {
    expect(formatMoney(49.5, 'USD', at('en-US', null))).toBe('$49.50')
    expect(formatMoney(1234.5, 'EUR', at('fr-FR', null, 'fr'))).toBe('1\u202f234,50\u00a0€')
    expect(formatMoney(4900, 'JPY', at('en', null))).toBe('¥4,900')
  })

  test('an unknown currency is shown as sent rather than failing the email', () => {
    expect(formatMoney(10, 'XYZW', at('en', null))).toBe('10 XYZW')
    expect(formatMoney(undefined, 'USD', at('en', null))).toBe('')
  })
})

describe('the Handlebars instance', () => {
  const hb = createHandlebars()
  const run = (source: string, context: object, format = at('en', null)) => hb.compile(source)(context, { data: { format } })

  test('plural forms follow the language, # is the number', () => {
    const source = '{{plural n one="once" other="# times"}}'
    expect(run(source, { n: 1 })).toBe('once')
    expect(run(source, { n: 1200 })).toBe('1,200 times')
  })

  test('or picks the first value present; truncate counts characters', () => {
    expect(run('{{or a b "there"}}', { a: '', b: null })).toBe('there')
    expect(run('{{or a "there"}}', { a: 'Ada' })).toBe('Ada')
    expect(truncate('👩‍🎓 learners', 3)).toBe('👩‍🎓…')
    expect(truncate('short', 10)).toBe('short')
  })

  test('helper output is escaped in HTML like any other value', () => {
    expect(run('{{or a "x"}}', { a: '<b>' })).toBe('&lt;b&gt;')
  })

  test('helpers live on our own instance, not the global Handlebars', () => {
    for (const name of ['date', 'datetime', 'relative', 'money', 'plural', 'or', 'truncate']) {
      expect(name in hb.helpers).toBe(true)
      expect(name in Handlebars.helpers).toBe(false)
    }
  })
})

describe('kind', () => {
  test("an LMS's word for a piece of work, in the reader's language; one we do not know, as sent", () => {
    expect(kindLabel('assignment', at('fr-CA', null, 'fr'))).toBe('devoir')
    expect(kindLabel('Quiz', at('de', null, 'de'))).toBe('Quiz')
    expect(kindLabel('exam', at('ar', null, 'ar'))).toBe('امتحان')
    expect(kindLabel('assignment', at('en-GB', null))).toBe('assignment')
    expect(kindLabel('capstone', at('fr', null, 'fr'))).toBe('capstone')
    expect(kindLabel(undefined, at('fr', null, 'fr'))).toBe('')
  })
})
