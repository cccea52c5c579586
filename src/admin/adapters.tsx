// LMS adapters (issue 11, item 6):
//
//   GET  /admin/adapters                    each adapter's settings, and the last native events with what became of them
//   POST /admin/adapters/:name              save one adapter's settings (tokens kept when left blank); audited
//   POST /admin/adapters/events/:id/retry   a dead native event back to `enriching`; audited
//
// Tokens are never shown again once saved: the page shows their last four
// characters, and the audit log records that one changed, not its value.

import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import { AdminLayout, CsrfField, type AdminShell } from '../../views/admin/layout.tsx'
import { Status, when } from '../../views/admin/people.tsx'
import { adapterNames, type AdapterName } from '../adapters/model.ts'
import type { AdapterPipeline, AdapterSettings } from '../adapters/pipeline.ts'
import { recentNativeEvents, requeueNativeEvent, saveAdapterSettings, type AdapterSettingsPatch } from '../adapters/queries.ts'
import type { NativeEvent } from '../db/schema/index.ts'
import type { AdminSession } from './auth.ts'
import { adminGuard, html, redirect, signedIn, type AdminDeps } from './http.ts'
import { recordAudit } from './queries.ts'

const LABELS: Record<AdapterName, string> = { canvas: 'Canvas', moodle: 'Moodle', openedx: 'Open edX' }
const RECENT = 50

/** `••••abcd`: enough to tell two tokens apart, never enough to use one. */
export function maskToken(token: string | null): string {
  if (!token) return 'not set'
  return token.length <= 8 ? '••••' : `••••${token.slice(-4)}`
}

function optionalUrl(value: string | undefined): string | null | 'invalid' {
  const trimmed = value?.trim() ?? ''
  if (trimmed === '') return null
  if (!URL.canParse(trimmed) || !/^https?:$/.test(new URL(trimmed).protocol)) return 'invalid'
  return trimmed
}

function mappedText(row: NativeEvent): string {
  const mapped = (row.mapped ?? []) as { type: string; messages: number }[]
  if (row.state === 'mapped') return mapped.length === 0 ? 'mapped to nothing' : mapped.map((m) => `${m.type} (${m.messages} email${m.messages === 1 ? '' : 's'})`).join(', ')
  if (row.state === 'enriching') return `waiting for a lookup, attempt ${row.attempts}, next ${when(row.nextAttemptAt)}: ${row.reason ?? ''}`
  return row.reason ?? ''
}

interface AdapterPageProps extends AdminShell {
  csrfToken: string
  /** The LMS whose events the list shows; all of them when absent. */
  only?: AdapterName | undefined
  settings: Record<AdapterName, AdapterSettings & { jwksFromEnv: boolean }>
  events: readonly NativeEvent[]
  publicUrl: string
  status?: string | undefined
  error?: boolean
}

function AdapterPage({ csrfToken, only, settings, events, publicUrl, status, error, ...shell }: AdapterPageProps): JSX.Element {
  return (
    <AdminLayout {...shell} title="LMS adapters" current="/admin/adapters">
      <p class="hint">
        Point an LMS at Belfry with its own event format. What to set on the LMS side is in the README's pages for Canvas, Moodle and Open edX.
      </p>
      <Status id="adapter-status" message={status} error={error ?? false} />
      {adapterNames.map((name) => {
        const s = settings[name]
        const id = (field: string) => `${name}-${field}`
        return (
          <section aria-labelledby={id('heading')}>
            <h2 id={id('heading')} safe>
              {LABELS[name]}
            </h2>
            <p>
              Endpoint: <code safe>{`${publicUrl}/v1/adapters/${name}`}</code>
            </p>
            <form method="post" action={`/admin/adapters/${name}`} class="stacked">
              <CsrfField token={csrfToken} />
              <label>
                <input type="checkbox" name="enabled" value="yes" checked={s.enabled} /> Enabled
              </label>
              <label for={id('base')}>LMS base URL (for lookups)</label>
              <input id={id('base')} name="baseUrl" type="url" maxlength="2048" value={s.baseUrl ?? ''} />
              {name === 'openedx' ? (
                ''
              ) : (
                <>
                  <label for={id('api')}>{name === 'canvas' ? 'Canvas API access token' : 'Moodle web service token'}</label>
                  <input id={id('api')} name="apiToken" type="password" autocomplete="off" maxlength="500" aria-describedby={id('api-now')} />
                  <p id={id('api-now')} class="hint" safe>
                    {`Now: ${maskToken(s.apiToken)}. Leave blank to keep it.`}
                  </p>
                  <label>
                    <input type="checkbox" name="clearApiToken" value="yes" /> Remove the API token
                  </label>
                </>
              )}
              <label for={id('inbound')}>Token the LMS sends with each event</label>
              <input id={id('inbound')} name="inboundToken" type="password" autocomplete="off" maxlength="500" aria-describedby={id('inbound-now')} />
              <p id={id('inbound-now')} class="hint" safe>
                {`Now: ${maskToken(s.inboundToken)}. Leave blank to keep it.`}
              </p>
              {name === 'canvas' ? (
                <>
                  <label for={id('jwks')}>JWKS URL (signed Live Events)</label>
                  <input id={id('jwks')} name="jwksUrl" type="url" maxlength="2048" value={s.jwksFromEnv ? '' : (s.jwksUrl ?? '')} aria-describedby={id('jwks-now')} />
                  {s.jwksFromEnv ? (
                    <p id={id('jwks-now')} class="hint">
                      From CANVAS_JWKS_URL: <span safe>{s.jwksUrl ?? ''}</span>
                    </p>
                  ) : (
                    <p id={id('jwks-now')} class="hint">
                      With a JWKS URL, only signed events are accepted.
                    </p>
                  )}
                </>
              ) : (
                ''
              )}
              <button type="submit" safe>{`Save ${LABELS[name]}`}</button>
            </form>
          </section>
        )
      })}
      <section aria-labelledby="recent-heading">
        <h2 id="recent-heading">Last events received</h2>
        <nav aria-label="Events of one LMS">
          <ul class="inline-actions">
            <li>
              <a href="/admin/adapters#recent-heading" aria-current={only ? undefined : 'page'}>
                All
              </a>
            </li>
            {adapterNames.map((name) => (
              <li>
                <a href={`/admin/adapters?adapter=${name}#recent-heading`} aria-current={only === name ? 'page' : undefined} safe>
                  {LABELS[name]}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        {events.length === 0 ? (
          <p>No native event has arrived yet.</p>
        ) : (
          <div class="table-wrap">
            <table class="list">
              <caption safe>{`The last native events${only ? ` from ${LABELS[only]}` : ''}, newest first, and how each was mapped or why not`}</caption>
              <thead>
                <tr>
                  <th scope="col">Received</th>
                  <th scope="col">LMS</th>
                  <th scope="col">Event</th>
                  <th scope="col">Object</th>
                  <th scope="col">State</th>
                  <th scope="col">Mapped to, or why not</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {events.map((row) => (
                  <tr>
                    <td safe>{when(row.receivedAt)}</td>
                    <td safe>{LABELS[row.adapter as AdapterName] ?? row.adapter}</td>
                    <td safe>{row.eventName}</td>
                    <td safe>{row.objectId ?? '—'}</td>
                    <td safe>{row.state}</td>
                    <td safe>{mappedText(row)}</td>
                    <td>
                      {row.state === 'dead' ? (
                        <form method="post" action={`/admin/adapters/events/${encodeURIComponent(row.id)}/retry`}>
                          <CsrfField token={csrfToken} />
                          <button type="submit">Retry</button>
                        </form>
                      ) : (
                        ''
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
    </AdminLayout>
  )
}

const STATUS_TEXT: Record<string, string> = {
  saved: 'Settings saved.',
  retried: 'The event will be tried again within seconds.',
  'not-dead': 'That event is not dead, so there is nothing to retry.',
  'bad-url': 'A URL must start with http:// or https://. Nothing was saved.',
}

export function adapterAdminRoutes(deps: AdminDeps, pipeline: AdapterPipeline) {
  const { db } = deps
  const shell = (admin: AdminSession) => ({ assets: deps.assets, siteName: deps.siteName, admin: { email: admin.email, csrfToken: admin.csrfToken } })

  return new Elysia({ name: 'admin-adapters' })
    .use(adminGuard(deps.auth))
    .get('/admin/adapters', async ({ session, query }) => {
      const admin = signedIn(session)
      const entries = await Promise.all(
        adapterNames.map(async (name) => {
          const s = await pipeline.settings(name)
          const stored = name === 'canvas' && s.jwksUrl !== null && s.jwksUrl === deps.config.canvasJwksUrl
          return [name, { ...s, jwksFromEnv: stored }] as const
        }),
      )
      const code = typeof query.status === 'string' ? query.status : undefined
      const only = adapterNames.find((name) => name === query.adapter)
      return html(
        <AdapterPage
          {...shell(admin)}
          csrfToken={admin.csrfToken}
          settings={Object.fromEntries(entries) as AdapterPageProps['settings']}
          only={only}
          events={await recentNativeEvents(db, RECENT, only)}
          publicUrl={deps.config.publicUrl}
          status={code ? STATUS_TEXT[code] : undefined}
          error={code === 'bad-url' || code === 'not-dead'}
        />,
      )
    })
    .post(
      '/admin/adapters/events/:id/retry',
      async ({ session, params }) => {
        const admin = signedIn(session)
        if (!/^[0-9a-f-]{36}$/i.test(params.id)) return redirect('/admin/adapters?status=not-dead')
        const done = await db.transaction(async (tx) => {
          const changed = await requeueNativeEvent(tx, params.id)
          if (changed) await recordAudit(tx, { adminId: admin.adminId, adminEmail: admin.email, action: 'adapter_event.retried', target: params.id })
          return changed
        })
        return redirect(`/admin/adapters?status=${done ? 'retried' : 'not-dead'}`)
      },
      { body: t.Optional(t.Object({ _csrf: t.Optional(t.String()) })) },
    )
    .post(
      '/admin/adapters/:name',
      async ({ session, params, body }) => {
        const admin = signedIn(session)
        const name = params.name as AdapterName
        if (!adapterNames.includes(name)) return new Response('No such adapter', { status: 404 })
        const baseUrl = optionalUrl(body.baseUrl)
        const jwksUrl = name === 'canvas' ? optionalUrl(body.jwksUrl) : null
        if (baseUrl === 'invalid' || jwksUrl === 'invalid') return redirect('/admin/adapters?status=bad-url')
        const patch: AdapterSettingsPatch = { enabled: body.enabled === 'yes', baseUrl }
        if (name === 'canvas') patch.jwksUrl = jwksUrl
        const apiToken = body.apiToken?.trim()
        if (apiToken) patch.apiToken = apiToken
        else if (body.clearApiToken === 'yes') patch.apiToken = null
        const inboundToken = body.inboundToken?.trim()
        if (inboundToken) patch.inboundToken = inboundToken
        await db.transaction(async (tx) => {
          await saveAdapterSettings(tx, name, patch)
          // What changed, never a token's value.
          const detail = { enabled: patch.enabled, baseUrl, ...(name === 'canvas' ? { jwksUrl } : {}), apiTokenChanged: 'apiToken' in patch, inboundTokenChanged: 'inboundToken' in patch }
          await recordAudit(tx, { adminId: admin.adminId, adminEmail: admin.email, action: 'adapter.saved', target: name, detail })
        })
        return redirect('/admin/adapters?status=saved')
      },
      {
        body: t.Object({
          _csrf: t.Optional(t.String()),
          enabled: t.Optional(t.String({ maxLength: 3 })),
          baseUrl: t.Optional(t.String({ maxLength: 2048 })),
          apiToken: t.Optional(t.String({ maxLength: 500 })),
          clearApiToken: t.Optional(t.String({ maxLength: 3 })),
          inboundToken: t.Optional(t.String({ maxLength: 500 })),
          jwksUrl: t.Optional(t.String({ maxLength: 2048 })),
        }),
      },
    )
}
