// One realistic outgoing message for the transport tests: a localized
// subject and display name, both bodies, and the unsubscribe headers every
// non-essential email carries.

import { randomUUID } from 'node:crypto'
import type { HeaderLines } from 'mailparser'
import type { OutgoingMail } from '../../src/transport/types.ts'

export function sampleMail(overrides: Partial<OutgoingMail> = {}): OutgoingMail {
  const id = randomUUID()
  return {
    messageId: `<${id}@belfry.test>`,
    from: 'Belfry Academy <notify@belfry.test>',
    to: { address: 'zoe@example.com', name: 'Zoë Martín' },
    subject: 'Bienvenue à Belfry, Zoë — votre cours commence',
    text: 'Bonjour Zoë,\n\nVotre cours « Algèbre 1 » commence lundi.\n',
    html: '<!doctype html><html lang="fr"><body><p>Bonjour Zoë,</p><p>Votre cours « Algèbre 1 » commence lundi.</p></body></html>',
    headers: {
      'List-Unsubscribe': `<http://belfry.test/u/${id}>`,
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
    ...overrides,
  }
}

/** A header as it appears in the message (mailparser turns List-* headers into a structure). */
export function rawHeader(headerLines: HeaderLines, name: string): string | undefined {
  const line = headerLines.find((h) => h.key === name.toLowerCase())?.line
  return line?.slice(line.indexOf(':') + 1).trim()
}
