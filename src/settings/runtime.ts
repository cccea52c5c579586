// The settings the pipeline reads, with their defaults, and the first-start
// bootstrap: generated secrets and the admin-alert list seeded from ADMIN_EMAIL.

import { randomBytes } from 'node:crypto'
import { readBrand, type Brand } from '../render/brand.ts'
import { transportNames, type Config, type TransportName, type WeightedTransport } from '../config.ts'
import type { Executor } from '../db/client.ts'
import type { AdminAlertRecipient, AdminEnrollmentAlerts } from '../events/fanout.ts'
import { ensureSetting, getSetting, getSettings, putSetting } from './queries.ts'

export const SETTING = {
  webhookSecret: 'webhook_secret',
  appSecret: 'app_secret',
  adminAlertEmails: 'admin_alert_emails',
  adminEnrollmentAlerts: 'admin_enrollment_alerts',
  mailRouting: 'mail_routing',
  brand: 'brand',
  /** Categories whose mail gets no open pixel and no tracked links (string[]). */
  trackingOffCategories: 'tracking_off_categories',
} as const

export interface Secrets {
  /** Every webhook secret accepted at start; `webhook` has the live list (rotation). */
  webhookSecrets: string[]
  /** The webhook secrets as they are now, rotation included. */
  webhook: WebhookSecretStore
  appSecret: string
}

export const newWebhookSecret = () => `whsec_${randomBytes(32).toString('base64')}`

/** Secrets from the environment, or generated once and kept in settings so every process shares them. */
export async function loadSecrets(db: Executor, config: Pick<Config, 'webhookSecret' | 'appSecret'>): Promise<Secrets> {
  const webhook = new WebhookSecretStore(db, config.webhookSecret)
  if (!config.webhookSecret) await ensureSetting(db, SETTING.webhookSecret, newWebhookSecret())
  const appSecret = config.appSecret ?? (await ensureSetting(db, SETTING.appSecret, randomBytes(32).toString('base64url')))
  return { webhookSecrets: await webhook.accepted(), webhook, appSecret }
}

/**
 * The stored webhook secret. Older databases hold a bare string; a rotation
 * writes `{current, previous, previousUntil}`, and the previous secret keeps
 * verifying until `previousUntil` so the LMS can switch over without a gap.
 */
export interface WebhookSecretState {
  current: string
  previous: string | null
  /** ISO time until which `previous` is still accepted. */
  previousUntil: string | null
}

function readSecretState(value: unknown): WebhookSecretState | undefined {
  if (typeof value === 'string') return { current: value, previous: null, previousUntil: null }
  if (value && typeof value === 'object' && typeof (value as { current?: unknown }).current === 'string') {
    const v = value as Partial<WebhookSecretState>
    return { current: v.current!, previous: v.previous ?? null, previousUntil: v.previousUntil ?? null }
  }
  return undefined
}

/** `whsec_…AbCd`: enough to tell two secrets apart, never enough to use one. */
export function secretFingerprint(secret: string): string {
  return `whsec_…${secret.slice(-4)}`
}

/**
 * The webhook secrets every process accepts. Read from settings and kept for
 * `cacheMs` (5 s), so a rotation made in one process reaches the others
 * within seconds without a settings read per webhook. WEBHOOK_SECRET in the
 * environment wins over everything and cannot be rotated from the admin UI.
 */
export class WebhookSecretStore {
  private cached: { state: WebhookSecretState; at: number } | undefined

  constructor(
    private readonly db: Executor,
    private readonly envSecret: string | undefined,
    private readonly cacheMs = 5_000,
  ) {}

  get managedByEnvironment(): boolean {
    return this.envSecret !== undefined
  }

  /** The state as stored now (no cache). */
  async state(): Promise<WebhookSecretState> {
    if (this.envSecret) return { current: this.envSecret, previous: null, previousUntil: null }
    const state = readSecretState(await getSetting(this.db, SETTING.webhookSecret))
    if (!state) throw new Error('no webhook secret stored; loadSecrets creates one at start')
    this.cached = { state, at: Date.now() }
    return state
  }

  /** Every secret accepted right now: the current one, and the previous one while its overlap lasts. */
  async accepted(now = Date.now()): Promise<string[]> {
    const state = this.cached && now - this.cached.at < this.cacheMs ? this.cached.state : await this.state()
    const overlap = state.previous && state.previousUntil && Date.parse(state.previousUntil) > now
    return overlap ? [state.current, state.previous!] : [state.current]
  }

  /** Makes a new secret current; the old one keeps verifying for `overlapMs`. Returns the new secret, once. */
  async rotate(overlapMs: number, now = Date.now()): Promise<{ secret: string; previousUntil: Date | null }> {
    if (this.envSecret) throw new Error('WEBHOOK_SECRET is set in the environment; rotate it there')
    const before = await this.state()
    const secret = newWebhookSecret()
    const previousUntil = overlapMs > 0 ? new Date(now + overlapMs) : null
    const next: WebhookSecretState = {
      current: secret,
      previous: previousUntil ? before.current : null,
      previousUntil: previousUntil?.toISOString() ?? null,
    }
    await putSetting(this.db, SETTING.webhookSecret, next)
    this.cached = { state: next, at: Date.now() }
    return { secret, previousUntil }
  }

  /** Forgets the cached state, so the next check reads settings (tests, and after a direct settings write). */
  invalidate(): void {
    this.cached = undefined
  }
}

/** On first start the admin-alert list is ADMIN_EMAIL alone; afterwards it is the admins' to change. */
export async function seedAdminAlerts(db: Executor, adminEmail: string | undefined): Promise<void> {
  await ensureSetting(db, SETTING.adminAlertEmails, adminEmail ? [adminEmail] : [])
}

export interface FanoutFlags {
  adminEmails: string[]
  adminEnrollmentAlerts: AdminEnrollmentAlerts
  /** Each admin-alert recipient with what they get. */
  adminAlerts: AdminAlertRecipient[]
}

const ENROLLMENT_MODES: readonly AdminEnrollmentAlerts[] = ['paid', 'all', 'off']

/**
 * `admin_alert_emails` holds bare addresses (as seeded from ADMIN_EMAIL: every
 * alert, enrollments per `admin_enrollment_alerts`) or, once an admin has
 * edited the list, `{email, enrollment, registrations, errors}` entries.
 */
export function readAdminAlerts(value: unknown, defaultEnrollment: AdminEnrollmentAlerts): AdminAlertRecipient[] {
  if (!Array.isArray(value)) return []
  const entries: AdminAlertRecipient[] = []
  for (const item of value) {
    if (typeof item === 'string') {
      entries.push({ email: item, enrollment: defaultEnrollment, registrations: true, errors: true })
    } else if (item && typeof item === 'object' && typeof (item as { email?: unknown }).email === 'string') {
      const entry = item as Partial<AdminAlertRecipient>
      entries.push({
        email: entry.email!,
        enrollment: ENROLLMENT_MODES.includes(entry.enrollment!) ? entry.enrollment! : defaultEnrollment,
        registrations: entry.registrations !== false,
        errors: entry.errors !== false,
      })
    }
  }
  return entries
}

export async function loadFanoutFlags(db: Executor): Promise<FanoutFlags> {
  const values = await getSettings(db, [SETTING.adminAlertEmails, SETTING.adminEnrollmentAlerts])
  const adminEnrollmentAlerts = (values.get(SETTING.adminEnrollmentAlerts) as AdminEnrollmentAlerts | undefined) ?? 'paid'
  const adminAlerts = readAdminAlerts(values.get(SETTING.adminAlertEmails), adminEnrollmentAlerts)
  return { adminEmails: adminAlerts.map((a) => a.email), adminEnrollmentAlerts, adminAlerts }
}

/** Replaces the admin-alert list (the settings page's save). */
export async function saveAdminAlerts(db: Executor, alerts: readonly AdminAlertRecipient[]): Promise<void> {
  await putSetting(db, SETTING.adminAlertEmails, alerts)
}

/** How mail is split between transports when an admin changed it at runtime (over MAIL_TRANSPORTS / MAIL_FALLBACK). */
export interface MailRouting {
  split: WeightedTransport[]
  fallback: TransportName | null
}

function readMailRouting(value: unknown): MailRouting | undefined {
  if (!value || typeof value !== 'object') return undefined
  const { split, fallback } = value as { split?: unknown; fallback?: unknown }
  if (!Array.isArray(split)) return undefined
  const entries = split.filter(
    (s): s is WeightedTransport =>
      !!s && (transportNames as readonly string[]).includes((s as WeightedTransport).name) && Number.isInteger((s as WeightedTransport).weight),
  )
  if (entries.length !== split.length) return undefined
  return { split: entries, fallback: (transportNames as readonly unknown[]).includes(fallback) ? (fallback as TransportName) : null }
}

/** The admin's routing, or undefined when the environment's applies. */
export async function loadMailRouting(db: Executor): Promise<MailRouting | undefined> {
  return readMailRouting(await getSetting(db, SETTING.mailRouting))
}

/** Stores the admin's routing; null goes back to MAIL_TRANSPORTS / MAIL_FALLBACK. */
export async function saveMailRouting(db: Executor, routing: MailRouting | null): Promise<void> {
  // An empty object rather than a SQL null: the value column holds JSON, and {} reads back as "not set".
  await putSetting(db, SETTING.mailRouting, routing ?? {})
}

/** The brand admins set in the settings; the defaults until they do. */
export async function loadBrand(db: Executor): Promise<Brand> {
  return readBrand(await getSetting(db, SETTING.brand))
}

/** Stores the brand; null goes back to the defaults. */
export async function saveBrand(db: Executor, brand: Brand | null): Promise<void> {
  // As with the routing: {} reads back as "not set".
  await putSetting(db, SETTING.brand, brand ?? {})
}
