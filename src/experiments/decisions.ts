// What every process needs at render time: whether an experiment was
// stopped or a variant promoted. Read from settings at start and every few
// seconds after, so a promotion in one process reaches the others without
// a query per message.

import type { Db } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { assignVariant, type WeightedVariant } from './assign.ts'
import { loadDecisions, type ExperimentDecision } from './queries.ts'

export class ExperimentDecisions {
  private decided = new Map<string, ExperimentDecision>()
  private timer: ReturnType<typeof setInterval> | undefined

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly refreshMs = 10_000,
  ) {}

  async start(): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => this.refresh().catch((error) => this.log.error('reading experiment decisions failed', { error })), this.refreshMs)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  async refresh(): Promise<void> {
    this.decided = await loadDecisions(this.db)
  }

  decision(experiment: string): ExperimentDecision | undefined {
    return this.decided.get(experiment)
  }

  /** The variant a recipient gets: the promoted one, the control once stopped, else their own by hash. */
  variantFor(experiment: { id: string; variants: readonly WeightedVariant[] }, recipientKey: string): string {
    const decided = this.decided.get(experiment.id)
    if (decided?.status === 'promoted' && experiment.variants.some((v) => v.name === decided.variant)) return decided.variant
    if (decided) return experiment.variants[0]!.name
    return assignVariant(experiment.id, recipientKey, experiment.variants)
  }
}
