// The one door from the adapters into Belfry's own pipeline: a mapped event
// goes through the same ingest as POST /v1/events, under a webhook id derived
// from the native event. That ingest already answers a repeated webhook id
// with the first answer, so mapping a native event again (a retry after a
// partial failure) cannot queue its emails twice.

import type { IngestDeps } from '../events/ingest.ts'
import { ingestEvent } from '../events/ingest.ts'
import { AppError } from '../errors.ts'
import type { BelfryEvent } from './model.ts'

export interface Delivered {
  type: string
  event_id: string
  messages: number
}

export async function deliverToBelfry(deps: IngestDeps, webhookId: string, event: BelfryEvent): Promise<Delivered> {
  const raw = new TextEncoder().encode(JSON.stringify(event))
  try {
    const answer = await ingestEvent(deps, webhookId, raw, event)
    return { type: event.type, ...answer.body }
  } catch (error) {
    // The id was used with other data: a retry whose lookups now answer differently. The first one went out; keep it.
    if (error instanceof AppError && error.code === 'conflict') return { type: event.type, event_id: '', messages: 0 }
    throw error
  }
}
