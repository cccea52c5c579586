// What a reader sees in each email: a subject, an HTML part with its
// language set, and a plain-text part with every link written out; outside
// data escaped in HTML and left alone in plain text; optional data shown
// only when it is there.

import { beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { contextFromConfig, siteNameFromMailbox, type RenderContext } from '../../src/render/render.ts'
import { TemplateStore } from '../../src/render/templates.ts'
import { context, NOW, samples } from './samples.ts'

let store: TemplateStore
beforeAll(async () => {
  store = await TemplateStore.load(join(import.meta.dir, '../../templates'))
})

const render = (name: string, variables: Record<string, unknown> = samples[name]!, options: { locale?: string; timeZone?: string | null; context?: RenderContext } = {}) =>
  store.render(name, {
    locale: options.locale ?? 'en-US',
    timeZone: options.timeZone === undefined ? 'America/New_York' : options.timeZone,
    variables,
    context: options.context ?? context,
    now: NOW,
  })

/** The links each email exists to deliver; the text part must spell every one out. */
const keyLinks: Record<string, string[]> = {
  welcome: ['https://learn.example.com'],
  enrollment_confirmation: ['https://lms.example.com/courses/3'],
  course_completed: ['https://lms.example.com/certificates/abc', 'https://lms.example.com/courses/3'],
  password_reset: ['https://lms.example.com/reset?token=s3cr3t&u=17'],
  deadline_reminder: ['https://lms.example.com/courses/3/assignments/5'],
  session_reminder: ['https://meet.example.com/room/88'],
  assignment_submitted: ['https://lms.example.com/courses/3/assignments/5'],
  discussion_update: ['https://lms.example.com/courses/3/threads/2'],
  admin_user_registered: [],
  admin_enrollment: ['https://lms.example.com/courses/3'],
  admin_system_error: [],
  digest: ['https://lms.example.com/courses/3', 'https://lms.example.com/courses/3/threads/2', 'https://lms.example.com/courses/3/assignments/5'],
}

const subjects: Record<string, string> = {
  welcome: 'Welcome to Northwind Academy',
  enrollment_confirmation: "You're enrolled in Intro to Analytical Engines",
  course_completed: 'Congratulations! You completed Intro to Analytical Engines',
  password_reset: 'Reset your Northwind Academy password',
  deadline_reminder: 'Due in 2 hours: Essay 1',
  session_reminder: 'Starting in 24 hours: Live Q&A',
  assignment_submitted: 'Submitted: Essay 1',
  discussion_update: 'Charles Babbage replied in "Week 2: loops on the Engine"',
  admin_user_registered: 'New user: Ada Lovelace',
  admin_enrollment: 'New enrollment: Ada Lovelace in Intro to Analytical Engines ($49.50)',
  admin_system_error: '[critical] transport.smtp: connect ECONNREFUSED 10.0.0.5:587',
  digest: 'Your daily digest: 3 updates',
}

describe('every notification', () => {
  for (const name of Object.keys(samples)) {
    test(`${name}: subject, HTML in English, a text part with its links`, () => {
      const email = render(name)
      expect(email.subject).toBe(subjects[name]!)
      expect(email.html).toStartWith('<!doctype html>')
      expect(email.html).toContain('<html lang="en"')
      expect(email.html).toContain('<meta name="color-scheme" content="light dark">')
      expect(email.html).toContain(`<title>${Bun.escapeHTML(email.subject)}</title>`)
      // No Handlebars left over, no helper that went missing.
      expect(email.html).not.toMatch(/\{\{|\}\}|undefined|\[object Object\]/)
      expect(email.text).not.toMatch(/\{\{|\}\}|undefined|\[object Object\]|<\/?[a-z][^>]*>/)
      for (const link of keyLinks[name]!) {
        expect(email.text).toContain(link)
        expect(email.html).toContain(`href="${Bun.escapeHTML(link).replaceAll('=', '&#x3D;')}"`)
      }
      expect(email.text).toContain('Northwind Academy')
    })
  }

  test('no email links to a web font or loads any image (nothing fetched on open)', () => {
    for (const name of Object.keys(samples)) {
      const { html } = render(name)
      expect(html).not.toContain('fonts.googleapis.com')
      expect(html).not.toMatch(/<img\b/)
    }
  })

  test('every heading is a real <h1>, and there is exactly one per email', () => {
    for (const name of Object.keys(samples)) expect(render(name).html.match(/<h1\b/g)?.length).toBe(1)
  })
})

describe('escaping: HTML escaped, subject and text verbatim', () => {
  const tricky = { ...samples.enrollment_confirmation!, course: { id: 'c-9', title: 'R&D <intro> "101"', url: 'https://lms.example.com/c?a=1&b=2' } }

  test('a course titled R&D <intro> reads as such in the subject and text part', () => {
    const email = render('enrollment_confirmation', tricky)
    expect(email.subject).toBe(`You're enrolled in R&D <intro> "101"`)
    expect(email.text).toContain(`You're now enrolled in "R&D <intro> "101"".`)
    expect(email.text).toContain('Go to your course: https://lms.example.com/c?a=1&b=2')
  })

  test('…and is escaped in the HTML, including the title and the link', () => {
    const { html } = render('enrollment_confirmation', tricky)
    expect(html).toContain('<strong>R&amp;D &lt;intro&gt; &quot;101&quot;</strong>')
    expect(html).toContain('<title>You&#x27;re enrolled in R&amp;D &lt;intro&gt; &quot;101&quot;</title>')
    expect(html).toContain('href="https://lms.example.com/c?a&#x3D;1&amp;b&#x3D;2"')
    expect(html).not.toContain('<intro>')
  })

  test('markup in a discussion post shows as text and cannot break out of the quote', () => {
    const variables = {
      ...samples.discussion_update!,
      post: { id: 'p', author: { id: 'x', name: '<b>Mallory</b>' }, excerpt: '</blockquote><script>alert(1)</script>' },
    }
    const email = render('discussion_update', variables)
    expect(email.html).not.toContain('<script>')
    expect(email.html).toContain('&lt;/blockquote&gt;&lt;script&gt;')
    expect(email.subject).toStartWith('<b>Mallory</b> replied')
    expect(email.text).toContain('"</blockquote><script>alert(1)</script>"')
  })

  test('a line break in a title cannot spill into another header line', () => {
    const email = render('deadline_reminder', { ...samples.deadline_reminder!, item: { ...(samples.deadline_reminder!.item as object), title: 'Essay\r\nBcc: x@evil.example' } })
    expect(email.subject).toBe('Due in 2 hours: Essay Bcc: x@evil.example')
  })
})

describe('optional data', () => {
  test('no name: "Hi there", and no stray comma or blank', () => {
    const user = { id: 'u-1', email: 'sam@example.com' }
    expect(render('welcome', { user }).text).toContain('Hi there,')
    expect(render('course_completed', { ...samples.course_completed!, user }).text).toStartWith('Northwind Academy\n\nCongratulations!\n')
    expect(render('admin_user_registered', { user }).subject).toBe('New user: sam@example.com')
  })

  test('a free enrollment shows no payment, a paid one shows the amount in the reader\'s currency style', () => {
    const free = render('enrollment_confirmation', { ...samples.enrollment_confirmation!, enrollment: { id: 'e-1' } })
    expect(free.text).not.toContain('Payment')
    expect(free.html).not.toContain('Payment')
    const euros = render('enrollment_confirmation', { ...samples.enrollment_confirmation!, enrollment: { id: 'e-2', paid: { amount: 1234.5, currency: 'EUR' } } }, { locale: 'en-IE' })
    expect(euros.text).toContain('Payment received: €1,234.50.')
    expect(render('admin_enrollment', { ...samples.admin_enrollment!, enrollment: { id: 'e-1' } }).subject).toBe(
      'New enrollment: Ada Lovelace in Intro to Analytical Engines',
    )
  })

  test('a course without a URL links to the site instead', () => {
    const email = render('enrollment_confirmation', { ...samples.enrollment_confirmation!, course: { id: 'c', title: 'Offline course' } })
    expect(email.text).toContain('Go to your course: https://learn.example.com')
  })

  test('completion without certificate or grade: no certificate button, no grade line; a grade of 0 still shows', () => {
    const bare = render('course_completed', { ...samples.course_completed!, completion: { completed_at: '2025-03-09T22:15:00Z' } })
    expect(bare.html).not.toContain('certificate')
    expect(bare.text).not.toContain('certificate')
    expect(bare.text).not.toContain('grade')
    const zero = render('course_completed', { ...samples.course_completed!, completion: { completed_at: '2025-03-09T22:15:00Z', grade: 0 } })
    expect(zero.text).toContain('Your final grade: 0')
  })

  test('a session without a join link sends the reader to the course', () => {
    const email = render('session_reminder', { ...samples.session_reminder!, session: { id: 's', title: 'Office hours', starts_at: '2025-03-10T14:15:00Z' } })
    expect(email.subject).toBe('Starting in 15 minutes: Office hours')
    expect(email.text).toContain('Go to your course: https://lms.example.com/courses/3')
    expect(email.html).not.toContain('Join ')
  })

  test('password reset: the button, the raw URL to paste, the expiry, the reassurance', () => {
    const email = render('password_reset')
    expect(email.html).toContain('>Reset your password</h1>')
    expect(email.html.match(/href="https:\/\/lms\.example\.com\/reset\?token&#x3D;s3cr3t&amp;u&#x3D;17"/g)?.length).toBe(2)
    expect(email.html).toContain('>https://lms.example.com/reset?token&#x3D;s3cr3t&amp;u&#x3D;17</a>')
    expect(email.text).toContain('This link expires in 1 hour, on Monday, March 10, 11:00 AM (America/New_York).')
    expect(email.text).toContain("Didn't ask for this? You can safely ignore this email.")
  })

  test('system error alert: severity, source, message and how often it was seen', () => {
    const email = render('admin_system_error', samples.admin_system_error!, { timeZone: null })
    expect(email.text).toContain('Seen:        5 times')
    expect(email.text).toContain('First:       Monday, March 10, 1:40 PM (UTC)')
    const once = render('admin_system_error', { ...samples.admin_system_error!, count: 1 }, { timeZone: null })
    expect(once.text).toContain('Seen:        once')
  })
})

describe('footer', () => {
  test('preference and unsubscribe links and the postal address when given', () => {
    const email = render('welcome')
    for (const part of [email.html, email.text]) {
      expect(part).toContain('https://mail.example.com/preferences/tok123')
      expect(part).toContain('https://mail.example.com/u/tok123')
      expect(part).toContain('1 Harbour Street')
    }
  })

  test('none of them when absent (a password reset carries no unsubscribe link)', () => {
    const bare: RenderContext = { siteName: 'Belfry', siteUrl: 'http://localhost:3000' }
    const email = render('password_reset', samples.password_reset!, { context: bare })
    for (const part of [email.html, email.text]) {
      expect(part).not.toContain('preferences')
      expect(part).not.toContain('Unsubscribe')
    }
    expect(email.text).toEndWith('--\nThis email was sent by Belfry (http://localhost:3000).\n')
  })

  test('the site name comes from MAIL_FROM\'s display name, Belfry by default', () => {
    expect(siteNameFromMailbox('Belfry <no-reply@localhost>')).toBe('Belfry')
    expect(siteNameFromMailbox('"Northwind Academy" <news@northwind.example>')).toBe('Northwind Academy')
    expect(siteNameFromMailbox('news@northwind.example')).toBe('Belfry')
    expect(
      contextFromConfig({ mailFrom: 'Acme Learning <a@acme.example>', publicUrl: 'https://acme.example', orgPostalAddress: undefined }),
    ).toEqual({ siteName: 'Acme Learning', siteUrl: 'https://acme.example' })
  })
})

describe('time zones', () => {
  test('a deadline shows in the reader\'s own zone and names it', () => {
    const tokyo = render('deadline_reminder', samples.deadline_reminder!, { locale: 'en', timeZone: 'Asia/Tokyo' })
    expect(tokyo.text).toContain('is due Tuesday, March 11, 1:00 AM (Asia/Tokyo).')
    const london = render('deadline_reminder', samples.deadline_reminder!, { locale: 'en-GB', timeZone: 'Europe/London' })
    expect(london.text).toContain('is due Monday 10 March, 16:00 (Europe/London).')
  })

  test('without a zone, times are UTC and say so', () => {
    const email = render('deadline_reminder', samples.deadline_reminder!, { timeZone: null })
    expect(email.text).toContain('is due Monday, March 10, 4:00 PM (UTC).')
    const completed = render('course_completed', samples.course_completed!, { timeZone: null })
    expect(completed.text).toContain('on March 9, 2025 (UTC).')
  })

  test('a completion late in the evening in New York is dated that day, not the next', () => {
    expect(render('course_completed').text).toContain('on March 9, 2025.')
    expect(render('course_completed', samples.course_completed!, { timeZone: 'Asia/Tokyo' }).text).toContain('on March 10, 2025.')
  })
})
