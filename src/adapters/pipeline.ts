// A native event's life: stored first (so nothing an LMS sent is lost),
// then mapped — with lookups against the LMS's API where the event lacks
// what an email needs — and handed to Belfry's ingest. A lookup that fails
// leaves the event `enriching`, tried again with growing waits by the
// adapters job; after ENRICH_MAX_ATTEMPTS it is `dead` with the reason,
// where an admin can see it and retry it.

import { createHash, timingSafeEqual } from 'node:crypto'
import type { Db } from '../db/client.ts'
import type { NativeEvent } from '../db/schema/index.ts'
import { AppError } from '../errors.ts'
import type { IngestDeps } from '../events/ingest.ts'
import type { Logger } from '../log.ts'
import { CanvasApi, mapCanvas, readCanvasEvent } from './canvas.ts'
import { deliverToBelfry, type Delivered } from './ingest.ts'
import { JwksCache } from './jwt.ts'
import { LookupError, type Fetcher } from './lookup.ts'
import { MappingError, type AdapterName, type MapOutcome, type NativeDescriptor } from './model.ts'
import { mapMoodle, MoodleApi, readMoodleEvent } from './moodle.ts'
import { mapOpenEdx, readOpenEdxEvent } from './openedx.ts'
import { claimDueNativeEvents, deleteFinishedNativeEvents, findNativeEvent, insertNativeEvent, loadAdapterSettings, updateNativeEvent } from './queries.ts'

/**
 * Attempts before an event whose lookups keep failing is dead. With the
 * default retry policy (30 s doubling, capped at an hour) that is about six
 * hours: an LMS API outage of an afternoon loses nothing.
 */
export const ENRICH_MAX_ATTEMPTS = 12
/**
 * How long an LMS's request waits for the first mapping attempt. Past it the
 * answer is 202 `received` and the attempt finishes on its own: Canvas and
 * webhook plugins time out (and re-deliver) when an endpoint is slow, and a
 * slow LMS API must not make its own events pile up.
 */
const ANSWER_WITHIN_MS = 5_000
/** Events one run of the job maps; the next run takes the rest. */
const BATCH = 50

export interface AdapterSettings {
  enabled: boolean
  baseUrl: string | null
  apiToken: string | null
  inboundToken: string | null
  jwksUrl: string | null
}

export interface AdapterPipelineDeps {
  db: Db
  ingest: IngestDeps
  log: Logger
  /** Waits between attempts: base · 2^(attempt-1), capped (RETRY_BASE_MS, RETRY_MAX_MS). */
  retry: { retryBaseMs: number; retryMaxMs: number }
  /** RETENTION_DAYS: finished native events are deleted after it, as stored webhooks are. */
  retentionDays?: number
  /** CANVAS_JWKS_URL: used when the admin settings name none. */
  canvasJwksUrl?: string | undefined
  /** Outgoing HTTP (the LMS APIs, the JWKS); tests may point it elsewhere. */
  fetcher?: Fetcher
}

export interface ReceiveAnswer {
  status: 200 | 202
  body: { native_event_id: string; state: string; reason?: string; events?: Delivered[] }
}

/** Compares a presented token with the configured one without leaking, by timing, how much of it matched. */
export function tokenMatches(presented: string | null | undefined, expected: string | null | undefined): boolean {
  if (!presented || !expected) return false
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}

export class AdapterPipeline {
  readonly jwks: JwksCache
  private readonly clients = new Map<string, CanvasApi | MoodleApi>()
  private readonly log: Logger
  /** ANSWER_WITHIN_MS; tests shorten it. */
  answerWithinMs = ANSWER_WITHIN_MS

  constructor(private readonly deps: AdapterPipelineDeps) {
    this.jwks = new JwksCache(deps.fetcher ? (url) => deps.fetcher!(url, { signal: AbortSignal.timeout(10_000) }) : undefined)
    this.log = deps.log.child({ component: 'adapters' })
  }

  async settings(adapter: AdapterName): Promise<AdapterSettings> {
    const row = await loadAdapterSettings(this.deps.db, adapter)
    return {
      enabled: row?.enabled ?? false,
      baseUrl: row?.baseUrl ?? null,
      apiToken: row?.apiToken ?? null,
      inboundToken: row?.inboundToken ?? null,
      jwksUrl: row?.jwksUrl ?? (adapter === 'canvas' ? (this.deps.canvasJwksUrl ?? null) : null),
    }
  }

  /** One client per LMS address and token, so its cache and rate limit span every event. */
  private client<T extends CanvasApi | MoodleApi>(adapter: AdapterName, settings: AdapterSettings, make: (base: string, token: string) => T): T | null {
    if (!settings.baseUrl || !settings.apiToken) return null
    const key = `${adapter} ${settings.baseUrl} ${createHash('sha256').update(settings.apiToken).digest('hex')}`
    let client = this.clients.get(key) as T | undefined
    if (!client) {
      client = make(settings.baseUrl, settings.apiToken)
      this.clients.set(key, client)
    }
    return client
  }

  private async map(row: NativeEvent, settings: AdapterSettings): Promise<MapOutcome> {
    switch (row.adapter as AdapterName) {
      case 'canvas':
        return mapCanvas(readCanvasEvent(row.payload), this.client('canvas', settings, (b, t) => new CanvasApi(b, t, this.deps.fetcher)))
      case 'moodle':
        return mapMoodle(readMoodleEvent(row.payload), this.client('moodle', settings, (b, t) => new MoodleApi(b, t, this.deps.fetcher)))
      case 'openedx': {
        // The type may have come in a header; it was kept as the row's event name.
        const headers = new Headers({ 'ce-type': row.eventName, ...(row.eventTime ? { 'ce-time': row.eventTime.toISOString() } : {}) })
        return mapOpenEdx(readOpenEdxEvent(row.payload, headers), settings.baseUrl)
      }
      default:
        throw new MappingError(`no adapter called ${row.adapter}`)
    }
  }

  /** Stores a native event and maps it at once; a re-delivery gets the stored outcome and changes nothing. */
  async receive(adapter: AdapterName, native: NativeDescriptor, payload: unknown, settings: AdapterSettings): Promise<ReceiveAnswer> {
    const stored = await insertNativeEvent(this.deps.db, adapter, native, payload)
    if (!stored) {
      const existing = await findNativeEvent(this.deps.db, adapter, native.deliveryId)
      if (!existing) throw new AppError('internal', 'the stored event vanished')
      this.log.info('native event re-delivered', { adapter, event: native.eventName, state: existing.state })
      return { status: 200, body: answerOf(existing) }
    }
    const attempt = this.process(stored, settings, new Date()).catch((error) => {
      // The row stays `received`; the adapters job takes it up after a minute.
      this.log.error('mapping a native event failed', { adapter, event: native.eventName, error })
      return stored
    })
    let timer: ReturnType<typeof setTimeout> | undefined
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), this.answerWithinMs)))
    const after = await Promise.race([attempt, late])
    clearTimeout(timer)
    return { status: 202, body: answerOf(after ?? stored) }
  }

  /** One mapping attempt; the row as it stands afterwards. */
  async process(row: NativeEvent, settings: AdapterSettings, now: Date): Promise<NativeEvent> {
    const attempt = row.attempts + 1
    const log = this.log.child({ adapter: row.adapter, event: row.eventName, nativeEventId: row.id })
    let patch: Partial<NativeEvent>
    try {
      const outcome = await this.map(row, settings)
      if (outcome.kind === 'ignored') {
        patch = { state: 'ignored', reason: outcome.reason, attempts: attempt, nextAttemptAt: null }
      } else {
        const delivered: Delivered[] = []
        for (const [index, event] of outcome.events.entries()) {
          delivered.push(await deliverToBelfry(this.deps.ingest, `${row.adapter}:${row.deliveryId}#${index}`, event))
        }
        patch = { state: 'mapped', reason: null, attempts: attempt, nextAttemptAt: null, mapped: delivered }
      }
    } catch (error) {
      const permanent =
        error instanceof MappingError ||
        (error instanceof LookupError && error.permanent) ||
        (error instanceof AppError && error.code === 'invalid_event')
      const why = error instanceof AppError && error.details?.length ? `${error.message}: ${error.details.map((d) => `${d.path} ${d.message}`).join('; ')}` : (error as Error).message
      if (!(error instanceof LookupError || error instanceof MappingError || error instanceof AppError)) log.error('mapping a native event failed', { error })
      if (permanent) {
        patch = { state: 'dead', reason: why, attempts: attempt, nextAttemptAt: null }
      } else if (attempt >= ENRICH_MAX_ATTEMPTS) {
        patch = { state: 'dead', reason: `gave up after ${attempt} attempts: ${why}`, attempts: attempt, nextAttemptAt: null }
      } else {
        const wait = Math.min(this.deps.retry.retryMaxMs, this.deps.retry.retryBaseMs * 2 ** (attempt - 1))
        patch = { state: 'enriching', reason: why, attempts: attempt, nextAttemptAt: new Date(now.getTime() + wait) }
      }
    }
    await updateNativeEvent(this.deps.db, row.id, patch)
    const level = patch.state === 'dead' ? 'warn' : 'info'
    log[level]('native event handled', { state: patch.state, attempt, ...(patch.reason ? { reason: patch.reason } : {}) })
    return { ...row, ...patch } as NativeEvent
  }

  /** The job's body: every event whose wait is over gets another attempt. */
  async retryDue(now: Date = new Date()): Promise<{ claimed: number; mapped: number; waiting: number; dead: number; deleted: number }> {
    const deleted = this.deps.retentionDays ? await deleteFinishedNativeEvents(this.deps.db, new Date(now.getTime() - this.deps.retentionDays * 86_400_000)) : 0
    const claimed = await claimDueNativeEvents(this.deps.db, now, BATCH)
    const result = { claimed: claimed.length, mapped: 0, waiting: 0, dead: 0, deleted }
    const settings = new Map<AdapterName, AdapterSettings>()
    for (const row of claimed) {
      const adapter = row.adapter as AdapterName
      if (!settings.has(adapter)) settings.set(adapter, await this.settings(adapter))
      const after = await this.process(row, settings.get(adapter)!, now)
      if (after.state === 'mapped' || after.state === 'ignored') result.mapped++
      else if (after.state === 'dead') result.dead++
      else result.waiting++
    }
    return result
  }
}

function answerOf(row: NativeEvent): ReceiveAnswer['body'] {
  return {
    native_event_id: row.id,
    state: row.state,
    ...(row.reason ? { reason: row.reason } : {}),
    ...(row.mapped ? { events: row.mapped as Delivered[] } : {}),
  }
}
