// An experiment's results as admins read them, and the automatic promotion
// of a clear winner (`auto_promote: true` in the template).

import type { Db } from '../db/client.ts'
import type { Logger } from '../log.ts'
import type { TemplateExperiment } from '../render/render.ts'
import { loadDecisions, saveDecision, tallyExperiment, type ExperimentDecision, type VariantTally } from './queries.ts'
import { DEFAULT_MIN_TRIALS, DEFAULT_THRESHOLD, judge, type VariantResult } from './stats.ts'

export type DeclaredExperiment = Omit<TemplateExperiment, 'subjects'> & { notification: string }

export interface VariantRow extends VariantTally, VariantResult {
  weight: number
  /** Sent and not bounced: what the rates are out of. */
  delivered: number
}

export interface ExperimentResults {
  experiment: DeclaredExperiment
  decision: ExperimentDecision | undefined
  variants: VariantRow[]
  winner: string | null
  threshold: number
  minTrials: number
}

export async function experimentResults(db: Db, experiment: DeclaredExperiment, decision?: ExperimentDecision): Promise<ExperimentResults> {
  const tallies = new Map((await tallyExperiment(db, experiment.id)).map((t) => [t.variant, t]))
  const rows = experiment.variants.map((v) => {
    const tally = tallies.get(v.name) ?? { variant: v.name, sent: 0, bounced: 0, humanOpens: 0, machineOpens: 0, clicks: 0, complaints: 0, unsubscribes: 0 }
    return { weight: v.weight, tally, delivered: tally.sent - tally.bounced }
  })
  const verdict = judge(
    rows.map((r) => ({ name: r.tally.variant, trials: r.delivered, successes: experiment.metric === 'clicks' ? r.tally.clicks : r.tally.humanOpens })),
  )
  return {
    experiment,
    decision,
    variants: rows.map((r, i) => ({ ...r.tally, ...verdict.variants[i]!, weight: r.weight, delivered: r.delivered })),
    winner: verdict.winner,
    threshold: DEFAULT_THRESHOLD,
    minTrials: DEFAULT_MIN_TRIALS,
  }
}

/** Promotes the winner of every running auto_promote experiment that has one. Returns how many were promoted. */
export async function autoPromote(db: Db, declared: readonly DeclaredExperiment[], log: Logger, now: Date): Promise<{ promoted: number }> {
  const decisions = await loadDecisions(db)
  let promoted = 0
  for (const experiment of declared) {
    if (!experiment.autoPromote || decisions.has(experiment.id)) continue
    const results = await experimentResults(db, experiment)
    if (!results.winner) continue
    await saveDecision(db, experiment.id, { status: 'promoted', variant: results.winner, at: now.toISOString(), by: 'auto' })
    log.info('experiment promoted', { experiment: experiment.id, variant: results.winner })
    promoted++
  }
  return { promoted }
}
