// Moodle's logstore keeps an event's `other` as PHP serialize() output, and
// webhook plugins forward it as is. This reads the subset Moodle writes —
// null, booleans, integers, floats, strings and arrays — and refuses
// everything else: objects (O:, C:) and references could be used to smuggle
// structure we never expect, so they are an error, not something to revive.

export class PhpSerializeError extends Error {}

/** Arrays nest this deep at most; Moodle's `other` is one or two levels. */
const MAX_DEPTH = 16

export function parsePhpSerialized(input: string): unknown {
  // PHP counts string lengths in bytes, so the reading is done on UTF-8 bytes.
  const bytes = new TextEncoder().encode(input)
  const decoder = new TextDecoder('utf-8', { fatal: true })
  let at = 0

  const fail = (why: string): never => {
    throw new PhpSerializeError(`${why} at byte ${at}`)
  }
  const expect = (char: string) => {
    if (bytes[at] !== char.charCodeAt(0)) fail(`expected "${char}"`)
    at++
  }
  const readUntil = (char: string): string => {
    const end = bytes.indexOf(char.charCodeAt(0), at)
    if (end < 0) fail(`missing "${char}"`)
    const text = decoder.decode(bytes.subarray(at, end))
    at = end + 1
    return text
  }
  const readInteger = (terminator: string): number => {
    const text = readUntil(terminator)
    if (!/^-?\d+$/.test(text)) fail('bad integer')
    return Number(text)
  }

  const value = (depth: number): unknown => {
    const kind = String.fromCharCode(bytes[at] ?? 0)
    at++
    if (kind === 'N') {
      expect(';')
      return null
    }
    expect(':')
    switch (kind) {
      case 'b': {
        const flag = readUntil(';')
        if (flag !== '0' && flag !== '1') fail('bad boolean')
        return flag === '1'
      }
      case 'i':
        return readInteger(';')
      case 'd': {
        const text = readUntil(';')
        if (text === 'INF') return Infinity
        if (text === '-INF') return -Infinity
        if (text === 'NAN') return NaN
        if (!/^-?\d+(\.\d+)?([eE][+-]?\d+)?$/.test(text)) fail('bad float')
        return Number(text)
      }
      case 's': {
        const length = readInteger(':')
        expect('"')
        if (at + length > bytes.length) fail('string runs past the end')
        const text = decoder.decode(bytes.subarray(at, at + length))
        at += length
        expect('"')
        expect(';')
        return text
      }
      case 'a': {
        if (depth >= MAX_DEPTH) fail('arrays nested too deep')
        const count = readInteger(':')
        expect('{')
        const entries: [string | number, unknown][] = []
        for (let i = 0; i < count; i++) {
          const key = value(depth + 1)
          if (typeof key !== 'string' && typeof key !== 'number') fail('array key is not a string or integer')
          entries.push([key as string | number, value(depth + 1)])
        }
        expect('}')
        // A PHP list (keys 0..n-1 in order) reads best as an array; anything else as an object.
        if (entries.every(([key], index) => key === index)) return entries.map(([, v]) => v)
        const object: Record<string, unknown> = Object.create(null)
        for (const [key, v] of entries) object[String(key)] = v
        return { ...object }
      }
      default:
        return fail(`unsupported type "${kind}"`)
    }
  }

  const result = value(0)
  if (at !== bytes.length) fail('trailing data')
  return result
}

/** Moodle's `other`: JSON, PHP-serialized, already an object, or absent. */
export function readMoodleOther(other: unknown): Record<string, unknown> {
  if (other === null || other === undefined || other === '') return {}
  if (typeof other === 'object' && !Array.isArray(other)) return other as Record<string, unknown>
  if (typeof other !== 'string') throw new PhpSerializeError('`other` is neither an object nor a string')
  const text = other.trim()
  if (text === 'N;') return {}
  if (text.startsWith('{')) {
    const parsed: unknown = JSON.parse(text)
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>
    throw new PhpSerializeError('`other` JSON is not an object')
  }
  const parsed = parsePhpSerialized(text)
  if (Array.isArray(parsed) && parsed.length === 0) return {}
  if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>
  throw new PhpSerializeError('`other` is not an array with keys')
}
