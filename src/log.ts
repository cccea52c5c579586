// One JSON object per line on stdout. Field values whose key looks like a
// secret are replaced before anything is written, so a careless call site
// cannot leak a password, token or signature into the logs.

import type { LogLevel } from './config.ts'

const LEVELS: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 }
const SECRET_KEY = /pass(word)?|secret|token|authorization|signature|cookie|api[-_]?key/i

export type Fields = Record<string, unknown>

export interface Logger {
  debug(msg: string, fields?: Fields): void
  info(msg: string, fields?: Fields): void
  warn(msg: string, fields?: Fields): void
  error(msg: string, fields?: Fields): void
  child(fields: Fields): Logger
}

/** Removes credentials from a URL such as smtp://user:pass@host. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url)
    if (parsed.password) parsed.password = '***'
    return parsed.toString()
  } catch {
    return '***'
  }
}

/**
 * An error as it may be logged. A failed query's own message repeats the SQL
 * and every bound value (emails, reset links, tokens), so a database error is
 * logged by its cause — Postgres's message and SQLSTATE — and never with
 * its parameters.
 */
function describeError(error: Error): Fields {
  const cause = (error as { cause?: unknown }).cause
  const source = cause instanceof Error ? cause : error
  const code = (source as { code?: unknown }).code
  return {
    name: source.name,
    message: source.message.split(/\n\s*params:/)[0]!.replace(/^Failed query: [\s\S]*/, 'a database query failed'),
    ...(typeof code === 'string' ? { code } : {}),
  }
}

function clean(fields: Fields): Fields {
  const out: Fields = {}
  for (const [key, value] of Object.entries(fields)) {
    if (SECRET_KEY.test(key)) out[key] = '***'
    else if (value instanceof Error) out[key] = describeError(value)
    else out[key] = value
  }
  return out
}

export function createLogger(
  level: LogLevel = 'info',
  base: Fields = {},
  write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
): Logger {
  const threshold = LEVELS[level]
  const emit = (lvl: LogLevel, msg: string, fields?: Fields) => {
    if (LEVELS[lvl] < threshold) return
    write(JSON.stringify({ time: new Date().toISOString(), level: lvl, msg, ...clean(base), ...clean(fields ?? {}) }))
  }
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger(level, { ...base, ...fields }, write),
  }
}

/** A logger that writes nothing, for tests that do not assert on logs. */
export const silentLogger: Logger = createLogger('error', {}, () => {})
