// The environment, read once at start, validated and frozen. Every variable
// the process honours is parsed here and nowhere else; a bad value stops the
// start with one line that names the variable (see ConfigError).

import { resolve } from 'node:path'

export type Role = 'all' | 'api' | 'worker'
export const transportNames = ['file', 'smtp', 'ses', 'null'] as const
export type TransportName = (typeof transportNames)[number]

/** One entry of MAIL_TRANSPORTS: a transport and its share of the traffic. */
export interface WeightedTransport {
  name: TransportName
  weight: number
}

export interface Config {
  port: number
  publicUrl: string
  databaseUrl: string | undefined
  dataDir: string
  mailTransport: TransportName
  /** The weighted split (MAIL_TRANSPORTS); just MAIL_TRANSPORT with weight 1 when unset. */
  mailTransports: WeightedTransport[]
  /** Takes the traffic of a transport whose circuit is open (MAIL_FALLBACK). */
  mailFallback: TransportName | undefined
  /** Sends per second across all processes, per transport; absent means no limit. */
  maxPerSecond: Partial<Record<TransportName, number>>
  /** How long a transport whose circuit opened is skipped before it is probed again. */
  circuitCoolDownMs: number
  smtpUrl: string | undefined
  /** Refuse to send over SMTP without TLS (STARTTLS or smtps://). */
  smtpRequireTls: boolean
  sesRegion: string | undefined
  sesEndpoint: string | undefined
  sesConfigurationSet: string | undefined
  /** Hosts SNS signing certificates may come from; null: AWS's own (sns.<region>.amazonaws.com). */
  snsCertHosts: string[] | null
  /** SNS topics whose notifications are accepted; none configured means none are. */
  snsTopicArns: string[]
  mailFrom: string
  orgPostalAddress: string | undefined
  /** Standard Webhooks secret; when unset, one is generated and stored in settings. */
  webhookSecret: string | undefined
  /** Signs tokens and links; when unset, one is generated and stored in settings. */
  appSecret: string | undefined
  adminEmail: string | undefined
  adminPassword: string | undefined
  role: Role
  workerConcurrency: number
  /** Connections to Postgres per process (DATABASE_POOL). */
  databasePool: number
  maxAttempts: number
  retryBaseMs: number
  retryMaxMs: number
  leaseMs: number
  defaultLocale: string
  /** Non-essential immediate emails per recipient per course per rolling day; the rest go to the digest. */
  budgetPerDay: number
  /** The learner's local night, in minutes after midnight; null when QUIET_HOURS=off. */
  quietHours: { start: number; end: number } | null
  /** Milliseconds before `due_at` at which deadline reminders go out, longest first. */
  reminderOffsets: number[]
  /** Milliseconds before `starts_at` at which session reminders go out, longest first. */
  sessionReminderOffsets: number[]
  /** Dead letters within five minutes that make Belfry alert its admins; 0 turns that alert off. */
  deadLetterAlert: number
  /** Days stored events, finished messages and delivery attempts are kept. */
  retentionDays: number
  /** Recipients an announcement's send expands into outbox rows per transaction (ANNOUNCE_BATCH). */
  announceBatch: number
  /** Open pixel and tracked links in emails (TRACKING=on|off). */
  tracking: boolean
  /** Bearer token GET /metrics requires; unset leaves the endpoint open. */
  metricsToken: string | undefined
  /** Where Canvas publishes the keys that sign its Live Events; the admin's adapter setting wins over it. */
  canvasJwksUrl: string | undefined
  logLevel: LogLevel
  /** Requests per API key (RATE_LIMIT_PER_KEY); null: no limit. */
  rateLimitPerKey: { capacity: number; windowMs: number } | null
  /** Requests per client address on /v1 (RATE_LIMIT_PER_ADDRESS); null: no limit. */
  rateLimitPerAddress: { capacity: number; windowMs: number } | null
  /** Opens and clicks recorded per client address (TRACKING_PER_ADDRESS); past it they are answered, not stored. Null: no limit. */
  trackingPerAddress: { capacity: number; windowMs: number } | null
  /** Largest request body the HTTP server reads at all (MAX_REQUEST_BYTES). */
  maxRequestBytes: number
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error'

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`${variable}: ${detail}`)
  }
}

type Env = Record<string, string | undefined>

function read(env: Env, name: string): string | undefined {
  const value = env[name]?.trim()
  return value === '' ? undefined : value
}

function integer(env: Env, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(name, `expected a whole number, got "${raw}"`)
  const value = Number(raw)
  if (value < min || value > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${value}`)
  return value
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${raw}"`)
  }
  return raw as T
}

function url(env: Env, name: string, protocols: readonly string[]): string | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  let parsed: URL
  try {
    parsed = new URL(raw)
  } catch {
    throw new ConfigError(name, 'is not a valid URL')
  }
  if (!protocols.includes(parsed.protocol)) {
    throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got "${parsed.protocol}"`)
  }
  return raw
}

const EMAIL = /^[^\s@<>]+@[^\s@<>]+$/

function email(env: Env, name: string): string | undefined {
  const raw = read(env, name)
  if (raw !== undefined && !EMAIL.test(raw)) throw new ConfigError(name, `"${raw}" is not an email address`)
  return raw
}

/** `Name <address>` or a bare address. */
function mailbox(env: Env, name: string, fallback: string): string {
  const raw = read(env, name) ?? fallback
  const address = /<([^>]+)>\s*$/.exec(raw)?.[1] ?? raw
  if (!EMAIL.test(address)) throw new ConfigError(name, `"${raw}" is not "Name <address>" or an address`)
  return raw
}

function webhookSecret(env: Env): string | undefined {
  const raw = read(env, 'WEBHOOK_SECRET')
  if (raw === undefined) return undefined
  const key = raw.startsWith('whsec_') ? raw.slice('whsec_'.length) : raw
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(key) || Buffer.from(key, 'base64').length < 16) {
    throw new ConfigError('WEBHOOK_SECRET', 'expected whsec_ followed by at least 16 bytes of base64')
  }
  return raw
}

function appSecret(env: Env): string | undefined {
  const raw = read(env, 'APP_SECRET')
  if (raw !== undefined && raw.length < 32) throw new ConfigError('APP_SECRET', 'must be at least 32 characters')
  return raw
}

/** `21:00-08:00` → minutes after midnight; `off` → null. */
function quietHours(env: Env): { start: number; end: number } | null {
  const raw = read(env, 'QUIET_HOURS') ?? '21:00-08:00'
  if (raw === 'off') return null
  const match = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(raw)
  const [sh, sm, eh, em] = (match?.slice(1) ?? []).map(Number) as [number, number, number, number]
  if (!match || sh > 23 || eh > 23 || sm > 59 || em > 59) {
    throw new ConfigError('QUIET_HOURS', `expected HH:MM-HH:MM (like 21:00-08:00) or off, got "${raw}"`)
  }
  if (sh * 60 + sm === eh * 60 + em) throw new ConfigError('QUIET_HOURS', 'start and end must differ')
  return { start: sh * 60 + sm, end: eh * 60 + em }
}

const UNIT_MS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1000 } as const

/** A list such as `48h,2h` or `1d,30m` as milliseconds, longest first. */
function offsets(env: Env, name: string, fallback: string): number[] {
  const raw = read(env, name) ?? fallback
  const values = raw.split(',').map((part) => {
    const match = /^\s*(\d+)\s*([dhms])\s*$/.exec(part)
    if (!match) throw new ConfigError(name, `expected durations like 48h,2h or 30m, got "${raw}"`)
    return Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  })
  if (values.some((v) => v <= 0)) throw new ConfigError(name, 'durations must be above zero')
  return [...new Set(values)].sort((a, b) => b - a)
}

function locale(env: Env, name: string, fallback: string): string {
  const raw = read(env, name) ?? fallback
  try {
    return Intl.getCanonicalLocales(raw)[0] ?? fallback
  } catch {
    throw new ConfigError(name, `"${raw}" is not a BCP 47 language tag`)
  }
}

/** `ses:3,smtp:1` → [{ses, 3}, {smtp, 1}]. */
function weightedTransports(env: Env, fallback: TransportName): WeightedTransport[] {
  const raw = read(env, 'MAIL_TRANSPORTS')
  if (raw === undefined) return [{ name: fallback, weight: 1 }]
  const entries = raw.split(',').map((part) => {
    const match = /^\s*(\w+)\s*(?::\s*(\d+))?\s*$/.exec(part)
    const name = match?.[1] as TransportName | undefined
    if (!match || !name || !(transportNames as readonly string[]).includes(name)) {
      throw new ConfigError('MAIL_TRANSPORTS', `expected name:weight pairs of ${transportNames.join(', ')} (like ses:3,smtp:1), got "${raw}"`)
    }
    return { name, weight: match[2] === undefined ? 1 : Number(match[2]) }
  })
  if (new Set(entries.map((e) => e.name)).size !== entries.length) throw new ConfigError('MAIL_TRANSPORTS', 'names a transport twice')
  if (!entries.some((e) => e.weight > 0)) throw new ConfigError('MAIL_TRANSPORTS', 'at least one weight must be above zero')
  return entries
}

function perSecond(env: Env, name: string): number | undefined {
  const raw = read(env, name)
  if (raw === undefined) return undefined
  const value = Number(raw)
  if (!/^\d+(\.\d+)?$/.test(raw) || value <= 0) throw new ConfigError(name, `expected a number of sends per second above zero, got "${raw}"`)
  return value
}

/** `600/min`, `20/s`, `10000/h` or `off`. */
function rate(env: Env, name: string, fallback: string): { capacity: number; windowMs: number } | null {
  const raw = read(env, name) ?? fallback
  if (raw === 'off') return null
  const match = /^(\d+)\s*\/\s*(s|min|h)$/.exec(raw)
  if (!match || Number(match[1]) < 1) throw new ConfigError(name, `expected requests per s, min or h (like 600/min) or off, got "${raw}"`)
  return { capacity: Number(match[1]), windowMs: { s: 1000, min: 60_000, h: 3_600_000 }[match[2] as 's' | 'min' | 'h'] }
}

function list(env: Env, name: string): string[] | undefined {
  const raw = read(env, name)
  return raw === undefined ? undefined : raw.split(',').map((part) => part.trim()).filter(Boolean)
}

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const port = integer(env, 'PORT', 3000, 0, 65535)
  const mailTransport = oneOf(env, 'MAIL_TRANSPORT', transportNames, 'file')
  const mailTransports = weightedTransports(env, mailTransport)
  const mailFallback = read(env, 'MAIL_FALLBACK') === undefined ? undefined : oneOf(env, 'MAIL_FALLBACK', transportNames, 'file')
  const uses = (name: TransportName) => mailTransports.some((t) => t.name === name) || mailFallback === name
  const smtpUrl = url(env, 'SMTP_URL', ['smtp:', 'smtps:'])
  if (uses('smtp') && smtpUrl === undefined) {
    throw new ConfigError('SMTP_URL', 'is required when smtp is one of the transports')
  }
  // AWS_REGION is what the SDK and most AWS deployments already set; SES_REGION wins when SES runs in another
  // region. AWS_REGION is not Belfry's to check unless Belfry is about to use it.
  const sesRegionVariable = read(env, 'SES_REGION') === undefined && uses('ses') ? 'AWS_REGION' : 'SES_REGION'
  const sesRegion = read(env, sesRegionVariable)
  if (uses('ses') && sesRegion === undefined) {
    throw new ConfigError('SES_REGION', 'is required when ses is one of the transports (or set AWS_REGION)')
  }
  // The region becomes part of the endpoint's host name: a typo would otherwise surface as a DNS error on the first send.
  if (sesRegion !== undefined && !/^[a-z0-9-]+$/.test(sesRegion)) {
    throw new ConfigError(sesRegionVariable, `"${sesRegion}" is not a region name like eu-west-1`)
  }
  const retryBaseMs = integer(env, 'RETRY_BASE_MS', 30_000, 1)
  const retryMaxMs = integer(env, 'RETRY_MAX_MS', 3_600_000, 1)
  if (retryMaxMs < retryBaseMs) throw new ConfigError('RETRY_MAX_MS', `must not be below RETRY_BASE_MS (${retryBaseMs})`)

  const publicUrl = (url(env, 'PUBLIC_URL', ['http:', 'https:']) ?? `http://localhost:${port}`).replace(/\/+$/, '')

  return Object.freeze({
    port,
    publicUrl,
    databaseUrl: url(env, 'DATABASE_URL', ['postgres:', 'postgresql:']),
    dataDir: resolve(read(env, 'DATA_DIR') ?? './data'),
    mailTransport,
    mailTransports,
    mailFallback,
    circuitCoolDownMs: integer(env, 'CIRCUIT_COOLDOWN_MS', 30_000, 100),
    maxPerSecond: Object.fromEntries(
      (
        [
          ['ses', perSecond(env, 'SES_MAX_PER_SECOND')],
          ['smtp', perSecond(env, 'SMTP_MAX_PER_SECOND')],
        ] as const
      ).filter(([, value]) => value !== undefined),
    ),
    smtpUrl,
    smtpRequireTls: oneOf(env, 'SMTP_REQUIRE_TLS', ['true', 'false'] as const, 'false') === 'true',
    sesRegion,
    sesEndpoint: url(env, 'SES_ENDPOINT', ['http:', 'https:']),
    sesConfigurationSet: read(env, 'SES_CONFIGURATION_SET'),
    snsCertHosts: list(env, 'SNS_CERT_HOSTS') ?? null,
    snsTopicArns: list(env, 'SNS_TOPIC_ARNS') ?? [],
    mailFrom: mailbox(env, 'MAIL_FROM', 'Belfry <no-reply@localhost>'),
    orgPostalAddress: read(env, 'ORG_POSTAL_ADDRESS'),
    webhookSecret: webhookSecret(env),
    appSecret: appSecret(env),
    adminEmail: email(env, 'ADMIN_EMAIL'),
    adminPassword: read(env, 'ADMIN_PASSWORD'),
    role: oneOf(env, 'ROLE', ['all', 'api', 'worker'] as const, 'all'),
    workerConcurrency: integer(env, 'WORKER_CONCURRENCY', 16, 1, 1000),
    // Ingest and the worker write in group-committed batches, so a few
    // connections keep two cores busy; more would only queue inside Postgres.
    databasePool: integer(env, 'DATABASE_POOL', 10, 2, 500),
    maxAttempts: integer(env, 'MAX_ATTEMPTS', 8, 1, 100),
    retryBaseMs,
    retryMaxMs,
    leaseMs: integer(env, 'LEASE_MS', 60_000, 1000),
    defaultLocale: locale(env, 'DEFAULT_LOCALE', 'en'),
    budgetPerDay: integer(env, 'BUDGET_PER_DAY', 10, 1, 10_000),
    quietHours: quietHours(env),
    reminderOffsets: offsets(env, 'REMINDER_OFFSETS', '48h,2h'),
    sessionReminderOffsets: offsets(env, 'SESSION_REMINDER_OFFSETS', '24h,15m'),
    deadLetterAlert: integer(env, 'DEAD_LETTER_ALERT', 10, 0, 1_000_000),
    retentionDays: integer(env, 'RETENTION_DAYS', 90, 1, 36_500),
    // Each batch is one transaction holding its row locks until commit: 1,000 rows commit in well under a second.
    announceBatch: integer(env, 'ANNOUNCE_BATCH', 1000, 1, 50_000),
    tracking: oneOf(env, 'TRACKING', ['on', 'off'] as const, 'on') === 'on',
    metricsToken: read(env, 'METRICS_TOKEN'),
    canvasJwksUrl: url(env, 'CANVAS_JWKS_URL', ['https:', 'http:']),
    logLevel: oneOf(env, 'LOG_LEVEL', ['debug', 'info', 'warn', 'error'] as const, 'info'),
    rateLimitPerKey: rate(env, 'RATE_LIMIT_PER_KEY', '600/min'),
    rateLimitPerAddress: rate(env, 'RATE_LIMIT_PER_ADDRESS', '1000/s'),
    trackingPerAddress: rate(env, 'TRACKING_PER_ADDRESS', '600/min'),
    // Above the webhook's own 256 KiB (which answers its 413 itself) and an admin's largest template form.
    maxRequestBytes: integer(env, 'MAX_REQUEST_BYTES', 4 * 1024 * 1024, 64 * 1024),
  })
}

/** `Belfry <no-reply@example.org>` → `example.org`: the host part of the Message-IDs we mint. */
export function mailFromDomain(mailFrom: string): string {
  const address = /<([^>]+)>\s*$/.exec(mailFrom)?.[1] ?? mailFrom
  return address.split('@')[1] ?? 'localhost'
}
