// The outbox's Gate, backed by the learner's preferences: one query for the
// claimed batch, then the pure decide() per message.

import type { Db } from '../db/client.ts'
import type { Gate, GateDecision } from '../outbox/deliver.ts'
import { decide, type GatePolicy } from './check.ts'
import { loadGateFacts } from './queries.ts'

/** The time a reminder is about: a deadline's due_at or a session's starts_at. */
function deadlineOf(variables: Record<string, unknown>): { deadline?: Date } {
  const item = variables.item as { due_at?: string } | undefined
  const session = variables.session as { starts_at?: string } | undefined
  const at = item?.due_at ?? session?.starts_at
  return at ? { deadline: new Date(at) } : {}
}

export function preferenceGate(db: Db, policy: GatePolicy, now: () => Date = () => new Date()): Gate {
  return {
    async decide(batch) {
      const facts = await loadGateFacts(db, batch)
      const at = now()
      return new Map<string, GateDecision>(
        batch.map((message) => [message.id, decide({ ...message, ...deadlineOf(message.variables) }, facts.get(message.id), policy, at)]),
      )
    },
  }
}
