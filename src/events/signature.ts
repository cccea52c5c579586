// Standard Webhooks verification (https://www.standardwebhooks.com): an
// HMAC-SHA256 over "{webhook-id}.{webhook-timestamp}.{raw body}", keyed with
// the base64 secret after its `whsec_` prefix. The header may carry several
// space-separated `v1,<base64>` signatures so a sender can rotate secrets;
// any one that matches is enough. Comparison is constant-time.

import { createHmac, timingSafeEqual } from 'node:crypto'
import { AppError } from '../errors.ts'

export const TOLERANCE_SECONDS = 5 * 60

export interface WebhookHeaders {
  id: string | null
  timestamp: string | null
  signature: string | null
}

export function secretKey(secret: string): Buffer {
  return Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64')
}

export function sign(secret: string, id: string, timestamp: number | string, body: Uint8Array | string): string {
  const mac = createHmac('sha256', secretKey(secret))
  mac.update(`${id}.${timestamp}.`)
  mac.update(body)
  return `v1,${mac.digest('base64')}`
}

function reject(reason: string): never {
  throw new AppError('invalid_signature', reason)
}

/**
 * Throws an `invalid_signature` AppError (401) saying what is wrong, or
 * returns the verified webhook id. `secrets` holds every secret currently
 * accepted (more than one while a rotation is under way).
 */
export function verifySignature(
  secrets: readonly string[],
  headers: WebhookHeaders,
  body: Uint8Array,
  nowSeconds = Math.floor(Date.now() / 1000),
): string {
  const { id, timestamp, signature } = headers
  if (!id || !timestamp || !signature) {
    reject('webhook-id, webhook-timestamp and webhook-signature headers are required')
  }
  if (id.length > 255) reject('webhook-id is longer than 255 characters')
  if (!/^\d{1,12}$/.test(timestamp)) reject('webhook-timestamp must be unix seconds')
  if (Math.abs(nowSeconds - Number(timestamp)) > TOLERANCE_SECONDS) {
    reject('webhook-timestamp is more than 5 minutes away from now')
  }

  const offered = signature
    .split(' ')
    .filter((part) => part.startsWith('v1,'))
    .map((part) => Buffer.from(part.slice(3), 'base64'))
  if (offered.length === 0) reject('webhook-signature has no v1 signature')

  for (const secret of secrets) {
    const expected = Buffer.from(sign(secret, id, timestamp, body).slice(3), 'base64')
    // Check every offered signature even after a match, so timing says nothing about which one matched.
    let matched = false
    for (const candidate of offered) {
      if (candidate.length === expected.length && timingSafeEqual(candidate, expected)) matched = true
    }
    if (matched) return id
  }
  return reject('no signature matches')
}
