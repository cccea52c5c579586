// The settings the pipeline reads, with their defaults, and the first-start
// bootstrap: generated secrets and the admin-alert list seeded from ADMIN_EMAIL.

import { randomBytes } from 'node:crypto'
import type { Config } from '../config.ts'
import type { Executor } from '../db/client.ts'
import type { AdminEnrollmentAlerts } from '../events/fanout.ts'
import { ensureSetting, getSettings } from './queries.ts'

export const SETTING = {
  webhookSecret: 'webhook_secret',
  appSecret: 'app_secret',
  adminAlertEmails: 'admin_alert_emails',
  adminEnrollmentAlerts: 'admin_enrollment_alerts',
} as const

export interface Secrets {
  /** Every webhook secret accepted now; the configured one wins over the stored one. */
  webhookSecrets: string[]
  appSecret: string
}

/** Secrets from the environment, or generated once and kept in settings so every process shares them. */
export async function loadSecrets(db: Executor, config: Pick<Config, 'webhookSecret' | 'appSecret'>): Promise<Secrets> {
  const webhookSecret =
    config.webhookSecret ??
    (await ensureSetting(db, SETTING.webhookSecret, `whsec_${randomBytes(32).toString('base64')}`))
  const appSecret = config.appSecret ?? (await ensureSetting(db, SETTING.appSecret, randomBytes(32).toString('base64url')))
  return { webhookSecrets: [webhookSecret], appSecret }
}

/** On first start the admin-alert list is ADMIN_EMAIL alone; afterwards it is the admins' to change. */
export async function seedAdminAlerts(db: Executor, adminEmail: string | undefined): Promise<void> {
  await ensureSetting(db, SETTING.adminAlertEmails, adminEmail ? [adminEmail] : [])
}

export interface FanoutFlags {
  adminEmails: string[]
  adminEnrollmentAlerts: AdminEnrollmentAlerts
}

export async function loadFanoutFlags(db: Executor): Promise<FanoutFlags> {
  const values = await getSettings(db, [SETTING.adminAlertEmails, SETTING.adminEnrollmentAlerts])
  return {
    adminEmails: (values.get(SETTING.adminAlertEmails) as string[] | undefined) ?? [],
    adminEnrollmentAlerts: (values.get(SETTING.adminEnrollmentAlerts) as AdminEnrollmentAlerts | undefined) ?? 'paid',
  }
}
