// What a failed send means for the message and for the address. Pure.

import type { TransportError } from '../transport/types.ts'

/**
 * Why a message is dead: the closed set a dead letter's `reason` holds, for
 * filtering and for the admin who decides between replay and discard.
 * `invalid_address` also puts the address on the suppression list.
 */
export type DeadReason = 'rejected' | 'invalid_address' | 'attempts_exhausted' | 'render_failed'

/** RFC 3463 enhanced status (`5.1.1`) in a server's reply text, if there is one. */
export function enhancedStatus(text: string): string | undefined {
  return /(?:^|\s)([245]\.\d{1,3}\.\d{1,3})(?=\s|$|[:;,.])/.exec(text)?.[1]
}

/**
 * A permanent refusal is about the address when the server says the
 * mailbox or domain does not exist (5.1.x: bad destination), about policy
 * (5.7.x: spam, authentication, a blocked sender) or anything else when it
 * does not: only the first makes sending there again pointless.
 */
export function permanentReason(failure: TransportError): DeadReason {
  const status = enhancedStatus(failure.message)
  return status?.startsWith('5.1.') ? 'invalid_address' : 'rejected'
}
