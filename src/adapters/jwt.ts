// Canvas signs Live Events delivered over HTTPS as RS256 JWTs whose keys are
// published as a JWKS. Keys are cached per URL; a token naming a key id we do
// not hold makes one refetch (Canvas rotates keys), rate-limited so that a
// stream of made-up key ids cannot turn us into a fetch loop against the LMS.

export class JwtError extends Error {}

interface Jwk {
  kty: string
  kid?: string
  alg?: string
  use?: string
  n?: string
  e?: string
}

/** One refetch per URL at most this often when unknown key ids appear. */
const REFETCH_MIN_MS = 30_000
/** Keys are trusted this long before a routine refetch. */
const CACHE_MS = 60 * 60_000
/** Clock difference tolerated on `exp` and `nbf`. */
const LEEWAY_S = 60

interface CachedKeys {
  keys: Map<string, CryptoKey>
  /** Keys without a `kid`, tried in turn for a token without one. */
  unnamed: CryptoKey[]
  fetchedAt: number
}

export class JwksCache {
  private readonly cache = new Map<string, CachedKeys>()
  private readonly inFlight = new Map<string, Promise<CachedKeys>>()

  constructor(
    private readonly fetcher: (url: string) => Promise<Response> = (url) => fetch(url, { signal: AbortSignal.timeout(10_000) }),
    private readonly clock: () => number = Date.now,
  ) {}

  private load(url: string): Promise<CachedKeys> {
    const pending = this.inFlight.get(url)
    if (pending) return pending
    const loading = (async () => {
      const response = await this.fetcher(url)
      if (!response.ok) throw new JwtError(`the JWKS answered ${response.status}`)
      const body = (await response.json()) as { keys?: Jwk[] }
      const entry: CachedKeys = { keys: new Map(), unnamed: [], fetchedAt: this.clock() }
      for (const jwk of body.keys ?? []) {
        if (jwk.kty !== 'RSA' || (jwk.alg && jwk.alg !== 'RS256') || (jwk.use && jwk.use !== 'sig') || !jwk.n || !jwk.e) continue
        const key = await crypto.subtle.importKey(
          'jwk',
          { kty: 'RSA', n: jwk.n, e: jwk.e, alg: 'RS256', ext: true },
          { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
          false,
          ['verify'],
        )
        if (jwk.kid) entry.keys.set(jwk.kid, key)
        else entry.unnamed.push(key)
      }
      this.cache.set(url, entry)
      return entry
    })().finally(() => this.inFlight.delete(url))
    this.inFlight.set(url, loading)
    return loading
  }

  /** The keys that may have signed a token with this `kid`; refetches once when it is unknown. */
  async keysFor(url: string, kid: string | undefined): Promise<CryptoKey[]> {
    let entry = this.cache.get(url)
    if (!entry || this.clock() - entry.fetchedAt > CACHE_MS) entry = await this.load(url)
    const pick = (e: CachedKeys) => (kid === undefined ? [...e.unnamed, ...e.keys.values()] : e.keys.has(kid) ? [e.keys.get(kid)!] : [])
    let keys = pick(entry)
    if (keys.length === 0 && this.clock() - entry.fetchedAt >= REFETCH_MIN_MS) keys = pick(await this.load(url))
    return keys
  }
}

function base64url(part: string): Uint8Array<ArrayBuffer> {
  if (!/^[A-Za-z0-9_-]*$/.test(part)) throw new JwtError('the token is not base64url')
  return new Uint8Array(Buffer.from(part, 'base64url'))
}

function json(part: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(base64url(part)))
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>
  } catch {
    // fall through: one answer for every unreadable part
  }
  throw new JwtError('the token is not readable JSON')
}

export function looksLikeJwt(text: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(text.trim())
}

/** Verifies a compact RS256 JWS against the JWKS at `url`; the claims when it holds, JwtError otherwise. */
export async function verifyJwt(token: string, url: string, jwks: JwksCache, nowMs = Date.now()): Promise<Record<string, unknown>> {
  const parts = token.trim().split('.')
  if (parts.length !== 3) throw new JwtError('the token does not have three parts')
  const [headerPart, payloadPart, signaturePart] = parts as [string, string, string]
  const header = json(headerPart)
  // Only RS256: accepting the header's word for the algorithm is how `none` and HS256-with-a-public-key attacks work.
  if (header.alg !== 'RS256') throw new JwtError('the token is not signed with RS256')
  const kid = typeof header.kid === 'string' ? header.kid : undefined
  let keys: CryptoKey[]
  try {
    keys = await jwks.keysFor(url, kid)
  } catch (error) {
    throw new JwtError(`the signing keys could not be read: ${(error as Error).message}`)
  }
  if (keys.length === 0) throw new JwtError('the token was signed with a key the JWKS does not list')
  const signed = new TextEncoder().encode(`${headerPart}.${payloadPart}`)
  const signature = base64url(signaturePart)
  let valid = false
  for (const key of keys) {
    if (await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, signature, signed)) {
      valid = true
      break
    }
  }
  if (!valid) throw new JwtError('the token signature does not verify')
  const claims = json(payloadPart)
  const now = nowMs / 1000
  if (typeof claims.exp === 'number' && now > claims.exp + LEEWAY_S) throw new JwtError('the token has expired')
  if (typeof claims.nbf === 'number' && now < claims.nbf - LEEWAY_S) throw new JwtError('the token is not valid yet')
  return claims
}
