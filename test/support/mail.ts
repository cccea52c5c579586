// Reading received emails the way a mail client would.

import type { ReceivedMessage } from './smtp-sink.ts'

/** What a mail client does to an attribute value before following the link. */
export function decodeEntities(value: string): string {
  return value
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&')
}

/** Every link in the HTML part, as a client would follow it. */
export function links(mail: ReceivedMessage): string[] {
  return [...String(mail.parsed.html).matchAll(/href="([^"]+)"/g)].map((m) => decodeEntities(m[1]!))
}

/** A header as it was sent (mailparser folds List-* headers into a structure). */
export function header(mail: ReceivedMessage, name: string): string | undefined {
  const line = mail.parsed.headerLines.find((h) => h.key === name.toLowerCase())?.line
  return line?.slice(line.indexOf(':') + 1).trim()
}
