// Management API keys: `bfk_` and 32 random bytes (base64url). Only the
// SHA-256 is stored; a key is shown once, when it is made.

import { createHash, randomBytes } from 'node:crypto'

export const KEY_PREFIX = 'bfk_'

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex')
}

export function newKey(): { key: string; hash: string; prefix: string } {
  const key = KEY_PREFIX + randomBytes(32).toString('base64url')
  return { key, hash: hashKey(key), prefix: key.slice(0, KEY_PREFIX.length + 6) }
}

/** The key of `Authorization: Bearer <key>`, or null; anything not shaped like one of ours is refused before a lookup. */
export function bearerKey(header: string | null): string | null {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')
  const key = match?.[1]
  return key && key.startsWith(KEY_PREFIX) && key.length <= 100 ? key : null
}
