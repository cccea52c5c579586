// Tracking applied to one rendered message, where the renderer is wired
// (service.ts). Only the HTML part changes: the text part keeps the
// original links, so a reader of plain text sees where each one goes (and
// clicks there are simply not counted).

import type { LearnerLinks } from '../preferences/links.ts'
import type { TokenSigner } from '../preferences/tokens.ts'
import type { TrackingPolicy } from './policy.ts'
import { escapeAttribute, rewriteHtml } from './rewrite.ts'
import { clickToken, openToken, readClickToken } from './tokens.ts'

export interface TrackingDeps {
  signer: TokenSigner
  /** PUBLIC_URL, without a trailing slash. */
  publicUrl: string
  policy: TrackingPolicy
}

export interface TrackableMessage {
  id: string
  notification: string
  category: string
}

export function openUrl(deps: Pick<TrackingDeps, 'signer' | 'publicUrl'>, messageId: string): string {
  return `${deps.publicUrl}/t/o/${openToken(deps.signer, messageId)}`
}

export function clickUrl(deps: Pick<TrackingDeps, 'signer' | 'publicUrl'>, messageId: string, target: string): string {
  return `${deps.publicUrl}/t/c/${clickToken(deps.signer, messageId, target)}`
}

/** The email with its open pixel and tracked links, or unchanged when the message is not tracked. */
export function trackEmail<T extends { html: string }>(deps: TrackingDeps, message: TrackableMessage, links: LearnerLinks, rendered: T): T {
  if (!deps.policy.tracks(message)) return rendered
  // The unsubscribe and preference links must work without us in the way,
  // and List-Unsubscribe names the same URL: they stay exactly as they are.
  const keep = new Set([links.preferences, links.unsubscribe].filter((link): link is string => !!link))
  const html = rewriteHtml(rendered.html, {
    clickUrl: (target) => clickUrl(deps, message.id, target),
    pixelUrl: openUrl(deps, message.id),
    keep,
  })
  return { ...rendered, html }
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')

/**
 * A tracked email as it was before tracking: no open pixel, each tracked
 * link back to its target. For an admin's preview of a sent message, which
 * must neither count as an open nor send clicks through us.
 */
export function withoutTracking(deps: Pick<TrackingDeps, 'signer' | 'publicUrl'>, html: string): string {
  const base = escapeRegExp(deps.publicUrl)
  return html
    .replace(new RegExp(`<img\\b[^>]*\\ssrc="${base}/t/o/[^"]*"[^>]*>`, 'g'), '')
    .replace(new RegExp(`href="${base}/t/c/([^"/]+)"`, 'g'), (whole, token: string) => {
      const target = readClickToken(deps.signer, token)
      return target ? `href="${escapeAttribute(target.url)}"` : whole
    })
}
