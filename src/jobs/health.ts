// Belfry watching itself: a burst of dead letters, a transport failing
// for minutes, a queue that stopped moving. Each becomes a `system.error`
// from source "Belfry", ingested like any LMS's, so it reaches the admins
// subscribed to errors, folds by fingerprint (one email, then one
// follow-up with the count per 15 minutes) and is stored as an event.
// Admin alerts are left out of what is counted: an alert that cannot be
// delivered never raises another one.

import type { Logger } from '../log.ts'
import { loadHealthFacts, type HealthFacts } from './queries.ts'
import type { Db } from '../db/client.ts'

export interface HealthThresholds {
  /** Dead letters in five minutes that raise an alert (DEAD_LETTER_ALERT); 0 turns the check off. */
  deadLetters: number
  /** How long every attempt through one transport must have failed. */
  transportFailingMs: number
  /** How long the oldest due message may wait. */
  queueAgeMs: number
}

export const DEFAULT_HEALTH_THRESHOLDS: Omit<HealthThresholds, 'deadLetters'> = {
  transportFailingMs: 5 * 60_000,
  queueAgeMs: 10 * 60_000,
}

/** A failure seen in the last this-long means the transport is still failing, not recovered and idle. */
const STILL_FAILING_MS = 2 * 60_000

export interface HealthAlert {
  fingerprint: string
  severity: 'warning' | 'critical'
  message: string
}

const minutes = (ms: number) => Math.max(1, Math.round(ms / 60_000))

/** Which alerts the facts call for. Pure. */
export function healthAlerts(facts: HealthFacts, thresholds: HealthThresholds, now: Date): HealthAlert[] {
  const alerts: HealthAlert[] = []
  if (thresholds.deadLetters > 0 && facts.deadLast5m >= thresholds.deadLetters) {
    alerts.push({
      fingerprint: 'belfry:dead-letters',
      severity: 'critical',
      message:
        `${facts.deadLast5m} messages went to the dead-letter queue in the last 5 minutes. ` +
        `The alert threshold is ${thresholds.deadLetters}; each one's reason is on the dead letters page.`,
    })
  }
  for (const failing of facts.failing) {
    const failingFor = now.getTime() - failing.since.getTime()
    if (failingFor < thresholds.transportFailingMs || now.getTime() - failing.lastFailure.getTime() > STILL_FAILING_MS) continue
    alerts.push({
      fingerprint: `belfry:transport:${failing.transport}`,
      severity: 'critical',
      message:
        `Every attempt through the ${failing.transport} transport has failed for ${minutes(failingFor)} minutes ` +
        `(${failing.failures} failures, none sent).` +
        (failing.lastError ? ` Last error: ${failing.lastError}` : ''),
    })
  }
  if (facts.oldestDueSince) {
    const waited = now.getTime() - facts.oldestDueSince.getTime()
    if (waited >= thresholds.queueAgeMs) {
      alerts.push({
        fingerprint: 'belfry:queue-age',
        severity: 'warning',
        message: `The oldest message waiting to be sent has waited ${minutes(waited)} minutes; ${facts.waiting} are waiting.`,
      })
    }
  }
  return alerts
}

export interface HealthDeps {
  db: Db
  thresholds: HealthThresholds
  /** Ingests a `system.error` as if an LMS had posted it; the id makes a repeat within one check a replay. */
  raise(alert: HealthAlert, webhookId: string): Promise<void>
  log: Logger
}

export async function runHealthChecks(deps: HealthDeps, now: Date): Promise<{ alerts: number }> {
  const alerts = healthAlerts(await loadHealthFacts(deps.db), deps.thresholds, now)
  // One id per fingerprint per minute: two processes checking in the same minute raise it once.
  const minute = now.toISOString().slice(0, 16)
  for (const alert of alerts) {
    deps.log.warn('health alert', { fingerprint: alert.fingerprint, message: alert.message })
    await deps.raise(alert, `belfry-health:${alert.fingerprint}:${minute}`)
  }
  return { alerts: alerts.length }
}
