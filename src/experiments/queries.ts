// What admins decided about experiments (stopped, or a variant promoted),
// kept in settings as `experiment:<id>`, and the per-variant results read
// from the outbox and message_events.

import { sql } from 'drizzle-orm'
import { rows, type Executor } from '../db/client.ts'
import { messageOutcomes, outcomeCounts, type Outcomes } from '../analytics/queries.ts'
import { putSetting } from '../settings/queries.ts'

export interface ExperimentDecision {
  /** `stopped`: everyone gets the first variant (the control); `promoted`: everyone gets `variant`. */
  status: 'stopped' | 'promoted'
  variant: string
  at: string
  /** The admin's address, or `auto` for auto_promote. */
  by: string
}

const KEY_PREFIX = 'experiment:'

export async function loadDecisions(db: Executor): Promise<Map<string, ExperimentDecision>> {
  const found = await rows<{ key: string; value: unknown }>(db, sql`select key, value from settings where key like ${`${KEY_PREFIX}%`}`)
  return new Map(
    found.flatMap(({ key, value }) => {
      const v = (typeof value === 'string' ? JSON.parse(value) : value) as Partial<ExperimentDecision> | null
      return v && (v.status === 'stopped' || v.status === 'promoted') && typeof v.variant === 'string'
        ? [[key.slice(KEY_PREFIX.length), v as ExperimentDecision] as const]
        : []
    }),
  )
}

export async function saveDecision(db: Executor, experiment: string, decision: ExperimentDecision): Promise<void> {
  await putSetting(db, `${KEY_PREFIX}${experiment}`, decision)
}

export interface VariantTally extends Outcomes {
  variant: string
}

/** Per variant of one experiment: its sent messages and what became of them (see analytics' messageOutcomes). */
export async function tallyExperiment(db: Executor, experiment: string): Promise<VariantTally[]> {
  return rows<VariantTally>(
    db,
    sql`select m.variant, ${outcomeCounts}
        from messages m ${messageOutcomes}
        where m.experiment = ${experiment} and m.state = 'sent'
        group by m.variant
        order by m.variant`,
  )
}
