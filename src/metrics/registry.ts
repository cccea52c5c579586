// The metrics of one service. Each service gets its own Registry rather
// than prom-client's global one: the tests run several services in one
// process, and a global registry would refuse the second set of names and
// mix their counts.

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import type { Executor } from '../db/client.ts'
import { messageStates } from '../db/schema/index.ts'
import { AppError, type ErrorCode } from '../errors.ts'
import { eventTypes } from '../events/model.ts'
import type { Logger } from '../log.ts'
import { engagementSince, lastMessageEventId, outboxSnapshot, SETTLE_SECONDS, SETTLED_STATES, SETTLED_WINDOW_HOURS } from './queries.ts'

export const eventResults = ['accepted', 'replayed', 'conflict', 'invalid', 'unauthorized', 'too_large', 'malformed', 'error'] as const
export type EventResult = (typeof eventResults)[number]

/** What one try at handing a message to a transport came to (see DeliveryDeps.onAttempt). */
export interface AttemptObservation {
  transport: string
  outcome: 'sent' | 'transient' | 'permanent' | 'paused'
  code: string | null
  durationMs: number
}

const RESULT_OF_ERROR: Partial<Record<ErrorCode, EventResult>> = {
  conflict: 'conflict',
  invalid_event: 'invalid',
  invalid_signature: 'unauthorized',
  unauthorized: 'unauthorized',
  payload_too_large: 'too_large',
  invalid_json: 'malformed',
  bad_request: 'malformed',
}

const KNOWN_TYPES = new Set<string>(eventTypes)

/** The type a signed body claims, bounded to the known ones so a sender cannot mint label values. */
export function eventTypeLabel(body: unknown): string {
  const type = (body as { type?: unknown } | null | undefined)?.type
  return typeof type === 'string' && KNOWN_TYPES.has(type) ? type : 'unknown'
}

export function eventResult(outcome: unknown): EventResult {
  if (outcome instanceof AppError) return RESULT_OF_ERROR[outcome.code] ?? 'error'
  const status = (outcome as { status?: unknown } | null | undefined)?.status
  if (status === 202) return 'accepted'
  if (status === 200) return 'replayed'
  return 'error'
}

/** SMTP sends take tens of milliseconds; a timeout ends one at 40 s. */
const SEND_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40]

export class Metrics {
  readonly registry = new Registry()

  private readonly eventsReceived = new Counter({
    name: 'belfry_events_received_total',
    help: 'Webhook events received on POST /v1/events, by event type (unknown before the signature is checked) and result.',
    labelNames: ['type', 'result'] as const,
    registers: [this.registry],
  })

  private readonly sendDuration = new Histogram({
    name: 'belfry_send_duration_seconds',
    help: 'Time a transport took to accept or refuse one message, by transport and outcome (sent, transient, permanent, paused).',
    labelNames: ['transport', 'outcome'] as const,
    buckets: SEND_BUCKETS,
    registers: [this.registry],
  })

  private readonly transportErrors = new Counter({
    name: 'belfry_transport_errors_total',
    help: 'Failed send attempts by transport and class: transient (retried), permanent (dead letter), paused (no transport taking mail).',
    labelNames: ['transport', 'class'] as const,
    registers: [this.registry],
  })

  private readonly messages = new Gauge({
    name: 'belfry_messages',
    help: `Outbox messages by state, read at scrape time. ${SETTLED_STATES.join(', ')}: only those created in the last ${SETTLED_WINDOW_HOURS} hours; other states: all.`,
    labelNames: ['state'] as const,
    registers: [this.registry],
  })

  private readonly queueDepth = new Gauge({
    name: 'belfry_queue_depth',
    help: 'Messages due now and waiting for a worker (queued or retrying), read at scrape time.',
    registers: [this.registry],
  })

  private readonly queueOldestAge = new Gauge({
    name: 'belfry_queue_oldest_age_seconds',
    help: 'How long the longest-waiting due message has been due; 0 when none waits.',
    registers: [this.registry],
  })

  private readonly opens = new Counter({
    name: 'belfry_opens_total',
    help: `Tracked opens stored since this process started, human or machine (proxy, prefetcher, scanner), counted once ${SETTLE_SECONDS} s old. Read from the database: every process counts all of them.`,
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })

  private readonly clicks = new Counter({
    name: 'belfry_clicks_total',
    help: `Tracked clicks stored since this process started, human or machine (scanner), counted once ${SETTLE_SECONDS} s old. Read from the database: every process counts all of them.`,
    labelNames: ['kind'] as const,
    registers: [this.registry],
  })

  /** message_events rows up to this id are counted; null until the starting point is known. */
  private engagementMark: number | null = null
  private refreshing: Promise<void> | null = null

  constructor(
    private readonly db: Executor,
    private readonly log: Logger,
  ) {
    collectDefaultMetrics({ register: this.registry })
    for (const kind of ['human', 'machine']) {
      this.opens.inc({ kind }, 0)
      this.clicks.inc({ kind }, 0)
    }
    // Taken now rather than at the first scrape, so opens between the start and that scrape still count.
    lastMessageEventId(db).then(
      (id) => (this.engagementMark ??= id),
      () => {},
    )
  }

  get contentType(): string {
    return this.registry.contentType
  }

  /** For the events route: `outcome` is the ingest answer or what was thrown. */
  readonly eventReceived = (body: unknown, outcome: unknown): void => {
    this.eventsReceived.inc({ type: eventTypeLabel(body), result: eventResult(outcome) })
  }

  /** For the outbox: one call per try at a transport. */
  readonly attempt = (observed: AttemptObservation): void => {
    this.sendDuration.observe({ transport: observed.transport, outcome: observed.outcome }, observed.durationMs / 1000)
    if (observed.outcome !== 'sent') this.transportErrors.inc({ transport: observed.transport, class: observed.outcome })
  }

  /** The exposition text, with the database-backed values read now. */
  async render(): Promise<string> {
    await this.refresh()
    return this.registry.metrics()
  }

  /** Concurrent scrapes share one read, so the engagement counters never count a row twice. */
  private refresh(): Promise<void> {
    this.refreshing ??= this.readDatabase().finally(() => (this.refreshing = null))
    return this.refreshing
  }

  private async readDatabase(): Promise<void> {
    try {
      const snapshot = await outboxSnapshot(this.db)
      for (const state of messageStates) this.messages.set({ state }, snapshot.byState.get(state) ?? 0)
      this.queueDepth.set(snapshot.queueDepth)
      this.queueOldestAge.set(snapshot.oldestAgeSeconds)
    } catch (error) {
      // Stale numbers, or zeros, would look healthy: NaN says unknown, and the by-state series go away.
      this.messages.reset()
      this.queueDepth.set(Number.NaN)
      this.queueOldestAge.set(Number.NaN)
      this.log.warn('metrics: could not read the outbox', { error })
    }
    try {
      this.engagementMark ??= await lastMessageEventId(this.db)
      const delta = await engagementSince(this.db, this.engagementMark)
      for (const { kind, machine, n } of delta.counts) {
        ;(kind === 'open' ? this.opens : this.clicks).inc({ kind: machine ? 'machine' : 'human' }, n)
      }
      this.engagementMark = delta.upTo
    } catch (error) {
      // The mark stays where it was: the next scrape counts these rows.
      this.log.warn('metrics: could not read opens and clicks', { error })
    }
  }
}
