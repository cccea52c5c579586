// One claimed message, start to end: render it, hand it to the transport,
// and record what happened — sent, retried later, or dead.

import type { Db } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { TransportError, type OutgoingMail, type SendResult, type Transport } from '../transport/types.ts'
import { addSuppression } from '../preferences/queries.ts'
import { retryDelay, type RetryPolicy } from './backoff.ts'
import type { SendSlots } from './slots.ts'
import { permanentReason } from './failure.ts'
import { recordInterrupted, redactSecrets, settle, type AttemptRecord, type ClaimedMessage, type Settlement } from './queries.ts'

export interface RenderedEmail {
  subject: string
  html: string
  text: string
  /** Set when the template runs an A/B experiment: recorded on the message. */
  experiment?: { id: string; variant: string }
  /** The language of the template used: the Content-Language header. */
  locale?: string
}

/** What delivery needs from the render module. */
export interface Renderer {
  render(message: ClaimedMessage): RenderedEmail
}

/** What the preference check says about a message about to be sent. */
export type GateDecision =
  | { action: 'send' }
  | { action: 'skip'; reason: string }
  | { action: 'digest'; runAt: Date; reason: string }
  | { action: 'defer'; runAt: Date; reason: string }
  | { action: 'cancel'; reason: string }

/** Decides, for a whole claimed batch at once, which messages go out now. A message it does not mention is sent. */
export interface Gate {
  decide(batch: readonly ClaimedMessage[]): Promise<Map<string, GateDecision>>
}

/** Asks each gate in turn about what the ones before it let through; the first decision other than `send` stands. */
export function chainGates(...gates: Gate[]): Gate {
  return {
    async decide(batch) {
      const held = new Map<string, GateDecision>()
      let open = batch
      for (const gate of gates) {
        if (open.length === 0) break
        for (const [id, decision] of await gate.decide(open)) if (decision.action !== 'send') held.set(id, decision)
        open = open.filter((message) => !held.has(message.id))
      }
      return held
    },
  }
}

/** Writes how a claim ended; true when the row still belonged to the claim. */
export type Settle = (item: Settlement) => Promise<boolean>

/** Each settlement in its own statement: for callers without a batcher. */
export const settleAlone =
  (db: Db): Settle =>
  async (item) =>
    (await settle(db, [item])).has(item.id)

export interface DeliveryDeps {
  db: Db
  /** Where each message's end is written: the worker's group commit (settle.ts), or settleAlone. */
  settle: Settle
  transport: Transport
  renderer: Renderer
  log: Logger
  mailFrom: string
  maxAttempts: number
  retry: RetryPolicy
  /** The variables a notification's template marks secret: overwritten in storage once it is sent. */
  secretsOf?(notification: string): readonly string[]
  /** Bounds the sends in flight (the worker's); unbounded without. */
  slots?: { slots: SendSlots; waitMs: number }
  /** Extra headers per message (List-Unsubscribe comes from the preferences module). */
  headersFor?(message: ClaimedMessage): Record<string, string>
  /**
   * Asked once more just before the send, after the wait for a slot: a
   * decision that changed since the claim (an announcement paused or
   * cancelled meanwhile) holds the message after all. Null: send it.
   */
  recheck?(message: ClaimedMessage): Promise<Exclude<GateDecision, { action: 'send' }> | null> | null
  /** Told about every try at a transport, for the send metrics. */
  onAttempt?(attempt: { transport: string; outcome: 'sent' | TransportError['kind']; code: string | null; durationMs: number }): void
}

export type DeliveryOutcome = 'sent' | 'retrying' | 'dead' | 'skipped' | 'digested' | 'scheduled' | 'cancelled' | 'lost-lease'

/** Provider text can be long and multi-line; keep what an admin needs to read. */
function clip(text: string, max = 1000): string {
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** Carries out a gate decision other than `send`. No attempt was made, so the one counted at claim time is given back. */
export async function hold(
  settleWith: Settle,
  message: ClaimedMessage,
  owner: string,
  decision: Exclude<GateDecision, { action: 'send' }>,
): Promise<DeliveryOutcome> {
  const state =
    decision.action === 'skip'
      ? 'skipped'
      : decision.action === 'cancel'
        ? 'cancelled'
        : decision.action === 'digest'
          ? 'digested'
          : 'scheduled'
  const runAt = decision.action === 'digest' || decision.action === 'defer' ? { runAt: decision.runAt } : {}
  const settled = await settleWith({ ...claimOf(message, owner), state, reason: decision.reason, giveBack: true, ...runAt })
  return settled ? state : 'lost-lease'
}

/** The part of a settlement that names the claim being ended. */
function claimOf(message: ClaimedMessage, owner: string) {
  return { id: message.id, owner, attempt: message.attempts }
}

export async function deliver(deps: DeliveryDeps, message: ClaimedMessage, owner: string): Promise<DeliveryOutcome> {
  const { db, transport, log } = deps
  const claim = claimOf(message, owner)
  const startedAt = new Date()
  const record = (
    outcome: AttemptRecord['outcome'],
    code: string | null,
    response: string | null,
    via: string = transport.name,
  ): AttemptRecord => ({
    attempt: message.attempts,
    transport: via,
    outcome,
    code,
    response: response === null ? null : clip(response),
    startedAt,
  })

  if (message.previousState === 'sending') {
    // Our predecessor's lease ran out mid-send: it may or may not have reached
    // the server. Sending again with the same Message-ID lets the receiving
    // side drop a duplicate.
    await recordInterrupted(db, message.id, {
      ...record('interrupted', null, 'lease expired: the process sending this message stopped before it finished'),
      attempt: message.attempts - 1,
    })
  }
  if (message.attempts > deps.maxAttempts) {
    // Every attempt ended in a crash; none is made now, so none is recorded.
    const reason = `gave up: all ${deps.maxAttempts} attempts were interrupted`
    return (await deps.settle({ ...claim, state: 'dead', reason: 'attempts_exhausted', lastError: reason })) ? 'dead' : 'lost-lease'
  }

  let rendered: RenderedEmail
  try {
    rendered = deps.renderer.render(message)
  } catch (error) {
    // A template that cannot render will not render on retry either.
    const text = `render failed: ${(error as Error).message}`
    log.error('render failed', { messageId: message.id, notification: message.notification, error })
    const dead = { state: 'dead', reason: 'render_failed', lastError: text, record: record('permanent', 'render', text) } as const
    return (await deps.settle({ ...claim, ...dead })) ? 'dead' : 'lost-lease'
  }

  const mail: OutgoingMail = {
    messageId: message.messageIdHeader,
    from: deps.mailFrom,
    to: { address: message.toAddress, name: message.toName },
    subject: rendered.subject,
    html: rendered.html,
    text: rendered.text,
    headers: {
      ...deps.headersFor?.(message),
      ...(rendered.locale ? { 'Content-Language': rendered.locale } : {}),
      // Our own id, for matching what providers report back (SES replaces the Message-ID).
      'X-Belfry-Message': message.id,
    },
  }

  const sendStart = performance.now()
  const attempted = (outcome: 'sent' | TransportError['kind'], via: string | undefined, code: string | undefined) =>
    deps.onAttempt?.({ transport: via ?? transport.name, outcome, code: code ?? null, durationMs: performance.now() - sendStart })
  if (deps.slots && !(await deps.slots.slots.acquire(deps.slots.waitMs))) {
    // Every slot stayed busy (a stalling server): back to the queue unsent, the attempt given back.
    log.warn('no send slot came free in time; message requeued', { messageId: message.id })
    const requeued = await deps.settle({ ...claim, state: 'retrying', reason: 'worker_busy', runAt: new Date(), giveBack: true })
    return requeued ? 'retrying' : 'lost-lease'
  }
  const changed = deps.recheck?.(message)
  const late = changed ? await changed.catch(() => null) : null
  if (late) {
    deps.slots?.slots.release()
    return hold(deps.settle, message, owner, late)
  }
  let result: SendResult
  try {
    result = await transport.send(mail)
  } catch (error) {
    return failed(error)
  } finally {
    deps.slots?.slots.release()
  }
  // Outside the try: a database error now must not pass for a failed send (it went out) and queue a retry.
  // It propagates instead; the row keeps its lease, and a takeover sends it again with the same Message-ID.
  attempted('sent', result.transport, result.code)
  const updated = await deps.settle({
    ...claim,
    state: 'sent',
    reason: null,
    lastError: null,
    sent: {
      subject: rendered.subject,
      providerMessageId: result.providerMessageId ?? null,
      experiment: rendered.experiment?.id ?? null,
      variant: rendered.experiment?.variant ?? null,
    },
    record: record('sent', result.code, result.response, result.transport),
  })
  if (!updated) log.warn('sent after losing the lease', { messageId: message.id })
  const secrets = deps.secretsOf?.(message.notification) ?? []
  if (secrets.length > 0) {
    // Sent is sent: a failure here is logged, never turned into a retry. Dead and
    // waiting messages keep their values, so a retry still sends a working link.
    await redactSecrets(db, message.id, secrets).catch((error: unknown) =>
      log.error('could not redact the secrets of a sent message', { messageId: message.id, error }),
    )
  }
  return updated ? 'sent' : 'lost-lease'

  async function failed(error: unknown): Promise<DeliveryOutcome> {
    const failure =
      error instanceof TransportError ? error : new TransportError('transient', (error as Error).message ?? String(error))
    const text = clip(failure.message)
    const via = failure.transport
    attempted(failure.kind, via, failure.code)
    if (failure.kind === 'paused') {
      // No transport would take it: it waits for one, and keeps the attempt it was claimed with.
      const runAt = failure.retryAt ?? new Date(Date.now() + 60_000)
      log.warn('no transport taking mail; message waits', { messageId: message.id, runAt, error: text })
      const held = await deps.settle({ ...claim, state: 'retrying', reason: 'provider_paused', runAt, giveBack: true })
      return held ? 'retrying' : 'lost-lease'
    }
    if (failure.kind === 'permanent' || message.attempts >= deps.maxAttempts) {
      const reason = failure.kind === 'permanent' ? permanentReason(failure) : 'attempts_exhausted'
      const error = failure.kind === 'permanent' ? text : `gave up after ${message.attempts} attempts: ${text}`
      log.warn('message dead', { messageId: message.id, code: failure.code, attempts: message.attempts, reason, error })
      // The server says the mailbox does not exist: sending there again can only hurt our reputation.
      if (reason === 'invalid_address') await addSuppression(db, message.toAddress, 'hard_bounce', text)
      const updated = await deps.settle({ ...claim, state: 'dead', reason, lastError: error, record: record(failure.kind, failure.code ?? null, text, via) })
      return updated ? 'dead' : 'lost-lease'
    }
    const runAt = new Date(Date.now() + retryDelay(message.attempts, deps.retry))
    log.info('send failed, will retry', { messageId: message.id, code: failure.code, attempt: message.attempts, runAt })
    const updated = await deps.settle({ ...claim, state: 'retrying', reason: null, lastError: text, runAt, record: record('transient', failure.code ?? null, text, via) })
    return updated ? 'retrying' : 'lost-lease'
  }
}
