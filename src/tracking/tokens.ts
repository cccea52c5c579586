// What the tracking URLs carry. The click token holds the exact target URL
// under the MAC, so the redirect goes only where an email we sent pointed:
// a forged or edited token cannot name another destination (no open
// redirect), and no lookup table of links has to be kept per message.

import type { TokenSigner } from '../preferences/tokens.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const HTTP_URL = /^https?:\/\//i

/** Events accept URLs up to 2048 characters; base64 and the MAC add about a third. */
const MAX_CLICK_TOKEN = 4096
const MAX_OPEN_TOKEN = 200

export interface ClickTarget {
  messageId: string
  url: string
}

export function openToken(signer: TokenSigner, messageId: string): string {
  return signer.signData('track-open', messageId)
}

export function readOpenToken(signer: TokenSigner, token: string): { messageId: string } | null {
  const data = signer.verifyData('track-open', token, MAX_OPEN_TOKEN)
  return data !== null && UUID.test(data) ? { messageId: data } : null
}

// A UUID has a fixed length, so the URL is everything after it and the
// separator: no character of the URL needs escaping.
export function clickToken(signer: TokenSigner, messageId: string, url: string): string {
  return signer.signData('track-click', `${messageId} ${url}`)
}

export function readClickToken(signer: TokenSigner, token: string): ClickTarget | null {
  const data = signer.verifyData('track-click', token, MAX_CLICK_TOKEN)
  if (data === null || data[36] !== ' ') return null
  const messageId = data.slice(0, 36)
  const url = data.slice(37)
  // Only http(s) is ever signed; checking again costs nothing should that change.
  if (!UUID.test(messageId) || !HTTP_URL.test(url)) return null
  return { messageId, url }
}
