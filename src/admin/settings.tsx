// Settings (issue 4, item 7):
//
//   GET  /admin/settings                             alerts, transport, webhook secret, mailbox link
//   POST /admin/settings/alerts                      add / save / remove an admin-alert recipient
//   POST /admin/settings/transport                   the split between transports and the fallback, or back to the environment's
//   POST /admin/settings/brand                       the emails' name, logo, colours, font and address (contrast-checked), or the defaults
//   POST /admin/settings/test-email                  send a test through the active transport
//   POST /admin/settings/webhook-secret/rotate       new secret (shown once), old one kept for an overlap
//   POST /admin/settings/api-keys                    a new management API key (shown once)
//   POST /admin/settings/api-keys/:id/revoke         revoke one (it stops working at once)
//   GET  /admin/settings/mailbox                     the file transport's .eml files, newest first
//   GET  /admin/settings/mailbox/:name               one message: headers, text part, HTML in a sandboxed frame
//   GET  /admin/settings/mailbox/:name/html          that HTML, under CSP `sandbox`
//
// Every POST is audited. They answer with the settings page itself (not a
// redirect): the new webhook secret must appear in exactly one response, and
// a test send's result is only worth showing once.

import { randomUUID } from 'node:crypto'
import { Html } from '@elysiajs/html'
import { Elysia, t } from 'elysia'
import {
  MailboxMessagePage,
  MailboxPage,
  OVERLAP_CHOICES,
  SettingsPage,
  type EnrollmentMode,
  type SettingsProps,
  type TestSendResult,
} from '../../views/admin/settings.tsx'
import type { AdminAlertRecipient } from '../events/fanout.ts'
import { brandProblems, DEFAULT_BRAND, type Brand } from '../render/brand.ts'
import { siteNameFromMailbox } from '../render/render.ts'
import { loadFanoutFlags, loadMailRouting, saveAdminAlerts, saveBrand, saveMailRouting, secretFingerprint, type MailRouting } from '../settings/runtime.ts'
import { mailFromDomain, transportNames, type TransportName, type WeightedTransport } from '../config.ts'
import { withoutTracking } from '../tracking/apply.ts'
import { mailDirectory } from '../transport/file.ts'
import { TransportError } from '../transport/types.ts'
import type { AdminSession } from './auth.ts'
import { adminGuard, html, redirect, signedIn, type AdminDeps } from './http.ts'
import { PREVIEW_HEADERS } from './previews.ts'
import { listMailbox, parseEml, readMailboxFile } from './mailbox.ts'
import { adminNotFound, PAGE_SIZE, pageNumber } from './people.tsx'
import { recordAudit } from './queries.ts'
import { CsrfField } from '../../views/admin/layout.tsx'
import { when } from '../../views/admin/people.tsx'
import { newKey } from '../api/keys.ts'
import { insertApiKey, listApiKeys, revokeApiKey } from '../api/queries.ts'
import type { ApiKey } from '../db/schema/index.ts'

const EMAIL = /^[^\s@<>"]+@[^\s@<>"]+\.[^\s@<>"]+$/
const MODES: readonly EnrollmentMode[] = ['paid', 'all', 'off']

/** `smtp://user:pass@host:587` → `smtp://host:587`: the server, never the credentials. */
export function transportDetail(name: string, smtpUrl: string | undefined, dataDir: string): string | null {
  if (name === 'file') return mailDirectory(dataDir)
  if (name === 'smtp' && smtpUrl) {
    try {
      const url = new URL(smtpUrl)
      return `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ''}`
    } catch {
      return null
    }
  }
  return null
}

/** `ses:3, smtp:1, fallback file`: a routing in the words of MAIL_TRANSPORTS and MAIL_FALLBACK. */
function describeRouting(split: readonly WeightedTransport[], fallback: string | null | undefined): string {
  return `${split.map((s) => `${s.name}:${s.weight}`).join(', ')}${fallback ? `, fallback ${fallback}` : ''}`
}

const brandForm = t.Object({
  action: t.Optional(t.String({ maxLength: 10 })),
  name: t.Optional(t.String({ maxLength: 100 })),
  logo_url: t.Optional(t.String({ maxLength: 500 })),
  primary: t.Optional(t.String({ maxLength: 7 })),
  text: t.Optional(t.String({ maxLength: 7 })),
  muted: t.Optional(t.String({ maxLength: 7 })),
  page: t.Optional(t.String({ maxLength: 7 })),
  card: t.Optional(t.String({ maxLength: 7 })),
  font_stack: t.Optional(t.String({ maxLength: 200 })),
  postal_address: t.Optional(t.String({ maxLength: 500 })),
  _csrf: t.Optional(t.String()),
})

const routingForm = t.Object({
  action: t.Optional(t.String({ maxLength: 10 })),
  fallback: t.Optional(t.String({ maxLength: 10 })),
  weight_file: t.Optional(t.String({ maxLength: 5 })),
  weight_smtp: t.Optional(t.String({ maxLength: 5 })),
  weight_ses: t.Optional(t.String({ maxLength: 5 })),
  _csrf: t.Optional(t.String()),
})

const alertForm = t.Object({
  action: t.Optional(t.String({ maxLength: 20 })),
  email: t.Optional(t.String({ maxLength: 320 })),
  enrollment: t.Optional(t.String({ maxLength: 10 })),
  registrations: t.Optional(t.String({ maxLength: 10 })),
  errors: t.Optional(t.String({ maxLength: 10 })),
  _csrf: t.Optional(t.String()),
})

interface ApiKeysPanelProps {
  csrfToken: string
  keys: readonly ApiKey[]
  /** Only in the answer to a creation: the one time a key is shown. */
  newKey?: { name: string; key: string } | undefined
  error?: string | undefined
}

export function ApiKeysPanel({ csrfToken, keys, newKey, error }: ApiKeysPanelProps): JSX.Element {
  return (
    <section id="api-keys-panel" class="card" aria-labelledby="api-keys-heading" tabindex="-1">
      <h2 id="api-keys-heading">API keys</h2>
      <p class="hint">
        Keys for the management API (<a href="/docs/api">documentation</a>): sent as <code>Authorization: Bearer …</code>.
        Only a hash is kept, so a key is shown once, when it is made.
      </p>
      {newKey ? (
        <div class="secret-once" role="status">
          <p>
            <strong>
              The new key “<span safe>{newKey.name}</span>”.
            </strong>{' '}
            Copy it now: it will not be shown again.
          </p>
          <label for="new-api-key">New API key</label>
          <input id="new-api-key" class="secret" readonly value={newKey.key} autofocus />
        </div>
      ) : (
        ''
      )}
      {keys.length === 0 ? (
        <p>No API keys yet.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">name</th>
              <th scope="col">starts with</th>
              <th scope="col">made</th>
              <th scope="col">last used</th>
              <th scope="col">state</th>
            </tr>
          </thead>
          <tbody>
            {keys.map((key) => (
              <tr>
                <td safe>{key.name}</td>
                <td>
                  <code safe>{`${key.prefix}…`}</code>
                </td>
                <td safe>{`${when(key.createdAt)}${key.createdBy ? ` by ${key.createdBy}` : ''}`}</td>
                <td safe>{`${key.lastUsedAt ? when(key.lastUsedAt) : 'never'}`}</td>
                <td>
                  {key.revokedAt ? (
                    <span safe>{`revoked ${when(key.revokedAt)}`}</span>
                  ) : (
                    <form method="post" action={`/admin/settings/api-keys/${encodeURIComponent(key.id)}/revoke`}>
                      <CsrfField token={csrfToken} />
                      <button type="submit" class="danger" aria-label={`Revoke the key ${key.name}`}>
                        Revoke
                      </button>
                    </form>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form method="post" action="/admin/settings/api-keys" class="stacked">
        <CsrfField token={csrfToken} />
        <label for="api-key-name">Name (what uses it)</label>
        <input id="api-key-name" name="name" required maxlength="100" />
        <button type="submit">Make a new key</button>
      </form>
      {error ? (
        <p class="error" role="alert" safe>
          {error}
        </p>
      ) : (
        ''
      )}
    </section>
  )
}

/**
 * The settings view has no slot for this panel yet, so it goes in before
 * the mailbox panel, with its entry in the section list.
 */
function withApiKeysPanel(settings: JSX.Element, panel: JSX.Element): JSX.Element {
  const page = settings as string
  const at = page.indexOf('<section id="mailbox-panel"')
  const toc = '<li><a href="/admin/settings/mailbox">Mailbox</a></li>'
  if (at < 0) return page
  return (page.slice(0, at) + (panel as string) + page.slice(at)).replace(toc, `<li><a href="#api-keys-panel">API keys</a></li>${toc}`)
}

export function settingsRoutes(deps: AdminDeps) {
  const { db, config } = deps
  const store = deps.secrets.webhook
  const mailDir = mailDirectory(config.dataDir)

  async function propsFor(session: AdminSession, extra: Partial<SettingsProps> = {}): Promise<SettingsProps> {
    const [flags, state, mailbox, routing] = await Promise.all([
      loadFanoutFlags(db),
      store.state(),
      listMailbox(mailDir, { limit: 0, offset: 0 }).catch(() => ({ total: null })),
      loadMailRouting(db),
    ])
    const previousUntil = state.previousUntil ? new Date(state.previousUntil) : null
    const props: SettingsProps = {
      assets: deps.assets,
      siteName: deps.siteName,
      admin: { email: session.email, csrfToken: session.csrfToken },
      csrfToken: session.csrfToken,
      alerts: flags.adminAlerts,
      transport: { name: deps.transport.name, detail: transportDetail(deps.transport.name, config.smtpUrl, config.dataDir) },
      brand: {
        current: deps.templates.brand,
        isDefault: JSON.stringify(deps.templates.brand) === JSON.stringify(DEFAULT_BRAND),
        defaultName: siteNameFromMailbox(config.mailFrom),
      },
      routing: {
        rows: deps.transport.health(),
        overridden: routing !== undefined,
        environment: describeRouting(config.mailTransports, config.mailFallback),
      },
      webhook: {
        managedByEnvironment: store.managedByEnvironment,
        fingerprint: secretFingerprint(state.current),
        previous:
          state.previous && previousUntil && previousUntil.getTime() > Date.now()
            ? { fingerprint: secretFingerprint(state.previous), until: previousUntil }
            : null,
      },
      mailboxCount: mailbox.total,
      ...extra,
    }
    return props
  }

  async function page(
    session: AdminSession,
    extra: Partial<SettingsProps> = {},
    status = 200,
    keys: Omit<ApiKeysPanelProps, 'csrfToken' | 'keys'> = {},
  ): Promise<Response> {
    return settingsHtml(await propsFor(session, extra), status, keys)
  }

  async function settingsHtml(props: SettingsProps, status = 200, keys: Omit<ApiKeysPanelProps, 'csrfToken' | 'keys'> = {}): Promise<Response> {
    const panel = <ApiKeysPanel csrfToken={props.csrfToken} keys={await listApiKeys(db)} {...keys} />
    return html(withApiKeysPanel(<SettingsPage {...props} />, panel), status)
  }

  const audit = (session: AdminSession, action: string, target: string | undefined, detail: Record<string, unknown>) =>
    recordAudit(db, { adminId: session.adminId, adminEmail: session.email, action, ...(target ? { target } : {}), detail })

  return new Elysia({ name: 'admin-settings' })
    .use(adminGuard(deps.auth))
    .get('/admin/settings', ({ session }) => page(signedIn(session)))
    .post(
      '/admin/settings/alerts',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const email = (body.email ?? '').trim().toLowerCase()
        const action = body.action ?? 'save'
        const enrollment = MODES.includes(body.enrollment as EnrollmentMode) ? (body.enrollment as EnrollmentMode) : 'paid'
        const entry: AdminAlertRecipient = {
          email,
          enrollment,
          registrations: body.registrations === 'on',
          errors: body.errors === 'on',
        }
        const current = (await loadFanoutFlags(db)).adminAlerts
        const index = current.findIndex((a) => a.email.toLowerCase() === email)
        let next: AdminAlertRecipient[]
        let message: string
        if (action === 'add') {
          if (!EMAIL.test(email)) return page(admin, { alertError: 'Enter an email address such as ops@example.org.' }, 422)
          if (index >= 0) return page(admin, { alertError: `${email} already gets admin alerts.` }, 409)
          next = [...current, entry]
          message = `${email} now gets admin alerts.`
        } else if (action === 'remove') {
          if (index < 0) return page(admin, { alertError: `${email} is not on the list.` }, 404)
          next = current.filter((_, i) => i !== index)
          message = `${email} no longer gets admin alerts.`
        } else if (action === 'save') {
          if (index < 0) return page(admin, { alertError: `${email} is not on the list.` }, 404)
          next = current.map((a, i) => (i === index ? { ...entry, email: a.email } : a))
          message = `Saved what ${email} gets.`
        } else {
          return page(admin, { alertError: 'Unknown action.' }, 400)
        }
        await db.transaction(async (tx) => {
          await saveAdminAlerts(tx, next)
          await recordAudit(tx, {
            adminId: admin.adminId,
            adminEmail: admin.email,
            action: `settings.admin_alerts.${action}`,
            target: email,
            detail: action === 'remove' ? {} : { ...entry },
          })
        })
        return page(admin, { alertStatus: message, ...(action === 'add' ? { formKey: randomUUID().slice(0, 8) } : {}) })
      },
      { body: alertForm },
    )
    .post(
      '/admin/settings/brand',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const text = (value: string | undefined) => value?.replace(/\r\n?/g, '\n').trim() || null
        const brand: Brand | null =
          body.action === 'reset'
            ? null
            : {
                name: text(body.name),
                logoUrl: text(body.logo_url),
                primary: (body.primary ?? '').toLowerCase(),
                text: (body.text ?? '').toLowerCase(),
                muted: (body.muted ?? '').toLowerCase(),
                page: (body.page ?? '').toLowerCase(),
                card: (body.card ?? '').toLowerCase(),
                fontStack: (body.font_stack ?? '').trim(),
                postalAddress: text(body.postal_address),
              }
        const problems = brand ? brandProblems(brand) : []
        if (problems.length > 0) return page(admin, { brandErrors: problems }, 422)
        await db.transaction(async (tx) => {
          await saveBrand(tx, brand)
          await recordAudit(tx, {
            adminId: admin.adminId,
            adminEmail: admin.email,
            action: brand ? 'settings.brand' : 'settings.brand.reset',
            detail: brand ? { ...brand } : {},
          })
        })
        await deps.applyBrand(brand ?? DEFAULT_BRAND)
        return page(admin, { brandStatus: brand ? 'Saved: new emails use this brand (every Belfry process within 10 seconds).' : 'Back to the default brand.' })
      },
      { body: brandForm },
    )
    .post(
      '/admin/settings/transport',
      async ({ session, body }) => {
        const admin = signedIn(session)
        let routing: MailRouting | null = null
        if (body.action !== 'reset') {
          const split: WeightedTransport[] = []
          for (const name of deps.transport.configured as TransportName[]) {
            const raw = (body[`weight_${name}` as keyof typeof body] ?? '0').trim()
            if (!/^\d{1,4}$/.test(raw) || Number(raw) > 1000) {
              return page(admin, { routingError: `The share for ${name} must be a whole number from 0 to 1000.` }, 422)
            }
            split.push({ name, weight: Number(raw) })
          }
          const fallback = body.fallback ? (body.fallback as TransportName) : null
          if (fallback && !(transportNames as readonly string[]).includes(fallback)) {
            return page(admin, { routingError: 'Choose a configured transport as the fallback, or none.' }, 422)
          }
          routing = { split, fallback }
        }
        // Checked against this process's transports before it is stored for all of them.
        const refused = deps.transport.reroute(routing ? { split: routing.split, fallback: routing.fallback ?? undefined } : null)
        if (refused) return page(admin, { routingError: `Not saved: ${refused}.` }, 422)
        await db.transaction(async (tx) => {
          await saveMailRouting(tx, routing)
          await recordAudit(tx, {
            adminId: admin.adminId,
            adminEmail: admin.email,
            action: routing ? 'settings.transport_routing' : 'settings.transport_routing.reset',
            detail: routing ? { ...routing } : {},
          })
        })
        const now = deps.transport.routing
        return page(admin, { routingStatus: `Saved: ${describeRouting(now.split, now.fallback)}.` })
      },
      { body: routingForm },
    )
    .post(
      '/admin/settings/test-email',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const to = (body.to ?? '').trim()
        if (!EMAIL.test(to)) return page(admin, { testError: 'Enter an email address such as ops@example.org.' }, 422)
        const site = deps.siteName
        const sentAt = new Date().toISOString()
        let result: TestSendResult
        try {
          const sent = await deps.transport.send({
            messageId: `<test-${randomUUID()}@${mailFromDomain(config.mailFrom)}>`,
            from: config.mailFrom,
            to: { address: to },
            subject: `${site}: test email`,
            text: `This is a test email from ${site}'s notification service, sent by ${admin.email} at ${sentAt} through the ${deps.transport.name} transport.\n`,
            html:
              `<!doctype html><html lang="en"><body><p>This is a test email from ${Bun.escapeHTML(site)}'s notification service, ` +
              `sent by ${Bun.escapeHTML(admin.email)} at ${sentAt} through the ${Bun.escapeHTML(deps.transport.name)} transport.</p></body></html>`,
          })
          result = { ok: true, to, code: sent.code, response: sent.response }
        } catch (error) {
          const code = error instanceof TransportError ? (error.code ?? error.kind) : 'error'
          result = { ok: false, to, code, response: (error as Error).message }
        }
        await audit(admin, 'settings.test_email', to, { transport: deps.transport.name, ...result })
        return page(admin, { testResult: result }, result.ok ? 200 : 502)
      },
      { body: t.Object({ to: t.Optional(t.String({ maxLength: 320 })), _csrf: t.Optional(t.String()) }) },
    )
    .post(
      '/admin/settings/webhook-secret/rotate',
      async ({ session, body }) => {
        const admin = signedIn(session)
        if (store.managedByEnvironment) {
          return page(admin, { webhookError: 'WEBHOOK_SECRET is set in the environment; rotate it there.' }, 409)
        }
        const hours = Number(body.overlap_hours ?? '24')
        if (!OVERLAP_CHOICES.some((c) => c.hours === hours)) {
          return page(admin, { webhookError: 'Choose one of the offered overlap periods.' }, 422)
        }
        const before = await store.state()
        const { secret, previousUntil } = await store.rotate(hours * 3_600_000)
        await audit(admin, 'settings.webhook_secret.rotate', undefined, {
          previous: secretFingerprint(before.current),
          current: secretFingerprint(secret),
          previousUntil: previousUntil?.toISOString() ?? null,
        })
        // Shown in this one response only; the page is never cached (ADMIN_HEADERS: no-store).
        const props = await propsFor(admin)
        return settingsHtml({ ...props, webhook: { ...props.webhook, newSecret: secret } })
      },
      { body: t.Object({ overlap_hours: t.Optional(t.String({ maxLength: 5 })), _csrf: t.Optional(t.String()) }) },
    )
    .post(
      '/admin/settings/api-keys',
      async ({ session, body }) => {
        const admin = signedIn(session)
        const name = (body.name ?? '').trim()
        if (!name) return page(admin, {}, 422, { error: 'Give the key a name: what will use it.' })
        const made = newKey()
        const id = await insertApiKey(db, { name, keyHash: made.hash, prefix: made.prefix, createdBy: admin.email })
        await audit(admin, 'settings.api_key.create', id, { name, prefix: made.prefix })
        // Shown in this one response only; the page is never cached (ADMIN_HEADERS: no-store).
        return page(admin, {}, 200, { newKey: { name, key: made.key } })
      },
      { body: t.Object({ name: t.Optional(t.String({ maxLength: 100 })), _csrf: t.Optional(t.String()) }) },
    )
    .post(
      '/admin/settings/api-keys/:id/revoke',
      async ({ session, params }) => {
        const admin = signedIn(session)
        const name = /^[0-9a-f-]{36}$/i.test(params.id) ? await revokeApiKey(db, params.id) : null
        if (name === null) return page(admin, {}, 404, { error: 'No such key.' })
        await audit(admin, 'settings.api_key.revoke', params.id, { name })
        // Nothing to show once: back to the page, so a reload does not post again.
        return redirect('/admin/settings#api-keys-panel')
      },
      { body: t.Object({ _csrf: t.Optional(t.String()) }) },
    )
    .get('/admin/settings/mailbox', async ({ session, query }) => {
      const admin = signedIn(session)
      const n = pageNumber(query.page)
      const { entries, total } = await listMailbox(mailDir, { limit: PAGE_SIZE, offset: (n - 1) * PAGE_SIZE })
      return html(
        <MailboxPage
          assets={deps.assets}
          siteName={deps.siteName}
          admin={{ email: admin.email, csrfToken: admin.csrfToken }}
          transportName={deps.transport.name}
          entries={entries}
          paging={{ page: n, pageSize: PAGE_SIZE, total, href: (p) => `/admin/settings/mailbox?page=${p}` }}
        />,
      )
    })
    .get('/admin/settings/mailbox/:name', async ({ session, params }) => {
      const admin = signedIn(session)
      const raw = await readMailboxFile(mailDir, params.name)
      if (!raw) return adminNotFound(deps, admin, 'message in the mailbox')
      const parsed = parseEml(raw)
      return html(
        <MailboxMessagePage
          assets={deps.assets}
          siteName={deps.siteName}
          admin={{ email: admin.email, csrfToken: admin.csrfToken }}
          name={params.name}
          subject={parsed.subject}
          headers={parsed.headers}
          text={parsed.text}
          hasHtml={parsed.html !== null}
        />,
      )
    })
    .get('/admin/settings/mailbox/:name/html', async ({ session, params }) => {
      const admin = signedIn(session)
      const raw = await readMailboxFile(mailDir, params.name)
      const parsed = raw ? parseEml(raw) : undefined
      if (!parsed?.html) return adminNotFound(deps, admin, 'message in the mailbox')
      // An admin looking at a sent email is not a reader opening it: no pixel, links straight to their targets.
      return new Response(withoutTracking({ signer: deps.signer, publicUrl: config.publicUrl }, parsed.html), { headers: PREVIEW_HEADERS })
    })
}

