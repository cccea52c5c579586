// Tracking applied to one rendered message, where the renderer is wired
// (service.ts). Only the HTML part changes: the text part keeps the
// original links, so a reader of plain text sees where each one goes (and
// clicks there are simply not counted).

import type { LearnerLinks } from '../preferences/links.ts'
import type { TokenSigner } from '../preferences/tokens.ts'
import type { TrackingPolicy } from './policy.ts'
import { escapeAttribute, rewriteHtml, type RewriteOptions } from './rewrite.ts'
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

/**
 * How a message's HTML is tracked, or undefined when it is not: the render
 * takes these (RenderOptions.tracking) and tracks the links as it writes
 * them, which costs a fraction of scanning the output (src/render/render.ts).
 */
export function trackingFor(deps: TrackingDeps, message: TrackableMessage, links: LearnerLinks): RewriteOptions | undefined {
  if (!deps.policy.tracks(message)) return undefined
  // The unsubscribe and preference links must work without us in the way,
  // and List-Unsubscribe names the same URL: they stay exactly as they are.
  const keep = new Set([links.preferences, links.unsubscribe].filter((link): link is string => !!link))
  return {
    clickUrl: (target) => clickUrl(deps, message.id, target),
    pixelUrl: openUrl(deps, message.id),
    keep,
  }
}

/**
 * The email with its open pixel and tracked links, or unchanged when the
 * message is not tracked: tracking by rewriting HTML already rendered. The
 * reference the render's own tracking is tested against, and the way for
 * HTML that no compiled template wrote.
 */
export function trackEmail<T extends { html: string }>(deps: TrackingDeps, message: TrackableMessage, links: LearnerLinks, rendered: T): T {
  const tracking = trackingFor(deps, message, links)
  return tracking ? { ...rendered, html: rewriteHtml(rendered.html, tracking) } : rendered
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
