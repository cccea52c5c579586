// A rendered email sent to one address from an admin page, as a test (a
// template's editor, an announcement's compose page): one address check,
// one subject mark and one header for both.

import { randomUUID } from 'node:crypto'
import { mailFromDomain } from '../config.ts'
import type { RenderedEmail } from '../render/render.ts'
import type { SendResult } from '../transport/types.ts'
import type { AdminDeps } from './http.ts'

/** What a test may be sent to: one plain address, nothing a header could read as a list or a comment. */
export const TEST_ADDRESS = /^[^\s@<>()",;:]+@[^\s@<>()",;:]+\.[^\s@<>()",;:]+$/

/** Sends `rendered` to `to`, subject marked `[Test]`; `what` names the source in X-Belfry-Test and the Message-ID. Throws what the transport throws. */
export function sendTest(
  deps: Pick<AdminDeps, 'transport' | 'config'>,
  to: string,
  rendered: RenderedEmail,
  what: { kind: string; name: string },
): Promise<SendResult> {
  return deps.transport.send({
    messageId: `<${what.kind}-test-${randomUUID()}@${mailFromDomain(deps.config.mailFrom)}>`,
    from: deps.config.mailFrom,
    to: { address: to },
    subject: `[Test] ${rendered.subject}`,
    html: rendered.html,
    text: rendered.text,
    headers: { 'Content-Language': rendered.locale, 'X-Belfry-Test': what.name },
  })
}
