// Values a template marks `secret` (a password-reset link): once the email
// is out they are overwritten in the stored payloads (outbox/queries.ts
// redactSecrets), and admin pages show this mark in their place from the
// start. Paths are dotted, as in the front matter: `reset.url`.

export const REDACTED = '[redacted]'

/** A copy of `value` with each path that exists set to REDACTED; everything else is shared, not copied. */
export function maskSecrets<T>(value: T, paths: readonly string[]): T {
  let masked: unknown = value
  for (const path of paths) masked = maskPath(masked, path.split('.'))
  return masked as T
}

function maskPath(value: unknown, keys: readonly string[]): unknown {
  const [key, ...rest] = keys
  if (key === undefined || value === null || typeof value !== 'object' || Array.isArray(value) || !Object.hasOwn(value, key)) return value
  const record = value as Record<string, unknown>
  return { ...record, [key]: rest.length === 0 ? REDACTED : maskPath(record[key], rest) }
}
