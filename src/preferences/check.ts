// May this message be sent now? Decided when the worker is about to send,
// not at ingest, so a preference changed after the event was queued is
// honoured. Pure: the facts come from loadGateFacts, one query per batch.

import type { GateFacts, GateSubject } from './queries.ts'
import { DIGEST_CATEGORY, ESSENTIAL_NOTIFICATIONS, isLearnerCategory } from './categories.ts'
import { outsideQuietHours, QUIET_NOTIFICATIONS, type QuietWindow } from './quiet-hours.ts'
import { nextDigestTime } from './schedule.ts'

/** The closed set of reasons a skipped message keeps (unsubscribing from everything is a preference too). */
export type SkipReason = 'preference' | 'course_muted' | 'suppressed'

export type Decision =
  | { action: 'send' }
  | { action: 'skip'; reason: SkipReason }
  /** Fold into the digest due at `runAt`; `reason` says why (`preference` or `budget`). */
  | { action: 'digest'; runAt: Date; reason: 'preference' | 'budget' }
  /** Not now: it is the learner's night. Send at `runAt`. */
  | { action: 'defer'; runAt: Date; reason: 'quiet_hours' }

export interface GatePolicy {
  budgetPerDay: number
  quietHours: QuietWindow | null
  /** APP_SECRET: when given, an address erased with its opt-out kept (see erased.ts) counts as suppressed. */
  addressSecret?: string
}

/** What is about to be sent, as the check sees it. */
export interface GateMessage extends GateSubject {
  notification: string
  /** The deadline or session start a reminder is about: quiet hours must not push it past that. */
  deadline?: Date
}

export function decide(message: GateMessage, facts: GateFacts | undefined, policy: GatePolicy, now: Date): Decision {
  const decision = decideChoice(message, facts, policy, now)
  if (decision.action !== 'send' || !QUIET_NOTIFICATIONS.has(message.notification)) return decision
  const at = outsideQuietHours(now, facts?.timeZone, policy.quietHours, now, message.deadline)
  return at.getTime() > now.getTime() ? { action: 'defer', runAt: at, reason: 'quiet_hours' } : decision
}

/** The learner's choices, budget and suppression; quiet hours come on top in decide(). */
function decideChoice(message: GateMessage, facts: GateFacts | undefined, policy: GatePolicy, now: Date): Decision {
  // Nothing at all reaches a suppressed address: not even a password reset.
  if (facts?.suppressed) return { action: 'skip', reason: 'suppressed' }
  if (ESSENTIAL_NOTIFICATIONS.has(message.notification)) return { action: 'send' }
  // Admin alerts and anything without a learner behind it answer to the suppression list only.
  if (!facts || message.recipientId === null) return { action: 'send' }
  if (message.category === DIGEST_CATEGORY) return facts.unsubscribed ? { action: 'skip', reason: 'preference' } : { action: 'send' }
  if (!isLearnerCategory(message.category)) return { action: 'send' }

  if (facts.unsubscribed) return { action: 'skip', reason: 'preference' }
  if (facts.courseMuted) return { action: 'skip', reason: 'course_muted' }
  switch (facts.frequency) {
    case 'off':
      return { action: 'skip', reason: 'preference' }
    case 'daily':
    case 'weekly':
      return { action: 'digest', runAt: nextDigestTime(now, facts.timeZone, facts.frequency), reason: 'preference' }
    case 'immediately':
      if (message.courseId !== null && facts.budgetUsed >= policy.budgetPerDay && message.category !== 'account') {
        // Over the day's budget for this course: it waits for tomorrow morning's digest instead of being lost.
        return { action: 'digest', runAt: nextDigestTime(now, facts.timeZone, 'daily'), reason: 'budget' }
      }
      return { action: 'send' }
  }
}
