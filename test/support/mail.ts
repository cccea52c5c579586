// Reading received emails the way a mail client would.

import type { TokenSigner } from '../../src/preferences/tokens.ts'
import { readClickToken } from '../../src/tracking/tokens.ts'
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

/** Every link in the HTML part as the reader ends up there: a tracked link (`/t/c/…`) as the URL its token carries. */
export function linkTargets(mail: ReceivedMessage, signer: TokenSigner): string[] {
  return links(mail).map((link) => {
    const at = link.indexOf('/t/c/')
    return (at === -1 ? null : readClickToken(signer, link.slice(at + '/t/c/'.length)))?.url ?? link
  })
}

/** A header as it was sent (mailparser folds List-* headers into a structure). */
export function header(mail: ReceivedMessage, name: string): string | undefined {
  const line = mail.parsed.headerLines.find((h) => h.key === name.toLowerCase())?.line
  return line?.slice(line.indexOf(':') + 1).trim()
}
