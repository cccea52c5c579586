// Protects admin template editing end to end on a real database and a real
// SMTP server: a saved edit is what the next real email says; a template
// that does not compile is refused with its problem shown and nothing
// stored; rollback and revert-to-file work; a second service on the same
// database picks the edit up; history diffs and every admin-entered value
// are escaped; the live preview and test send work; no session → sign-in,
// wrong CSRF → 403.

import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'bun:test'
import { count, eq } from 'drizzle-orm'
import { auditLog, templateVersions } from '../../src/db/schema/index.ts'
import { ADMIN_PASSWORD, csrfOf, signIn } from '../support/admin.ts'
import { onPostgres } from '../support/db.ts'
import { ADMIN, startTestService, type TestService } from '../support/service.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'

let sink: SmtpSink
let t: TestService
let cookie: string
let csrf: string

beforeAll(async () => {
  sink = await startSmtpSink()
  t = await startTestService({ MAIL_TRANSPORT: 'smtp', SMTP_URL: sink.url, ADMIN_PASSWORD })
  cookie = await signIn(t, ADMIN)
  csrf = await csrfOf(t, cookie)
}, 30_000)
afterAll(async () => {
  await t?.stop()
  await sink?.close()
})
beforeEach(() => sink.reset())

const BASE = 'http://belfry.test'
const get = (path: string, withCookie = true) => t.send(new Request(`${BASE}${path}`, { headers: withCookie ? { cookie } : {} }))
const post = (path: string, fields: Record<string, string>, headers: Record<string, string> = { cookie }) =>
  t.send(
    new Request(`${BASE}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      body: new URLSearchParams(fields).toString(),
    }),
  )

/** The file default of a template as the editor's fields, with some fields changed. */
function fields(notification: string, changes: Partial<Record<'subject' | 'preheader' | 'experiment' | 'mjml' | 'text' | 'note' | 'test_to', string>> = {}) {
  const source = t.service.templates.fileSource(notification, 'en')
  return { _csrf: csrf, subject: source.subject, preheader: source.preheader ?? '', mjml: source.mjml, text: source.text, ...changes }
}

const versionsOf = async (notification: string) =>
  (await t.service.database.db.select({ n: count() }).from(templateVersions).where(eq(templateVersions.notification, notification)))[0]!.n

let userSeq = 0
/** Registers a new learner and returns the welcome email they receive. */
async function welcomeEmail() {
  userSeq += 1
  const email = `learner${userSeq}@learner.test`
  sink.reset()
  expect((await t.post('user.registered', { user: { id: `u-tpl-${userSeq}`, email, name: 'Grace Hopper' } })).status).toBe(202)
  // The learner's welcome and the admin's alert; pick the learner's.
  const received = await sink.waitFor(2, 10_000)
  const mail = received.find((m) => m.envelope.to[0] === email)
  expect(mail).toBeDefined()
  return mail!
}

describe('security', () => {
  test('without a session every template route sends the visitor to sign in', async () => {
    for (const path of ['/admin/templates', '/admin/templates/welcome/en']) {
      const response = await get(path, false)
      expect(response.status).toBe(303)
      expect(response.headers.get('location')).toStartWith('/admin/login?next=')
    }
    const response = await post('/admin/templates/welcome/en', fields('welcome', { subject: 'Hijacked' }), {})
    expect(response.status).toBe(303)
    expect(await versionsOf('welcome')).toBe(0)
  })

  test('a save, rollback, revert or test send with a wrong CSRF token is refused with 403 and changes nothing', async () => {
    for (const action of ['', '/revert', '/test', '/preview']) {
      const response = await post(`/admin/templates/welcome/en${action}`, { ...fields('welcome', { subject: 'Forged', test_to: 'x@y.test' }), _csrf: 'forged' })
      expect(response.status).toBe(403)
    }
    expect(await versionsOf('welcome')).toBe(0)
    expect(sink.messages).toHaveLength(0)
  })

  test('an unknown notification or locale is a 404 page', async () => {
    expect((await get('/admin/templates/nope/en')).status).toBe(404)
    expect((await get('/admin/templates/welcome/xx')).status).toBe(404)
  })
})

describe('list and editor', () => {
  test('the list shows every notification × locale, with its category and where it runs from', async () => {
    const response = await get('/admin/templates')
    expect(response.status).toBe(200)
    const page = await response.text()
    for (const notification of t.service.templates.notifications()) expect(page).toContain(`href="/admin/templates/${notification}/en"`)
    expect(page).toContain('<td>account</td>')
    expect(page).toContain('File default')
  })

  test('the editor shows the file default in labelled fields, a rendered preview and an empty history', async () => {
    const page = await (await get('/admin/templates/course_completed/en')).text()
    expect(page).toContain('<label for="subject">Subject</label>')
    expect(page).toContain('<label for="mjml">MJML body</label>')
    expect(page).toContain('<label for="text">Text part</label>')
    expect(page).toContain(`value="${t.service.templates.fileSource('course_completed', 'en').subject.replace(/"/g, '&quot;')}"`)
    // Rendered with the sample event: the sample course's title is in the preview's subject.
    expect(page).toContain('Intro to Analytical Engines')
    expect(page).toMatch(/<iframe[^>]*sandbox=""[^>]*src="\/admin\/template-previews\/[A-Za-z0-9_-]+"/)
    expect(page).toContain('No edits yet')
  })
})

describe('preview', () => {
  test('the preview route compiles the form and renders it with the sample data; its frame is served sandboxed', async () => {
    const response = await post('/admin/templates/welcome/en/preview', fields('welcome', { subject: 'Hi {{user.name}}, from {{site.name}}' }), {
      cookie,
      'x-csrf-token': csrf,
      'hx-request': 'true',
    })
    expect(response.status).toBe(200)
    const fragment = await response.text()
    expect(fragment).toContain('Hi Ada Lovelace, from Belfry Academy')
    const frame = /src="(\/admin\/template-previews\/[^"]+)"/.exec(fragment)![1]!
    const document = await get(frame)
    expect(document.status).toBe(200)
    expect(document.headers.get('content-security-policy')).toStartWith('sandbox;')
    expect(document.headers.get('content-security-policy')).toContain("frame-ancestors 'self'")
    expect(await document.text()).toContain('Welcome to Belfry Academy!')
    // Another admin session (or nobody) cannot read it.
    expect((await get(frame, false)).status).toBe(303)
    expect(await versionsOf('welcome')).toBe(0)
  })

  test('a broken template previews as a list of problems with the line', async () => {
    const mjml = '<mj-text>\n  <p>ok</p>\n</mj-text>\n<mj-text colour="red">bad attribute</mj-text>\n'
    const response = await post('/admin/templates/welcome/en/preview', fields('welcome', { mjml }), { cookie, 'x-csrf-token': csrf })
    expect(response.status).toBe(200) // the preview worked; what it shows is the template's problems
    const fragment = await response.text()
    expect(fragment).toContain('does not compile')
    expect(fragment).toMatch(/MJML body line 4: Attribute colour is illegal/)
  })
})

describe('saving', () => {
  test('a saved edit is what the next real email says, and the list shows who edited it', async () => {
    const before = await welcomeEmail()
    expect(before.parsed.subject).toBe('Welcome to Belfry Academy')

    const response = await post('/admin/templates/welcome/en', fields('welcome', { subject: 'Glad you joined {{site.name}}, {{user.name}}', note: 'warmer' }))
    expect(response.status).toBe(303)
    expect(response.headers.get('location')).toBe('/admin/templates/welcome/en?saved=1#notice')
    const [stored] = await t.service.database.db.select().from(templateVersions).where(eq(templateVersions.notification, 'welcome'))
    expect(stored).toMatchObject({ version: 1, createdBy: ADMIN, note: 'warmer', revertedToDefault: false })

    const after = await welcomeEmail()
    expect(after.parsed.subject).toBe('Glad you joined Belfry Academy, Grace Hopper')
    expect(after.parsed.text).toContain('Welcome to Belfry Academy!') // the text part came along unchanged

    const list = await (await get('/admin/templates')).text()
    expect(list).toContain(`version 1 by <span>${ADMIN}, `)
    const audits = await t.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'template.save'))
    expect(audits.at(-1)).toMatchObject({ adminEmail: ADMIN, target: 'welcome/en' })
  })

  test('broken MJML is refused with 422, the problem and its line shown, the text kept, and nothing saved', async () => {
    const before = await versionsOf('welcome')
    const mjml = '<mj-text>\n  <p>Line two</p>\n</mj-text>\n<mj-bogus>nope</mj-bogus>\n'
    const response = await post('/admin/templates/welcome/en', fields('welcome', { subject: 'Should not stick', mjml }))
    expect(response.status).toBe(422)
    const page = await response.text()
    expect(page).toContain('Not saved: the template does not compile')
    expect(page).toMatch(/MJML body line 4: Element mj-bogus/)
    expect(page).toContain('&lt;mj-bogus&gt;nope&lt;/mj-bogus&gt;') // the admin's text is back in the textarea, escaped
    expect(await versionsOf('welcome')).toBe(before)

    const handlebars = await post('/admin/templates/welcome/en', fields('welcome', { text: 'Hello {{#if user.name}}there\n' }))
    expect(handlebars.status).toBe(422)
    expect(await handlebars.text()).toContain('Handlebars syntax error in the text part')
    const unknownHelper = await post('/admin/templates/welcome/en', fields('welcome', { subject: '{{shout user.name}}' }))
    expect(unknownHelper.status).toBe(422)
    expect(await unknownHelper.text()).toContain('unknown helper')
    expect(await versionsOf('welcome')).toBe(before)
    expect((await welcomeEmail()).parsed.subject).toBe('Glad you joined Belfry Academy, Grace Hopper')
  })

  test('rollback restores an old version as a new one; revert hands the template back to its file', async () => {
    expect((await post('/admin/templates/welcome/en', fields('welcome', { subject: 'Second try, {{user.name}}' }))).status).toBe(303)
    expect((await welcomeEmail()).parsed.subject).toBe('Second try, Grace Hopper')

    const [v1] = await t.service.database.db.select().from(templateVersions).where(eq(templateVersions.version, 1))
    const rollback = await post('/admin/templates/welcome/en/rollback', { _csrf: csrf, version: v1!.id })
    expect(rollback.status).toBe(303)
    expect(rollback.headers.get('location')).toBe('/admin/templates/welcome/en?restored=3#notice')
    expect((await welcomeEmail()).parsed.subject).toBe('Glad you joined Belfry Academy, Grace Hopper')

    const revert = await post('/admin/templates/welcome/en/revert', { _csrf: csrf })
    expect(revert.status).toBe(303)
    expect((await welcomeEmail()).parsed.subject).toBe('Welcome to Belfry Academy')
    const history = await t.service.database.db.select().from(templateVersions).where(eq(templateVersions.notification, 'welcome'))
    expect(history.map((v) => [v.version, v.revertedToDefault]).sort()).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, true],
    ])
    const list = await (await get('/admin/templates')).text()
    expect(list).toContain('File default (reverted in version 4')
  })

  test('a second service on the same database picks up an edit', async () => {
    const other = await startTestService(
      { ROLE: 'api' },
      {
        testDb: onPostgres ? { ...t.testDb, database: await t.testDb.openAnother(), drop: async () => {} } : t.testDb,
      },
    )
    try {
      const render = () =>
        other.service.templates.render('course_completed', {
          locale: 'en',
          variables: { user: { name: 'Ada' }, course: { title: 'Looms' }, completion: { completed_at: '2025-03-09T22:15:00Z' } },
          context: { siteName: 'Belfry Academy', siteUrl: 'http://belfry.test' },
        }).subject
      expect(render()).not.toBe('Well done on Looms')
      expect((await post('/admin/templates/course_completed/en', fields('course_completed', { subject: 'Well done on {{course.title}}' }))).status).toBe(303)
      const deadline = Date.now() + 5000
      while (render() !== 'Well done on Looms' && Date.now() < deadline) await Bun.sleep(25)
      expect(render()).toBe('Well done on Looms')
    } finally {
      await other.stop()
    }
  })
})

describe('history and escaping', () => {
  test('hostile input is escaped on the list and the editor, and the history diff shows it as text, marked', async () => {
    const hostile = '<script>alert(1)</script> "><img src=x onerror=alert(2)> {{user.name}}'
    const saved = await post(
      '/admin/templates/password_reset/en',
      // Line breaks as a browser sends a textarea's: CRLF.
      fields('password_reset', {
        subject: hostile,
        note: '<b>bold</b> note',
        mjml: t.service.templates.fileSource('password_reset', 'en').mjml.replace(/\n/g, '\r\n'),
        text: t.service.templates.fileSource('password_reset', 'en').text.replace(/\n/g, '\r\n'),
      }),
    )
    expect(saved.status).toBe(303)
    const editor = await (await get('/admin/templates/password_reset/en')).text()
    const list = await (await get('/admin/templates')).text()
    for (const page of [editor, list]) {
      // Inside a quoted attribute only `"` matters (escaped, so nothing breaks out); everywhere else, `<` is escaped.
      expect(page).not.toContain('"><img')
      const outsideAttributes = page.replace(/ value="[^"]*"/g, '')
      expect(outsideAttributes).not.toContain('<script>alert')
      expect(outsideAttributes).not.toContain('<img')
      expect(page).not.toContain('<b>bold</b>')
    }
    expect(editor).toContain('&lt;b&gt;bold&lt;/b&gt; note')
    // The diff: the old subject removed and the new one added, each marked in words too, not by colour alone.
    expect(editor).toContain('<span class="tpl-sr">Removed: </span>')
    expect(editor).toMatch(/<ins><span class="tpl-mark" aria-hidden="true">\+<\/span><span class="tpl-sr">Added: <\/span><span>Subject: &lt;script&gt;alert\(1\)&lt;\/script&gt; &quot;&gt;&lt;img src=x onerror=alert\(2\)&gt;/)
    // Only the subject changed: the rest of the diff is folded away, not shown as removed and re-added.
    expect(editor).toMatch(/… \d+ unchanged lines …/)
    expect(editor.match(/<span class="tpl-sr">(Added|Removed): <\/span>/g)).toHaveLength(2)
    // The preview's subject, rendered from it, is escaped too.
    expect(editor).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &quot;&gt;&lt;img src=x onerror=alert(2)&gt; Ada Lovelace')
  })
})

describe('test send', () => {
  test('sends the form as it is (unsaved) with sample data, through the real transport, and records it', async () => {
    const before = await versionsOf('deadline_reminder')
    const response = await post(
      '/admin/templates/deadline_reminder/en/test',
      fields('deadline_reminder', { subject: 'Unsaved: {{item.title}} due {{relative item.due_at}}', test_to: 'qa@school.test' }),
    )
    expect(response.status).toBe(200)
    expect(await response.text()).toContain('Test sent to qa@school.test')
    const [mail] = await sink.waitFor(1)
    expect(mail!.envelope.to).toEqual(['qa@school.test'])
    expect(mail!.parsed.subject).toBe('[Test] Unsaved: Essay 1 due in 2 hours')
    expect(String(mail!.parsed.html)).toContain('Essay 1')
    expect(mail!.parsed.text).toContain('Essay 1')
    expect(await versionsOf('deadline_reminder')).toBe(before)
    const audits = await t.service.database.db.select().from(auditLog).where(eq(auditLog.action, 'template.test_send'))
    expect(audits.at(-1)?.detail).toMatchObject({ to: 'qa@school.test' })
  })

  test('a bad address sends nothing', async () => {
    const response = await post('/admin/templates/welcome/en/test', fields('welcome', { test_to: 'not an address' }))
    expect(response.status).toBe(422)
    expect(await response.text()).toContain('Enter the address to send the test to')
    await Bun.sleep(100)
    expect(sink.messages).toHaveLength(0)
  })
})

describe('A/B subject variants in the editor', () => {
  test('an A/B test saved with the template splits the next learners between the subjects and appears under Experiments', async () => {
    const experiment = 'variants: a:50, b:50\nsubject.b: "You did it: {{course.title}} is complete"\nexperiment: completed-subject'
    const saved = await post('/admin/templates/course_completed/en', fields('course_completed', { experiment }))
    expect(saved.status).toBe(303)
    const editor = await (await get('/admin/templates/course_completed/en')).text()
    expect(editor).toContain('subject.b: &quot;You did it: {{course.title}} is complete&quot;')
    expect(t.service.templates.experiments().map((e) => e.id)).toContain('completed-subject')

    // Learners split by hash: across 40 of them both subjects are sent.
    sink.reset()
    for (let i = 0; i < 40; i++) {
      await t.post('course.completed', {
        user: { id: `u-ab-${i}`, email: `ab${i}@learner.test` },
        course: { id: 'c-1', title: 'Statistics' },
        completion: { completed_at: '2026-12-01T10:00:00Z' },
      })
    }
    const subjects = new Set((await sink.waitFor(40, 15_000)).map((m) => m.parsed.subject))
    expect(subjects).toEqual(new Set(['Congratulations! You completed Statistics', 'You did it: Statistics is complete']))
    const list = await (await get('/admin/experiments')).text()
    expect(list).toContain('completed-subject')
  })

  test('A/B lines that are not an A/B test are refused inline, with the reason, and nothing is saved', async () => {
    const before = await versionsOf('course_completed')
    for (const [experiment, reason] of [
      ['variants: a:100', 'variants must list two or more'],
      ['variants: a:50, b:50\nsubject.c: "Nope"', 'subject.c names a variant not in'],
      ['category: admin', 'A/B test: unknown key &quot;category&quot;'],
      ['variants a:50', 'A/B test: line 1 is not'],
    ]) {
      const response = await post('/admin/templates/course_completed/en', fields('course_completed', { experiment: experiment! }))
      expect(response.status).toBe(422)
      expect(await response.text()).toContain(reason!)
    }
    expect(await versionsOf('course_completed')).toBe(before)
  })
})
