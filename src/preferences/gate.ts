// The outbox's Gate, backed by the learner's preferences: one query for the
// claimed batch, then the pure decide() per message.

import type { Db } from '../db/client.ts'
import type { Gate, GateDecision } from '../outbox/deliver.ts'
import { decide, type GatePolicy } from './check.ts'
import { erasedAddressKey } from './erased.ts'
import { loadGateFacts, suppressedKeys, type GateFacts, type GateSubject } from './queries.ts'
import { remindedTime } from '../reminders/currency.ts'

export function preferenceGate(db: Db, policy: GatePolicy, now: () => Date = () => new Date()): Gate {
  return {
    async decide(batch) {
      const facts = await loadGateFacts(db, batch)
      if (policy.addressSecret) await markErasedOptOuts(db, batch, facts, policy.addressSecret)
      const at = now()
      return new Map<string, GateDecision>(
        batch.map((message) => [message.id, decide({ ...message, deadline: remindedTime(message.variables) }, facts.get(message.id), policy, at)]),
      )
    },
  }
}

/**
 * The HMAC cannot be computed in SQL (PGlite has no pgcrypto), so the
 * batch's addresses are keyed here and looked up in one more query.
 */
async function markErasedOptOuts(db: Db, batch: readonly GateSubject[], facts: Map<string, GateFacts>, secret: string): Promise<void> {
  const keyOf = new Map(batch.map((message) => [message.id, erasedAddressKey(secret, message.toAddress)]))
  const found = await suppressedKeys(db, [...keyOf.values()])
  if (found.size === 0) return
  for (const [id, key] of keyOf) {
    const known = facts.get(id)
    if (found.has(key) && known) known.suppressed = true
  }
}
