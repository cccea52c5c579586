// The learner links every email carries: the preference page, and for
// non-essential mail the RFC 8058 one-click unsubscribe (as a header and in
// the footer). Both are signed tokens, never a login.

import { DIGEST_CATEGORY, ESSENTIAL_NOTIFICATIONS } from './categories.ts'
import type { TokenSigner } from './tokens.ts'

export interface LinkSubject {
  recipientId: string | null
  category: string
  notification: string
}

export interface LearnerLinks {
  preferences?: string
  unsubscribe?: string
}

export function learnerLinks(signer: TokenSigner, publicUrl: string, message: LinkSubject): LearnerLinks {
  // Admin alerts go to admins, who manage them in the admin UI.
  if (!message.recipientId || message.category === 'admin') return {}
  const preferences = `${publicUrl}/preferences/${signer.sign('preferences', { recipientId: message.recipientId })}`
  if (ESSENTIAL_NOTIFICATIONS.has(message.notification)) return { preferences }
  const category = message.category === DIGEST_CATEGORY ? DIGEST_CATEGORY : message.category
  return {
    preferences,
    unsubscribe: `${publicUrl}/u/${signer.sign('unsubscribe', { recipientId: message.recipientId, category })}`,
  }
}

/** RFC 8058: both headers, or neither. */
export function unsubscribeHeaders(links: LearnerLinks): Record<string, string> {
  if (!links.unsubscribe) return {}
  return {
    'List-Unsubscribe': `<${links.unsubscribe}>`,
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  }
}
