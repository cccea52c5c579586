// The outbox gate for announcement rows, chained after the preference gate
// (which already decided opt-outs, mutes, suppressions and digests):
// a paused announcement's row waits, a cancelled one's is cancelled, quiet
// hours hold it until the learner's morning, and its body is compiled
// before the worker's synchronous render needs it.

import type { Db } from '../db/client.ts'
import type { Gate, GateDecision } from '../outbox/deliver.ts'
import type { ClaimedMessage } from '../outbox/queries.ts'
import { outsideQuietHours, type QuietWindow } from '../preferences/quiet-hours.ts'
import { ANNOUNCEMENT_NOTIFICATION, announcementStates, PAUSED_UNTIL } from './queries.ts'
import { announcementOf, type AnnouncementTemplates } from './templates.ts'

/** How old a paused or cancelled state may be when a claimed email is checked again just before its send. */
const RECHECK_MS = 250

export interface AnnouncementGate extends Gate {
  /**
   * DeliveryDeps.recheck: a claimed announcement email may wait for a send
   * slot for seconds (a slow or rate-limited transport); paused or cancelled
   * meanwhile, it is held or cancelled instead of sent. States are read at
   * most every RECHECK_MS per announcement.
   */
  recheck(message: ClaimedMessage): Promise<Exclude<GateDecision, { action: 'send' }> | null> | null
}

export function announcementGate(
  db: Db,
  templates: AnnouncementTemplates,
  quietHours: QuietWindow | null,
  now: () => Date = () => new Date(),
): AnnouncementGate {
  const recent = new Map<string, { read: number; state: Promise<string | undefined> }>()
  const stateOf = (id: string): Promise<string | undefined> => {
    const cached = recent.get(id)
    if (cached && Date.now() - cached.read < RECHECK_MS) return cached.state
    const state = announcementStates(db, [id]).then((states) => states.get(id)?.state)
    recent.set(id, { read: Date.now(), state })
    // Only announcements being sent are asked about: a handful at a time.
    if (recent.size > 256) recent.delete(recent.keys().next().value!)
    return state
  }
  return {
    recheck(message) {
      if (message.notification !== ANNOUNCEMENT_NOTIFICATION) return null
      const id = announcementOf(message.variables)?.id
      if (!id) return null
      return stateOf(id).then((state) =>
        state === 'paused'
          ? { action: 'defer', runAt: PAUSED_UNTIL, reason: 'paused' }
          : !state || state === 'cancelled'
            ? { action: 'cancel', reason: 'announcement_cancelled' }
            : null,
      )
    },
    async decide(batch) {
      const decisions = new Map<string, GateDecision>()
      const ours = batch.filter((message) => message.notification === ANNOUNCEMENT_NOTIFICATION)
      if (ours.length === 0) return decisions
      const byAnnouncement = new Map<string, ClaimedMessage[]>()
      for (const message of ours) {
        const id = announcementOf(message.variables)?.id
        if (!id) {
          decisions.set(message.id, { action: 'cancel', reason: 'announcement_unknown' })
          continue
        }
        byAnnouncement.set(id, [...(byAnnouncement.get(id) ?? []), message])
      }
      const states = await announcementStates(db, [...byAnnouncement.keys()])
      const at = now()
      for (const [id, messages] of byAnnouncement) {
        const state = states.get(id)
        if (!state || state.state === 'cancelled') {
          for (const message of messages) decisions.set(message.id, { action: 'cancel', reason: 'announcement_cancelled' })
          continue
        }
        if (state.state === 'paused') {
          // Resume puts rows held this way back in the queue (releaseHeld).
          for (const message of messages) decisions.set(message.id, { action: 'defer', runAt: PAUSED_UNTIL, reason: 'paused' })
          continue
        }
        // One that does not compile fails at render, as a dead letter with the reason, like any template.
        await templates.ensure(id, state.version, messages.map((m) => m.locale)).catch(() => {})
        for (const message of messages) {
          const timeZone = (message.variables.user as { timezone?: string | null } | undefined)?.timezone
          const runAt = outsideQuietHours(at, timeZone ?? undefined, quietHours, at)
          decisions.set(message.id, runAt > at ? { action: 'defer', runAt, reason: 'quiet_hours' } : { action: 'send' })
        }
      }
      return decisions
    },
  }
}
