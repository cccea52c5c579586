// The outbox Gate that cancels reminders gone stale since they were written.
// Placed before the preference gate: a reminder nobody needs any more is
// cancelled, not deferred or folded into a digest.

import type { Db } from '../db/client.ts'
import type { Gate, GateDecision } from '../outbox/deliver.ts'
import { staleReason } from './currency.ts'
import { loadReminderFacts } from './queries.ts'

export function reminderGate(db: Db, now: () => Date = () => new Date()): Gate {
  return {
    async decide(batch) {
      const facts = await loadReminderFacts(db, batch)
      const at = now()
      const decisions = new Map<string, GateDecision>()
      for (const message of batch) {
        const known = facts.get(message.id)
        const reason = known && staleReason(message.variables, known, at)
        if (reason) decisions.set(message.id, { action: 'cancel', reason })
      }
      return decisions
    },
  }
}
