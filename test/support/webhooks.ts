// Signs test requests with the reference Standard Webhooks library, so our
// own verifier is checked against an independent implementation.

import { randomBytes, randomUUID } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

export const TEST_SECRET = `whsec_${Buffer.from('belfry-test-webhook-secret-0123456789').toString('base64')}`

export interface SignedRequestOptions {
  secret?: string
  id?: string
  /** Seconds since the epoch; now by default. */
  timestamp?: number
  /** Replace the signature header entirely. */
  signature?: string | null
  url?: string
}

export function signedRequest(body: string | Uint8Array<ArrayBuffer>, options: SignedRequestOptions = {}): Request {
  const id = options.id ?? `msg_${randomUUID()}`
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000)
  const signature =
    options.signature === undefined
      ? new Webhook(options.secret ?? TEST_SECRET).sign(id, new Date(timestamp * 1000), body)
      : options.signature
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(timestamp),
  }
  if (signature !== null) headers['webhook-signature'] = signature
  return new Request(options.url ?? 'http://belfry.test/v1/events', { method: 'POST', headers, body })
}

export function eventRequest(type: string, data: unknown, options: SignedRequestOptions = {}): Request {
  return signedRequest(JSON.stringify({ type, data }), options)
}

export const randomSecret = () => `whsec_${randomBytes(32).toString('base64')}`
