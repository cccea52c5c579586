// Loading templates: every notification DESIGN.md names is there with its
// category, a reader gets the most specific locale that exists, a broken
// template stops the load with its file named, and MJML runs once per
// template at load, never per message.

import { afterAll, describe, expect, test } from 'bun:test'
import { cp, mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mjml2html from 'mjml'
import { localeChain, TemplateStore, type MjmlCompiler } from '../../src/render/templates.ts'
import { context, NOW, samples } from './samples.ts'

const TEMPLATES = join(import.meta.dir, '../../templates')
const FIXTURES = join(import.meta.dir, 'fixtures/locales')

describe('the shipped templates', () => {
  test('all twelve notifications load, each in the category DESIGN.md gives it', async () => {
    const store = await TemplateStore.load(TEMPLATES)
    expect(store.notifications().sort()).toEqual(Object.keys(samples).sort())
    const categories = Object.fromEntries(store.notifications().map((n) => [n, store.category(n)]))
    expect(categories).toEqual({
      welcome: 'account',
      password_reset: 'account',
      enrollment_confirmation: 'enrollment',
      course_completed: 'progress',
      assignment_submitted: 'progress',
      deadline_reminder: 'reminders',
      session_reminder: 'reminders',
      discussion_update: 'discussions',
      admin_user_registered: 'admin',
      admin_enrollment: 'admin',
      admin_system_error: 'admin',
      digest: 'digest',
    })
  })

  test('an unknown notification is an error, not an empty email', async () => {
    const store = await TemplateStore.load(TEMPLATES)
    expect(() => store.render('no_such_thing', { locale: 'en', variables: {}, context })).toThrow('unknown notification "no_such_thing"')
    expect(() => store.category('no_such_thing')).toThrow('unknown notification')
  })
})

describe('locale fallback fr-CA → fr → en', () => {
  test('the chain goes from most to least specific and always ends at the fallback', () => {
    expect(localeChain('fr-CA', 'en')).toEqual(['fr-CA', 'fr', 'en'])
    expect(localeChain('zh-Hant-TW', 'en')).toEqual(['zh-Hant-TW', 'zh-Hant', 'zh', 'en'])
    expect(localeChain('en-GB', 'en')).toEqual(['en-GB', 'en'])
    expect(localeChain('pt_BR', 'en')).toEqual(['pt-BR', 'pt', 'en'])
    expect(localeChain('not a locale!', 'en')).toEqual(['en'])
    expect(localeChain(null, 'en')).toEqual(['en'])
  })

  const render = async (locale: string) => {
    const store = await TemplateStore.load(FIXTURES)
    return store.render('greeting', {
      locale,
      timeZone: 'America/Toronto',
      variables: { user: { id: 1, email: 'a@example.com' }, due_at: '2025-03-10T16:00:00Z' },
      context,
    })
  }

  test('a fr-CA reader gets the fr file, its French layout, and Canadian French dates', async () => {
    const email = await render('fr-CA')
    expect(email.locale).toBe('fr')
    expect(email.subject).toBe('Bonjour, l’ami')
    expect(email.html).toContain('<html lang="fr"')
    expect(email.html).toContain('Bonjour depuis le fichier français')
    expect(email.html).toContain('Envoyé par Northwind Academy')
    expect(email.text).toContain('À rendre le lundi 10 mars 2025, 12 h 00 (America/Toronto).')
  })

  test('a reader whose language has no file gets English, with English dates', async () => {
    const email = await render('de-AT')
    expect(email.locale).toBe('en')
    expect(email.subject).toBe('Hello, friend')
    expect(email.html).toContain('<html lang="en"')
    expect(email.text).toContain('Due Monday, March 10, 2025, 12:00 PM (America/Toronto).')
    expect(email.text).toContain('Sent by Northwind Academy')
  })

  test('the real templates: fr-CA falls through to fr; a language without files (Japanese), and admin mail, to en', async () => {
    const store = await TemplateStore.load(TEMPLATES)
    const french = store.render('welcome', { locale: 'fr-CA', variables: samples.welcome!, context, now: NOW })
    expect(french.locale).toBe('fr')
    expect(french.html).toContain('<html lang="fr" dir="ltr"')
    const japanese = store.render('welcome', { locale: 'ja', variables: samples.welcome!, context, now: NOW })
    expect([japanese.locale, japanese.subject]).toEqual(['en', 'Welcome to Northwind Academy'])
    const admin = store.render('admin_user_registered', { locale: 'de', variables: samples.admin_user_registered!, context, now: NOW })
    expect(admin.locale).toBe('en')
  })
})

describe('a bad template stops the load, naming the file', () => {
  const dirs: string[] = []
  afterAll(() => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))))

  /** A templates folder with the fixture layout and one notification `broken` whose en.mjml is `source`. */
  async function folderWith(source: string, file = 'broken/en.mjml'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'belfry-templates-'))
    dirs.push(dir)
    await cp(join(FIXTURES, '_layout'), join(dir, '_layout'), { recursive: true })
    await cp(join(FIXTURES, '_partials'), join(dir, '_partials'), { recursive: true })
    await mkdir(join(dir, file, '..'), { recursive: true })
    await writeFile(join(dir, file), source)
    return dir
  }
  const valid = (frontMatter: string, mjml = '<mj-text><p>Hi</p></mj-text>', text = 'Hi') =>
    `---\n${frontMatter}\n---\n${mjml}\n--- text ---\n${text}\n`
  const loadError = async (dir: string) => {
    try {
      await TemplateStore.load(dir)
    } catch (error) {
      return (error as Error).message
    }
    throw new Error('expected the load to fail')
  }
  const where = /broken[/\\]en\.mjml/

  test('no front matter', async () => {
    const message = await loadError(await folderWith('<mj-text>Hi</mj-text>\n--- text ---\nHi\n'))
    expect(message).toMatch(where)
    expect(message).toContain('front matter')
  })

  test('a front matter line that is not key: value, and an unknown key', async () => {
    expect(await loadError(await folderWith(valid('subject: Hi\ncategory: account\njust words')))).toMatch(/broken[/\\]en\.mjml: front matter line 4/)
    expect(await loadError(await folderWith(valid('subject: Hi\ncategory: account\npreheder: typo')))).toContain('unknown front matter key "preheder"')
  })

  test('a secret that is not a variable path', async () => {
    const message = await loadError(await folderWith(valid('subject: Hi\ncategory: account\nsecret: reset.url, {{reset.url}}')))
    expect(message).toMatch(where)
    expect(message).toContain('secret: "{{reset.url}}" is not a variable path')
  })

  test('a missing or unknown category', async () => {
    const missing = await loadError(await folderWith(valid('subject: Hi')))
    expect(missing).toMatch(where)
    expect(missing).toContain('no category')
    expect(await loadError(await folderWith(valid('subject: Hi\ncategory: marketing')))).toContain('category "marketing" is not one of')
  })

  test('an MJML error, with the line in the template file', async () => {
    const message = await loadError(await folderWith(valid('subject: Hi\ncategory: account', '<mj-text>Hi</mj-text>\n<mj-button colour="red" href="https://x.example">Go</mj-button>')))
    expect(message).toMatch(where)
    expect(message).toContain('MJML')
    expect(message).toMatch(/broken[/\\]en\.mjml line 6: Attribute colour is illegal/)
  })

  test('a block helper MJML would not carry through', async () => {
    const message = await loadError(
      await folderWith(valid('subject: Hi\ncategory: account', '{{#if user.name}}\n<mj-text>Hi</mj-text>\n{{/if}}')),
    )
    expect(message).toMatch(where)
  })

  test('a misspelt helper and bad Handlebars syntax', async () => {
    expect(await loadError(await folderWith(valid('subject: Due {{datetme due_at}}\ncategory: account')))).toContain('unknown helper "datetme"')
    const syntax = await loadError(await folderWith(valid('subject: Hi\ncategory: account', '<mj-text>{{#if x}}open</mj-text>')))
    expect(syntax).toMatch(where)
    expect(syntax).toContain('Handlebars syntax error in the MJML')
  })

  test('triple-stash in the HTML, which would let outside data in as markup', async () => {
    const message = await loadError(await folderWith(valid('subject: Hi\ncategory: account', '<mj-text>{{{course.title}}}</mj-text>')))
    expect(message).toMatch(where)
    expect(message).toContain('unescaped HTML')
  })

  test('a value helper used as a block in the HTML, which would write its value unescaped too', async () => {
    const message = await loadError(await folderWith(valid('subject: Hi\ncategory: account', '<mj-text>{{#or course.title "x"}}shown{{/or}}</mj-text>')))
    expect(message).toMatch(where)
    expect(message).toContain('{{#or}} as a block writes its value unescaped')
  })

  test('no text part, an image without alt text, an unknown partial', async () => {
    expect(await loadError(await folderWith('---\nsubject: Hi\ncategory: account\n---\n<mj-text>Hi</mj-text>\n'))).toContain('--- text ---')
    expect(
      await loadError(await folderWith(valid('subject: Hi\ncategory: account', '<mj-image src="https://x.example/logo.png" />'))),
    ).toContain('needs an alt=')
    expect(await loadError(await folderWith(valid('subject: Hi\ncategory: account', '<partial name="nope" />')))).toContain('no partial "nope"')
  })

  test('a locale without the English file every locale falls back to', async () => {
    const message = await loadError(await folderWith(valid('subject: Salut\ncategory: account'), 'broken/fr.mjml'))
    expect(message).toMatch(/broken/)
    expect(message).toContain('has no en.mjml')
  })
})

describe('MJML runs at load, not per message', () => {
  test('1,000 renders after load compile no MJML; each template was compiled exactly once', async () => {
    const compiled: string[] = []
    const counting: MjmlCompiler = (mjml, options) => {
      compiled.push(String(options.filePath))
      return mjml2html(mjml, options)
    }
    const store = await TemplateStore.load(TEMPLATES, { compileMjml: counting })
    // One compile per template file: every notification in English, the learner ones in four more languages.
    const files = store.notifications().reduce((sum, n) => sum + store.locales().filter((l) => store.hasFile(n, l)).length, 0)
    expect(files).toBeGreaterThan(40)
    expect(compiled.length).toBe(files)
    expect(new Set(compiled).size).toBe(files)

    const names = store.notifications()
    for (let i = 0; i < 1000; i++) {
      const name = names[i % names.length]!
      const email = store.render(name, { locale: i % 2 ? 'en-GB' : 'fr-CA', timeZone: 'Europe/Paris', variables: samples[name]!, context, now: NOW })
      expect(email.html.length).toBeGreaterThan(1000)
    }
    expect(compiled.length).toBe(files)
  })
})
