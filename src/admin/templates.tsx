// Admin templates: the list, the editor with live preview and test send,
// version history with rollback and revert. Every route sits behind
// adminGuard (session + CSRF); save, rollback and revert are plain form
// posts that work without JavaScript, the preview is htmx.
//
//   GET  /admin/templates                              every notification × locale
//   GET  /admin/templates/:notification/:locale        the editor
//   POST /admin/templates/:notification/:locale        save a new version (compiled first)
//   POST /admin/templates/:notification/:locale/preview   htmx: compile + render with sample data
//   POST /admin/templates/:notification/:locale/test      send the form's content to one address
//   POST /admin/templates/:notification/:locale/rollback  a new version with an old one's content
//   POST /admin/templates/:notification/:locale/revert    a new version that hands it back to the file
//   GET  /admin/template-previews/:key                 the preview's HTML, for its sandboxed iframe

import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import {
  PreviewBody,
  TemplateEditorPage,
  TemplateNotFoundPage,
  TemplatesListPage,
  templatePath,
  type EditorForm,
  type HistoryEntry,
  type PreviewResult,
  type TemplateRow,
  type TemplateState,
} from '../../views/admin/templates.tsx'
import { contextFromConfig, renderTemplate, type CompiledTemplate, type RenderedEmail } from '../render/render.ts'
import { latestVersionSummaries, listVersions, findVersion, type VersionRow } from '../render/queries.ts'
import { context as sampleContext, NOW as SAMPLE_NOW, samples } from '../render/samples.ts'
import { TemplateError, type TemplateSource } from '../render/templates.ts'
import { saveVersion } from '../render/versions.ts'
import type { AdminSession } from './auth.ts'
import { adminGuard, ADMIN_HEADERS, html, redirect, signedIn, type AdminDeps } from './http.ts'
import { lineDiff, versionText } from './line-diff.ts'
import { PREVIEW_HEADERS, PreviewCache } from './previews.ts'
import { sendTest, TEST_ADDRESS } from './test-send.ts'
import { recordAudit } from './queries.ts'

const editorBody = t.Object(
  {
    _csrf: t.Optional(t.String()),
    subject: t.String({ maxLength: 500 }),
    preheader: t.Optional(t.String({ maxLength: 500 })),
    experiment: t.Optional(t.String({ maxLength: 5000 })),
    mjml: t.String({ maxLength: 200_000 }),
    text: t.String({ maxLength: 100_000 }),
    note: t.Optional(t.String({ maxLength: 500 })),
    test_to: t.Optional(t.String({ maxLength: 320 })),
  },
  { additionalProperties: true },
)
type EditorBody = typeof editorBody.static

/** A TemplateError as a list of problems, without the name prefix every one of them shares. */
function problemsOf(error: TemplateError, notification: string, locale: string): string[] {
  const prefix = `${notification}/${locale}: `
  const detail = (error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message).replaceAll(
    `${notification}/${locale} line `,
    'MJML body line ',
  )
  // MJML reports every invalid element at once, joined by "; ".
  return detail.startsWith('MJML: ') ? detail.slice('MJML: '.length).split('; ') : [detail]
}

/** The form as a template source. Browsers send a textarea's line breaks as CRLF; files and history use LF. */
function sourceOf(body: EditorBody): TemplateSource {
  const lf = (value: string) => value.replace(/\r\n?/g, '\n')
  const preheader = (body.preheader ?? '').trim()
  const experiment = lf(body.experiment ?? '').trim()
  return { subject: body.subject.trim(), preheader: preheader || null, experiment: experiment || null, mjml: lf(body.mjml), text: lf(body.text) }
}

function formOf(source: TemplateSource, extra: { note?: string | undefined; testTo?: string | undefined } = {}): EditorForm {
  return {
    subject: source.subject,
    preheader: source.preheader ?? '',
    experiment: source.experiment ?? '',
    mjml: source.mjml,
    text: source.text,
    note: extra.note ?? '',
    testTo: extra.testTo ?? '',
  }
}

const sourceOfRow = (row: VersionRow): TemplateSource => ({
  subject: row.subject,
  preheader: row.preheader,
  experiment: row.experiment,
  mjml: row.mjml,
  text: row.text,
})

export function templateRoutes(deps: AdminDeps) {
  const { templates, database, db, config } = deps
  const previews = new PreviewCache(500)
  const shellOf = (session: AdminSession) => ({
    assets: deps.assets,
    siteName: deps.siteName,
    admin: { email: session.email, csrfToken: session.csrfToken },
  })

  const known = (notification: string, locale: string) => templates.notifications().includes(notification) && templates.locales().includes(locale)

  /** What a preview or test send is rendered with: the sample event, this service's site name and address. */
  function renderSample(compiled: CompiledTemplate, notification: string, locale: string): RenderedEmail {
    const variables = samples[notification] ?? {}
    const timeZone = (variables.user as { timezone?: string } | undefined)?.timezone ?? null
    return renderTemplate(compiled, {
      locale,
      timeZone,
      variables,
      now: SAMPLE_NOW,
      context: { ...contextFromConfig(config), links: sampleContext.links ?? {} },
    })
  }

  /** Compiles and renders an edit; a problem list instead when either fails. */
  async function attempt(
    notification: string,
    locale: string,
    source: TemplateSource,
  ): Promise<{ ok: true; compiled: CompiledTemplate; rendered: RenderedEmail } | { ok: false; errors: string[] }> {
    let compiled: CompiledTemplate
    try {
      compiled = await templates.compileSource(notification, locale, source)
    } catch (error) {
      if (error instanceof TemplateError) return { ok: false, errors: problemsOf(error, notification, locale) }
      throw error
    }
    try {
      return { ok: true, compiled, rendered: renderSample(compiled, notification, locale) }
    } catch (error) {
      return { ok: false, errors: [`Rendering with the sample data failed: ${(error as Error).message}`] }
    }
  }

  async function previewOf(session: AdminSession, notification: string, locale: string, source: TemplateSource): Promise<PreviewResult> {
    const result = await attempt(notification, locale, source)
    if (!result.ok) return result
    const key = previews.put(session.adminId, result.rendered.html)
    return { ok: true, subject: result.rendered.subject, frameUrl: `/admin/template-previews/${key}`, text: result.rendered.text }
  }

  function stateOf(newest: Pick<VersionRow, 'version' | 'revertedToDefault' | 'createdBy' | 'createdAt'> | undefined): TemplateState {
    if (!newest) return { kind: 'file' }
    return { kind: newest.revertedToDefault ? 'reverted' : 'edited', version: newest.version, by: newest.createdBy, at: newest.createdAt }
  }

  /** The editor page, from the database: the version in use (or the file), its history, a preview. */
  async function editorPage(
    session: AdminSession,
    notification: string,
    locale: string,
    options: { form?: EditorForm; errors?: { title: string; list: string[] }; notice?: string; status?: number } = {},
  ): Promise<Response> {
    const versions = await listVersions(db, notification, locale)
    const fileSource = templates.fileSource(notification, locale)
    const newest = versions[0]
    const current = newest && !newest.revertedToDefault ? sourceOfRow(newest) : fileSource
    const form = options.form ?? formOf(current)
    const history: HistoryEntry[] = versions.map((row, index) => {
      const before = versions[index + 1] ? sourceOfRow(versions[index + 1]!) : fileSource
      return {
        id: row.id,
        version: row.version,
        revertedToDefault: row.revertedToDefault,
        note: row.note,
        createdBy: row.createdBy,
        createdAt: row.createdAt,
        diff: lineDiff(versionText(before), versionText(sourceOfRow(row))),
        inUse: index === 0,
      }
    })
    const preview = await previewOf(session, notification, locale, {
      subject: form.subject,
      preheader: form.preheader || null,
      experiment: form.experiment || null,
      mjml: form.mjml,
      text: form.text,
    })
    const hasFile = templates.hasFile(notification, locale)
    return html(
      <TemplateEditorPage
        {...shellOf(session)}
        notification={notification}
        locale={locale}
        category={templates.category(notification)}
        filePath={`templates/${notification}/${hasFile ? locale : 'en'}.mjml`}
        runsFrom={stateOf(newest)}
        hasFile={hasFile}
        form={form}
        preview={preview}
        history={history}
        {...(options.errors ? { errors: options.errors } : {})}
        {...(options.notice ? { notice: options.notice } : {})}
      />,
      options.status ?? 200,
    )
  }

  const notFound = (session: AdminSession) => html(<TemplateNotFoundPage {...shellOf(session)} />, 404)

  const audit = (session: AdminSession, action: string, notification: string, locale: string, detail: Record<string, unknown>) =>
    recordAudit(db, { adminId: session.adminId, adminEmail: session.email, action, target: `${notification}/${locale}`, detail })

  return new Elysia({ name: 'admin-templates' })
    .use(adminGuard(deps.auth))
    .get('/admin/templates', async ({ session }) => {
      const summaries = new Map((await latestVersionSummaries(db)).map((row) => [`${row.notification}/${row.locale}`, row]))
      const rows: TemplateRow[] = []
      for (const notification of templates.notifications()) {
        for (const locale of templates.locales()) {
          rows.push({
            notification,
            locale,
            category: templates.category(notification),
            hasFile: templates.hasFile(notification, locale),
            state: stateOf(summaries.get(`${notification}/${locale}`)),
          })
        }
      }
      return html(<TemplatesListPage {...shellOf(signedIn(session))} rows={rows} />)
    })
    .get('/admin/templates/:notification/:locale', async ({ session, params, query }) => {
      const admin = signedIn(session)
      if (!known(params.notification, params.locale)) return notFound(admin)
      const notice =
        typeof query.saved === 'string'
          ? `Saved as version ${query.saved}. New emails use it now.`
          : typeof query.restored === 'string'
            ? `Restored: the content is now in use again as version ${query.restored}.`
            : query.reverted !== undefined
              ? 'Reverted: new emails use the file default again.'
              : undefined
      return editorPage(admin, params.notification, params.locale, notice ? { notice } : {})
    })
    .post(
      '/admin/templates/:notification/:locale/preview',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        if (!known(params.notification, params.locale)) return notFound(admin)
        const result = await previewOf(admin, params.notification, params.locale, sourceOf(body))
        // 200 either way: the preview worked, and what it shows may be the template's problems.
        return html(<PreviewBody result={result} oob />)
      },
      { body: editorBody },
    )
    .get('/admin/template-previews/:key', ({ session, params }) => {
      const body = previews.get(signedIn(session).adminId, params.key)
      return new Response(
        body ?? '<!doctype html><title>Preview expired</title><p>This preview has expired. Edit the template to render it again.</p>',
        { status: body ? 200 : 404, headers: PREVIEW_HEADERS },
      )
    })
    .post(
      '/admin/templates/:notification/:locale',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const { notification, locale } = params
        if (!known(notification, locale)) return notFound(admin)
        const source = sourceOf(body)
        const result = await attempt(notification, locale, source)
        if (!result.ok) {
          return editorPage(admin, notification, locale, {
            form: formOf(source, { note: body.note, testTo: body.test_to }),
            errors: { title: 'Not saved: the template does not compile', list: result.errors },
            status: 422,
          })
        }
        const note = body.note?.trim() || null
        const stored = await saveVersion(
          database,
          templates,
          { ...source, notification, locale, revertedToDefault: false, note, createdBy: admin.email },
          result.compiled,
        )
        await audit(admin, 'template.save', notification, locale, { version: stored.version, note })
        return redirect(`${templatePath(notification, locale)}?saved=${stored.version}#notice`)
      },
      { body: editorBody },
    )
    .post(
      '/admin/templates/:notification/:locale/test',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const { notification, locale } = params
        if (!known(notification, locale)) return notFound(admin)
        const source = sourceOf(body)
        const to = (body.test_to ?? '').trim()
        const form = formOf(source, { note: body.note, testTo: to })
        if (!TEST_ADDRESS.test(to)) {
          return editorPage(admin, notification, locale, {
            form,
            errors: { title: 'No test sent', list: ['Enter the address to send the test to, like name@example.com.'] },
            status: 422,
          })
        }
        const result = await attempt(notification, locale, source)
        if (!result.ok) {
          return editorPage(admin, notification, locale, {
            form,
            errors: { title: 'No test sent: the template does not compile', list: result.errors },
            status: 422,
          })
        }
        const { rendered } = result
        try {
          const sent = await sendTest(deps, to, rendered, { kind: 'template', name: `${notification}/${locale}` })
          await audit(admin, 'template.test_send', notification, locale, { to, code: sent.code })
        } catch (error) {
          deps.log.warn('template test send failed', { notification, locale, error })
          await audit(admin, 'template.test_send', notification, locale, { to, failed: (error as Error).message })
          return editorPage(admin, notification, locale, {
            form,
            errors: { title: 'The test was not sent', list: [`${deps.transport.name}: ${(error as Error).message}`] },
            status: 502,
          })
        }
        // The page comes back with the form as it was: the edit may not be saved yet.
        return editorPage(admin, notification, locale, { form, notice: `Test sent to ${to} through ${deps.transport.name}.` })
      },
      { body: editorBody },
    )
    .post(
      '/admin/templates/:notification/:locale/rollback',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const { notification, locale } = params
        if (!known(notification, locale)) return notFound(admin)
        const old = await findVersion(db, body.version)
        if (!old || old.notification !== notification || old.locale !== locale) return notFound(admin)
        let compiled: CompiledTemplate | null = null
        const source = old.revertedToDefault ? templates.fileSource(notification, locale) : sourceOfRow(old)
        if (!old.revertedToDefault) {
          const result = await attempt(notification, locale, source)
          if (!result.ok) {
            return editorPage(admin, notification, locale, {
              errors: { title: `Version ${old.version} no longer compiles; nothing was changed`, list: result.errors },
              status: 422,
            })
          }
          compiled = result.compiled
        }
        const stored = await saveVersion(
          database,
          templates,
          {
            ...source,
            notification,
            locale,
            revertedToDefault: old.revertedToDefault,
            note: `Rolled back to version ${old.version}`,
            createdBy: admin.email,
          },
          compiled,
        )
        await audit(admin, 'template.rollback', notification, locale, { version: stored.version, from: old.version })
        return redirect(`${templatePath(notification, locale)}?restored=${stored.version}#notice`)
      },
      { body: t.Object({ _csrf: t.Optional(t.String()), version: t.String({ maxLength: 64 }) }) },
    )
    .post(
      '/admin/templates/:notification/:locale/revert',
      async ({ session, params }) => {
        const admin = signedIn(session)
        const { notification, locale } = params
        if (!known(notification, locale)) return notFound(admin)
        // The file's content is stored with it, so the history diff shows what the revert changed back.
        const stored = await saveVersion(
          database,
          templates,
          {
            ...templates.fileSource(notification, locale),
            notification,
            locale,
            revertedToDefault: true,
            note: 'Reverted to the file default',
            createdBy: admin.email,
          },
          null,
        )
        await audit(admin, 'template.revert', notification, locale, { version: stored.version })
        return redirect(`${templatePath(notification, locale)}?reverted=1#notice`)
      },
      { body: t.Object({ _csrf: t.Optional(t.String()) }, { additionalProperties: true }) },
    )
}
