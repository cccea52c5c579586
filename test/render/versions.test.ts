// Protects edited template versions in the render module: the newest stored
// version of a (notification, locale) renders instead of its file, a
// reverted one hands it back to the file, locale fallback still works,
// each version's MJML is compiled once, a refresh never undoes a newer
// version, and a TemplateVersionSync sees a version another process wrote
// (by NOTIFY, and by its poll alone when no NOTIFY comes).

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import mjml2html from 'mjml'
import { silentLogger } from '../../src/log.ts'
import { insertVersion } from '../../src/render/queries.ts'
import { TemplateStore, type MjmlCompiler, type StoredVersion } from '../../src/render/templates.ts'
import { TemplateVersionSync } from '../../src/render/versions.ts'
import { templatesDir } from '../../src/service.ts'
import { templateVersions } from '../../src/db/schema/index.ts'
import { createTestDatabase, type TestDatabase } from '../support/db.ts'
import { context, NOW, samples } from './samples.ts'

let compiles = 0
const counting: MjmlCompiler = (mjml, options) => {
  compiles += 1
  return mjml2html(mjml, options)
}

const render = (store: TemplateStore, locale = 'en') =>
  store.render('welcome', { locale, variables: samples.welcome!, context, now: NOW })

function version(store: TemplateStore, n: number, changes: Partial<StoredVersion> = {}): StoredVersion {
  return {
    ...store.fileSource('welcome', 'en'),
    id: `00000000-0000-0000-0000-00000000000${n}`,
    notification: 'welcome',
    locale: 'en',
    version: n,
    revertedToDefault: false,
    ...changes,
  }
}

describe('TemplateStore with stored versions', () => {
  test('the newest version renders instead of the file; a reverted one brings the file back', async () => {
    const store = await TemplateStore.load(templatesDir)
    expect(render(store).subject).toBe('Welcome to Northwind Academy')
    await store.applyVersions([version(store, 1, { subject: 'Hello {{user.name}}', text: 'Edited text for {{user.name}}.' })], () => {})
    const edited = render(store)
    expect(edited.subject).toBe('Hello Ada Lovelace')
    expect(edited.text).toContain('Edited text for Ada Lovelace.')
    // Composed with the shared layout exactly like a file: the footer and lang are there.
    expect(edited.html).toContain('lang="en"')
    expect(edited.html).toContain('Manage your email preferences')
    expect(edited.text).toContain('Northwind Academy, 1 Harbour Street')
    // A Japanese reader falls back to the edited English version (there is no ja file); a French one has French.
    expect(render(store, 'ja').subject).toBe('Hello Ada Lovelace')
    expect(render(store, 'fr-CA').subject).not.toBe('Hello Ada Lovelace')
    expect(store.activeVersion('welcome', 'en')).toEqual({ id: version(store, 1).id, version: 1, edited: true })

    await store.applyVersions([version(store, 2, { revertedToDefault: true })], () => {})
    expect(render(store).subject).toBe('Welcome to Northwind Academy')
  })

  test('each version is compiled once; a refresh does not compile it again, nor undo a newer one', async () => {
    const store = await TemplateStore.load(templatesDir, { compileMjml: counting })
    compiles = 0
    const v1 = version(store, 1, { subject: 'One' })
    await store.applyVersions([v1], () => {})
    await store.applyVersions([v1], () => {})
    expect(compiles).toBe(1)

    const v2 = version(store, 2, { subject: 'Two' })
    store.useVersion(v2, await store.compileSource('welcome', 'en', v2))
    // A refresh that read the table before v2 was written must not put v1 back.
    await store.applyVersions([v1], () => {})
    expect(render(store).subject).toBe('Two')
  })

  test('a stored version that no longer compiles is reported and its file is used', async () => {
    const store = await TemplateStore.load(templatesDir)
    const problems: string[] = []
    await store.applyVersions([version(store, 1, { mjml: '<partial name="gone"/>' })], (v, error) => problems.push(`${v.version}: ${error.message}`))
    expect(problems).toEqual(['1: welcome/en: no partial "gone" (templates/_partials/gone.mjml)'])
    expect(render(store).subject).toBe('Welcome to Northwind Academy')
  })
})

describe('TemplateVersionSync', () => {
  let testDb: TestDatabase
  beforeAll(async () => {
    testDb = await createTestDatabase()
  })
  afterAll(() => testDb.drop())

  const until = async (check: () => boolean, ms = 3000) => {
    const deadline = Date.now() + ms
    while (!check() && Date.now() < deadline) await Bun.sleep(10)
    return check()
  }

  test('loads stored versions at start, then follows new ones by NOTIFY', async () => {
    const store = await TemplateStore.load(templatesDir)
    const fields = { ...store.fileSource('welcome', 'en'), notification: 'welcome', locale: 'en', note: null, createdBy: 'a@school.test' }
    await insertVersion(testDb.database.db, { ...fields, subject: 'Stored before start', revertedToDefault: false })
    // A poll far longer than the test: only NOTIFY can bring the second version in time.
    const sync = new TemplateVersionSync(testDb.database, store, silentLogger, 600_000)
    await sync.start()
    try {
      expect(render(store).subject).toBe('Stored before start')
      await insertVersion(testDb.database.db, { ...fields, subject: 'Announced', revertedToDefault: false })
      expect(await until(() => render(store).subject === 'Announced')).toBe(true)
    } finally {
      await sync.stop()
    }
  })

  test('without a NOTIFY (a lost one), the poll of the table finds the new version', async () => {
    const store = await TemplateStore.load(templatesDir)
    const sync = new TemplateVersionSync(testDb.database, store, silentLogger, 50)
    await sync.start()
    try {
      const source = store.fileSource('welcome', 'en')
      // Written like insertVersion but with no pg_notify: as if the notification was lost.
      await testDb.database.db.insert(templateVersions).values({
        ...source,
        notification: 'welcome',
        locale: 'en',
        version: 99,
        subject: 'Found by polling',
        createdBy: 'a@school.test',
      })
      expect(await until(() => render(store).subject === 'Found by polling')).toBe(true)
    } finally {
      await sync.stop()
    }
  })
})
