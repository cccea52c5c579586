// Admin template pages: the list of every notification × locale, and the
// editor with its live preview, test send and version history. Props in,
// HTML out; every value from outside is escaped (`safe`).

import { Html } from '@elysiajs/html'
import type { DiffLine } from '../../src/admin/line-diff.ts'
import { AdminLayout, CsrfField, type AdminShell } from './layout.tsx'

type Shell = AdminShell & { admin: { email: string; csrfToken: string } }

/** `2026-12-04 22:10 UTC`: admins on call read one zone, the one the logs use. */
export function formatWhen(at: Date): string {
  return `${at.toISOString().slice(0, 16).replace('T', ' ')} UTC`
}

export type TemplateState =
  | { kind: 'file' }
  | { kind: 'edited' | 'reverted'; version: number; by: string | null; at: Date }

export interface TemplateRow {
  notification: string
  locale: string
  category: string
  /** The locale has its own file (else the editor starts from the one it falls back to). */
  hasFile: boolean
  state: TemplateState
}

export const templatePath = (notification: string, locale: string) =>
  `/admin/templates/${encodeURIComponent(notification)}/${encodeURIComponent(locale)}`

function StateText({ state, hasFile }: { state: TemplateState; hasFile: boolean }): JSX.Element {
  if (state.kind === 'file') return <span>{hasFile ? 'File default' : 'File default (falls back to another locale)'}</span>
  const who = `${state.by ?? 'unknown'}, ${formatWhen(state.at)}`
  return state.kind === 'edited' ? (
    <span>
      <strong>Edited</strong>: version {state.version} by <span safe>{who}</span>
    </span>
  ) : (
    <span>
      File default (reverted in version {state.version} by <span safe>{who}</span>)
    </span>
  )
}

export function TemplatesListPage({ rows, ...shell }: Shell & { rows: TemplateRow[] }): JSX.Element {
  return (
    <AdminLayout {...shell} title="Templates" current="/admin/templates">
      <p class="tpl-lead">
        Every email Belfry sends, in every locale. An edit is stored as a new version over the file in{' '}
        <code>templates/</code>; the file is used again after a revert.
      </p>
      <div class="tpl-table-wrap">
        <table class="tpl-table">
          <caption class="tpl-sr">Templates by notification and locale, with what each one runs from</caption>
          <thead>
            <tr>
              <th scope="col">Notification</th>
              <th scope="col">Locale</th>
              <th scope="col">Category</th>
              <th scope="col">Runs from</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => (
              <tr>
                <th scope="row">
                  <a href={templatePath(row.notification, row.locale)}>
                    <span safe>{row.notification}</span>
                    <span class="tpl-sr" safe>
                      {` (${row.locale})`}
                    </span>
                  </a>
                </th>
                <td safe>{row.locale}</td>
                <td safe>{row.category}</td>
                <td>
                  <StateText state={row.state} hasFile={row.hasFile} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </AdminLayout>
  )
}

export type PreviewResult =
  | { ok: true; subject: string; frameUrl: string; text: string }
  | { ok: false; errors: string[] }

/** The live preview's content: what htmx swaps into #preview on every pause in typing. */
export function PreviewBody({ result, oob = false }: { result: PreviewResult; oob?: boolean }): JSX.Element {
  const status = result.ok ? 'Preview updated.' : `The template does not compile: ${result.errors.length} problem${result.errors.length === 1 ? '' : 's'}.`
  return (
    <>
      {oob ? (
        <p id="preview-status" class="tpl-sr" role="status" hx-swap-oob="true" safe>
          {status}
        </p>
      ) : (
        ''
      )}
      {result.ok ? (
        <div class="tpl-preview-ok">
          <dl class="tpl-facts">
            <dt>Subject</dt>
            <dd id="preview-subject" safe>
              {result.subject}
            </dd>
          </dl>
          <iframe class="tpl-frame" title="The email's HTML part, rendered with sample data" sandbox="" src={result.frameUrl}></iframe>
          <h3>Text part</h3>
          <pre class="tpl-text" tabindex="0" aria-label="The email's text part" safe>
            {result.text}
          </pre>
        </div>
      ) : (
        <ProblemList id="preview-errors" title="This template does not compile" errors={result.errors} />
      )}
    </>
  )
}

function ProblemList({ id, title, errors, alert = false }: { id: string; title: string; errors: string[]; alert?: boolean }): JSX.Element {
  return (
    <div id={id} class="tpl-problems" role={alert ? 'alert' : undefined}>
      <h3 safe>{title}</h3>
      <ul>
        {errors.map((error) => (
          <li safe>{error}</li>
        ))}
      </ul>
    </div>
  )
}

export interface HistoryEntry {
  id: string
  version: number
  revertedToDefault: boolean
  note: string | null
  createdBy: string | null
  createdAt: Date
  /** Against the version before it (or the file default, for version 1). */
  diff: DiffLine[]
  inUse: boolean
}

function DiffView({ lines }: { lines: DiffLine[] }): JSX.Element {
  if (!lines.some((line) => line.kind === 'added' || line.kind === 'removed')) return <p>No changes.</p>
  return (
    <ol class="tpl-diff">
      {lines.map((line) =>
        line.kind === 'skipped' ? (
          <li class="tpl-skip">
            … {line.count} unchanged {line.count === 1 ? <>line</> : <>lines</>} …
          </li>
        ) : line.kind === 'added' ? (
          <li class="tpl-add">
            <ins>
              <span class="tpl-mark" aria-hidden="true">
                +
              </span>
              <span class="tpl-sr">Added: </span>
              <span safe>{line.text}</span>
            </ins>
          </li>
        ) : line.kind === 'removed' ? (
          <li class="tpl-del">
            <del>
              <span class="tpl-mark" aria-hidden="true">
                −
              </span>
              <span class="tpl-sr">Removed: </span>
              <span safe>{line.text}</span>
            </del>
          </li>
        ) : (
          <li class="tpl-same">
            <span class="tpl-mark" aria-hidden="true">
              {' '}
            </span>
            <span safe>{line.text}</span>
          </li>
        ),
      )}
    </ol>
  )
}

/** Typed `string`, not the literal: it holds markup, and `safe` must escape it. */
const PARTIAL_EXAMPLE: string = '<partial name="button" href="…">Label</partial>'
const VARIANT_EXAMPLE: string = '{{#variant "b"}}…{{else}}…{{/variant}}'

export interface EditorForm {
  subject: string
  preheader: string
  /** The A/B test's front matter lines; empty for none. */
  experiment: string
  mjml: string
  text: string
  note: string
  testTo: string
}

export interface EditorProps extends Shell {
  notification: string
  locale: string
  category: string
  /** Path of the file this starts from, e.g. templates/welcome/en.mjml. */
  filePath: string
  runsFrom: TemplateState
  hasFile: boolean
  form: EditorForm
  /** Problems with the last save or test send, shown above the form. */
  errors?: { title: string; list: string[] }
  /** A confirmation after a save, rollback, revert or test send. */
  notice?: string
  preview: PreviewResult
  history: HistoryEntry[]
}

// Each textarea's content starts with '\n': HTML drops one newline right
// after <textarea>, and this way it is ours, not the template's.
export function TemplateEditorPage(props: EditorProps): JSX.Element {
  const { notification, locale, category, form, errors, notice, preview, history, runsFrom, hasFile, filePath, ...shell } = props
  const base = templatePath(notification, locale)
  const nextVersion = (history[0]?.version ?? 0) + 1
  const inUse = history.find((entry) => entry.inUse)
  return (
    <AdminLayout {...shell} title={`Template: ${notification} (${locale})`} current="/admin/templates">
      <p>
        <a href="/admin/templates">All templates</a>
      </p>
      <p class="tpl-lead">
        Category <strong safe>{category}</strong>. Runs from: <StateText state={runsFrom} hasFile={hasFile} />. The file
        default is <code safe>{filePath}</code>.
      </p>
      {notice ? (
        <p class="tpl-notice" role="status" id="notice" tabindex="-1" safe>
          {notice}
        </p>
      ) : (
        ''
      )}
      {errors ? <ProblemList id="save-errors" title={errors.title} errors={errors.list} alert /> : ''}
      <div class="tpl-editor">
        <form
          id="editor"
          method="post"
          action={base}
          class="tpl-form"
          hx-post={`${base}/preview`}
          hx-trigger="input delay:400ms"
          hx-target="#preview"
          hx-swap="innerHTML"
          hx-sync="this:replace"
        >
          <CsrfField token={shell.admin.csrfToken} />
          <label for="subject">Subject</label>
          <input id="subject" name="subject" type="text" required maxlength="500" value={form.subject} spellcheck="true" />
          <label for="preheader">Preheader</label>
          <input id="preheader" name="preheader" type="text" maxlength="500" value={form.preheader} aria-describedby="preheader-hint" />
          <p id="preheader-hint" class="tpl-hint">
            The preview line inbox lists show after the subject. Optional.
          </p>
          <label for="experiment">A/B test</label>
          <textarea id="experiment" name="experiment" rows="4" spellcheck="false" aria-describedby="experiment-hint" safe>
            {'\n' + form.experiment}
          </textarea>
          <p id="experiment-hint" class="tpl-hint">
            Optional. One setting a line: <code>variants: a:50, b:50</code>, then <code>subject.b: Another subject</code>{' '}
            for each variant after the first (which uses the subject above), and if you like{' '}
            <code>metric: clicks</code> (opens by default) and <code>auto_promote: true</code>. Vary the body with{' '}
            <code safe>{VARIANT_EXAMPLE}</code>. Results are under <a href="/admin/experiments">Experiments</a>.
          </p>
          <label for="mjml">MJML body</label>
          <textarea id="mjml" name="mjml" rows="18" spellcheck="false" aria-describedby="mjml-hint" safe>
            {'\n' + form.mjml}
          </textarea>
          <p id="mjml-hint" class="tpl-hint">
            The email's card, inside the shared layout. <code>{'{{value}}'}</code> placeholders and{' '}
            <code safe>{PARTIAL_EXAMPLE}</code> work as in the files (see templates/README.md).
          </p>
          <label for="text">Text part</label>
          <textarea id="text" name="text" rows="12" spellcheck="true" safe>
            {'\n' + form.text}
          </textarea>
          <label for="note">Note for the history (optional)</label>
          <input id="note" name="note" type="text" maxlength="500" value={form.note} />
          <div class="tpl-actions">
            <button type="submit" class="primary">
              Save as version {nextVersion}
            </button>
          </div>
          <fieldset class="tpl-test">
            <legend>Send a test</legend>
            <p class="tpl-hint">Sends what is in the form now (saved or not), with the preview's sample data, to one address.</p>
            <label for="test_to">Address</label>
            <input id="test_to" name="test_to" type="email" maxlength="320" autocomplete="email" value={form.testTo} />
            <button type="submit" formaction={`${base}/test`}>
              Send test
            </button>
          </fieldset>
        </form>
        <section class="tpl-preview" aria-labelledby="preview-heading">
          <h2 id="preview-heading">Preview</h2>
          <p class="tpl-hint">
            With sample data for <span safe>{notification}</span>; updates as you type.
          </p>
          <p id="preview-status" class="tpl-sr" role="status"></p>
          <div id="preview">
            <PreviewBody result={preview} />
          </div>
        </section>
      </div>
      <section class="tpl-history" aria-labelledby="history-heading">
        <h2 id="history-heading">Version history</h2>
        {history.length === 0 ? (
          <p>No edits yet: this template runs from its file.</p>
        ) : (
          <ol class="tpl-versions">
            {history.map((entry) => (
              <li id={`version-${entry.version}`}>
                <h3>
                  Version {entry.version}
                  {entry.revertedToDefault ? ' — back to the file default' : ''}
                  {entry.inUse ? ' (in use)' : ''}
                </h3>
                <p>
                  By <span safe>{entry.createdBy ?? 'unknown'}</span>, <time safe>{formatWhen(entry.createdAt)}</time>.
                  {entry.note ? (
                    <>
                      {' '}
                      Note: <span safe>{entry.note}</span>
                    </>
                  ) : (
                    ''
                  )}
                </p>
                <details>
                  <summary>
                    Changes from {entry.version === 1 ? <>the file default</> : <>version {entry.version - 1}</>}
                  </summary>
                  <DiffView lines={entry.diff} />
                </details>
                {entry.inUse ? (
                  ''
                ) : (
                  <form method="post" action={`${base}/rollback`} class="tpl-inline">
                    <CsrfField token={shell.admin.csrfToken} />
                    <input type="hidden" name="version" value={entry.id} />
                    <button type="submit">Roll back to version {entry.version}</button>
                  </form>
                )}
              </li>
            ))}
          </ol>
        )}
        {inUse && !inUse.revertedToDefault ? (
          <form method="post" action={`${base}/revert`} class="tpl-inline">
            <CsrfField token={shell.admin.csrfToken} />
            <button type="submit">Revert to the file default</button>
          </form>
        ) : (
          ''
        )}
      </section>
    </AdminLayout>
  )
}

export function TemplateNotFoundPage(shell: Shell): JSX.Element {
  return (
    <AdminLayout {...shell} title="No such template" current="/admin/templates">
      <p>
        There is no template by that name and locale. <a href="/admin/templates">See all templates</a>.
      </p>
    </AdminLayout>
  )
}
