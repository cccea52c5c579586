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

export function announcementGate(
  db: Db,
  templates: AnnouncementTemplates,
  quietHours: QuietWindow | null,
  now: () => Date = () => new Date(),
): Gate {
  return {
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
