// The outbox's Gate, backed by the learner's preferences: one query for the
// claimed batch, then the pure decide() per message.

import type { Db } from '../db/client.ts'
import type { Gate, GateDecision } from '../outbox/deliver.ts'
import { decide, type GatePolicy } from './check.ts'
import { erasedAddressKey } from './erased.ts'
import { loadGateFacts } from './queries.ts'
import { remindedTime } from '../reminders/currency.ts'

export function preferenceGate(db: Db, policy: GatePolicy, now: () => Date = () => new Date()): Gate {
  return {
    async decide(batch) {
      const secret = policy.addressSecret
      const facts = await loadGateFacts(db, batch, secret ? (address) => erasedAddressKey(secret, address) : undefined)
      const at = now()
      return new Map<string, GateDecision>(
        batch.map((message) => [message.id, decide({ ...message, deadline: remindedTime(message.variables) }, facts.get(message.id), policy, at)]),
      )
    },
  }
}
