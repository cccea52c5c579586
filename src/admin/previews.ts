// Email previews in the admin pages. An email's HTML needs its inline
// styles, which the admin pages' CSP (inherited by a srcdoc frame) forbids,
// so each preview is served from its own URL with a CSP of its own, in a
// sandboxed frame.

import { randomBytes } from 'node:crypto'
import { ADMIN_HEADERS } from './http.ts'

/**
 * The preview frame's own headers: `sandbox` makes it a unique origin with
 * no scripts even if opened directly; inline styles (the email's own) are
 * all it may use; only the admin pages may frame it.
 */
export const PREVIEW_HEADERS: Readonly<Record<string, string>> = {
  ...ADMIN_HEADERS,
  // A link followed from a preview tells nobody which admin page it was on.
  'referrer-policy': 'no-referrer',
  'content-security-policy':
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; font-src https: data:; frame-ancestors 'self'",
  'x-frame-options': 'SAMEORIGIN',
}

const PREVIEW_TTL_MS = 15 * 60_000

/**
 * Rendered previews waiting for their frame to fetch them: per admin, in
 * this process's memory, for PREVIEW_TTL_MS. With several processes behind
 * a balancer that does not keep an admin on one of them, a preview can
 * miss; the frame then says so (the subject and text part, in the page
 * itself, are unaffected).
 */
export class PreviewCache {
  private entries = new Map<string, { adminId: string; html: string; expires: number }>()

  constructor(private readonly limit: number) {}

  put(adminId: string, body: string): string {
    const now = Date.now()
    for (const [key, entry] of this.entries) if (entry.expires < now || this.entries.size >= this.limit) this.entries.delete(key)
    const key = randomBytes(18).toString('base64url')
    this.entries.set(key, { adminId, html: body, expires: now + PREVIEW_TTL_MS })
    return key
  }

  get(adminId: string, key: string): string | undefined {
    const entry = this.entries.get(key)
    return entry && entry.adminId === adminId && entry.expires >= Date.now() ? entry.html : undefined
  }
}
