// What every admin route shares: the session guard (sign-in redirect and
// CSRF check), response headers, and rendering a view to a Response.

import { Elysia } from 'elysia'
import type { AssetUrls } from '../../views/layout.tsx'
import type { AnnouncementTemplates } from '../announcements/templates.ts'
import type { Config } from '../config.ts'
import type { Database, Db } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { TokenSigner } from '../preferences/tokens.ts'
import type { TemplateStore } from '../render/templates.ts'
import type { Secrets } from '../settings/runtime.ts'
import type { Brand } from '../render/brand.ts'
import type { TransportRouter } from '../transport/router.ts'
import { safeEqual, type AdminAuth, type AdminSession } from './auth.ts'

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/**
 * Admin pages: our own scripts and styles only (htmx needs no eval for what
 * we use), never framed, never cached, never indexed. The message preview
 * route loosens frame-ancestors for itself only.
 */
export const ADMIN_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'referrer-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'x-robots-tag': 'noindex, nofollow',
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "frame-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
}

/** Everything the admin modules may use; each takes what it needs. */
export interface AdminDeps {
  auth: AdminAuth
  siteName: string
  assets: AssetUrls
  config: Readonly<Config>
  database: Database
  db: Db
  templates: TemplateStore
  /** The templates plus announcements' bodies: what the worker renders with, so the message pages show the same. */
  renderer: AnnouncementTemplates
  transport: TransportRouter
  secrets: Secrets
  signer: TokenSigner
  /** Puts a brand in use in this process at once (others follow from settings within seconds). */
  applyBrand(brand: Brand): Promise<void>
  log: Logger
}

/** A rendered view (or fragment) as an HTML response with the admin headers. */
export function html(body: JSX.Element, status = 200, extra: Record<string, string> = {}): Response {
  if (typeof body !== 'string') throw new Error('admin views render synchronously')
  const document = body.startsWith('<html') ? `<!doctype html>${body}` : body
  return new Response(document, { status, headers: { ...ADMIN_HEADERS, ...extra } })
}

export function redirect(location: string, extra: Record<string, string> = {}): Response {
  return new Response(null, { status: 303, headers: { location, 'cache-control': 'no-store', ...extra } })
}

function isHtmx(request: Request): boolean {
  return request.headers.get('hx-request') !== null
}

/** Only paths inside the admin UI are followed after sign-in, so `next` cannot send anyone elsewhere. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/admin(\/[A-Za-z0-9/_\-.?=&%]*)?$/.test(next) && !next.startsWith('//') ? next : '/admin'
}

/**
 * Put in front of every signed-in route: resolves `session`, sends anyone
 * without one to the sign-in page, and refuses a state change whose CSRF
 * token (header `X-CSRF-Token` from htmx, or form field `_csrf`) is not the
 * session's own. Deliberately unnamed: a named plugin is applied once per
 * app, and this one must apply to every module that uses it.
 */
export function adminGuard(auth: AdminAuth) {
  return new Elysia()
    .derive({ as: 'scoped' }, async ({ request }): Promise<{ session: AdminSession | null }> => ({
      session: await auth.sessionFrom(request),
    }))
    .onBeforeHandle({ as: 'scoped' }, ({ session, request, body }) => {
      if (!session) {
        const url = new URL(request.url)
        const login = `/admin/login?next=${encodeURIComponent(safeNext(url.pathname + url.search))}`
        return isHtmx(request)
          ? new Response(null, { status: 401, headers: { 'hx-redirect': login } })
          : redirect(login)
      }
      if (!SAFE_METHODS.has(request.method)) {
        const offered = request.headers.get('x-csrf-token') ?? (body as { _csrf?: unknown } | undefined)?._csrf
        if (typeof offered !== 'string' || !safeEqual(offered, session.csrfToken)) {
          return new Response('This form has expired or did not come from this site. Reload the page and try again.', {
            status: 403,
            headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' },
          })
        }
      }
    })
}

/** The session of a guarded route; the guard has already turned away requests without one. */
export function signedIn(session: AdminSession | null): AdminSession {
  if (!session) throw new Error('adminGuard must run before this handler')
  return session
}

/** The client address for rate limiting: the socket's, never a header anyone can set. */
export function clientAddress(server: { requestIP(request: Request): { address: string } | null } | null, request: Request): string {
  return server?.requestIP(request)?.address ?? 'local'
}
