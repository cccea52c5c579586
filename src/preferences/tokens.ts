// Signed tokens for the learner pages reached from an email: the preference
// page and one-click unsubscribe. No login, no expiry (an unsubscribe link in
// a years-old email must still work), so the token itself is the credential:
//
//   <kid>.<payload>.<mac>   all base64url
//
// payload is the recipient id (and the category, for unsubscribe links);
// mac is HMAC-SHA256 over purpose and payload with APP_SECRET, cut to 128
// bits; kid names the secret that signed it, so a rotated secret can still
// verify old links while new ones use the new secret. Anything that does not
// verify is simply "not found": a forger learns nothing, not even whether a
// recipient exists.

import { createHash, timingSafeEqual } from 'node:crypto'

export type TokenPurpose = 'preferences' | 'unsubscribe'

/**
 * Tokens whose payload is not a recipient but opaque text of the caller's
 * (tracking links carry a message id and a URL). Separate purposes, so no
 * such token can ever pass as a preference or unsubscribe token.
 */
export type DataPurpose = 'track-open' | 'track-click'

export interface TokenSubject {
  recipientId: string
  category?: string
}

const MAC_BYTES = 16
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
const CATEGORY = /^[a-z_]{1,40}$/

function keyId(secret: string): string {
  return createHash('sha256').update(secret).digest('base64url').slice(0, 6)
}

// A keyed hasher per secret, copied for each token: a message signs ~9
// tokens (links, pixel, unsubscribe, preferences), and copying the keyed
// state took 0.4–0.7× the time of a new createHmac each (scratch A/B of
// 100,000 tokens, same process).
const keyed = new Map<string, Bun.CryptoHasher>()

function mac(secret: string, purpose: TokenPurpose | DataPurpose, payload: string): Buffer {
  let hasher = keyed.get(secret)
  if (!hasher) keyed.set(secret, (hasher = new Bun.CryptoHasher('sha256', secret)))
  return (hasher.copy().update(`belfry-token\n${purpose}\n${payload}`).digest() as Buffer).subarray(0, MAC_BYTES)
}

export class TokenSigner {
  private readonly byKid: Map<string, string>
  private readonly current: string
  /** The signing secret's kid, hashed once: every email signs several links. */
  private readonly currentKid: string

  /** `secrets[0]` signs; every one of them verifies. */
  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('TokenSigner needs at least one secret')
    this.current = secrets[0]!
    this.currentKid = keyId(this.current)
    this.byKid = new Map(secrets.map((secret) => [keyId(secret), secret]))
  }

  sign(purpose: TokenPurpose, subject: TokenSubject): string {
    const payload = Buffer.from(
      subject.category ? `${subject.recipientId}:${subject.category}` : subject.recipientId,
    ).toString('base64url')
    return `${this.currentKid}.${payload}.${mac(this.current, purpose, payload).toString('base64url')}`
  }

  /** The subject of a genuine token of this purpose, or null for anything else. */
  verify(purpose: TokenPurpose, token: string): TokenSubject | null {
    const payload = this.checked(purpose, token, 200)
    if (payload === null) return null
    const [recipientId, category, extra] = Buffer.from(payload, 'base64url').toString('utf8').split(':')
    if (!recipientId || !UUID.test(recipientId) || extra !== undefined) return null
    if (purpose === 'unsubscribe' && (!category || !CATEGORY.test(category))) return null
    return category ? { recipientId, category } : { recipientId }
  }

  /** A token carrying `data` (UTF-8), in the same format as the recipient tokens. */
  signData(purpose: DataPurpose, data: string): string {
    const payload = Buffer.from(data, 'utf8').toString('base64url')
    return `${this.currentKid}.${payload}.${mac(this.current, purpose, payload).toString('base64url')}`
  }

  /** The data of a genuine token of this purpose, or null for anything else (including tokens over `maxLength`). */
  verifyData(purpose: DataPurpose, token: string, maxLength: number): string | null {
    const payload = this.checked(purpose, token, maxLength)
    return payload === null ? null : Buffer.from(payload, 'base64url').toString('utf8')
  }

  /** The base64url payload of a token whose MAC is right, or null. */
  private checked(purpose: TokenPurpose | DataPurpose, token: string, maxLength: number): string | null {
    // Elysia hands over null for a path segment that is not valid percent-encoding (`/u/%FF`).
    if (typeof token !== 'string') return null
    const parts = token.split('.')
    if (parts.length !== 3 || token.length > maxLength) return null
    const [kid, payload, signature] = parts as [string, string, string]
    const secret = this.byKid.get(kid)
    if (!secret) return null
    const given = Buffer.from(signature, 'base64url')
    // Base64 decoding forgives a changed final character (its spare bits) and stray
    // symbols; only the one canonical spelling of the MAC is the token.
    if (given.toString('base64url') !== signature) return null
    const expected = mac(secret, purpose, payload)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return null
    return payload
  }
}
