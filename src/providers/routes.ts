// Bounces and complaints coming back from providers:
//   POST /v1/providers/ses/sns   Amazon SNS deliveries of SES notifications
//   POST /v1/providers/bounces   anyone else, signed like /v1/events
// Both authenticate before they parse, and count each report once through
// the events table's unique webhook_id (`sns:<MessageId>`, `bounces:<webhook-id>`).

import type { TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import { Elysia } from 'elysia'
import type { Db, Executor } from '../db/client.ts'
import { AppError } from '../errors.ts'
import { bodyHash } from '../events/ingest.ts'
import { describe } from '../events/model.ts'
import { parseJson, readBody, type EventRoutesDeps } from '../events/routes.ts'
import { verifySignature } from '../events/signature.ts'
import type { Logger } from '../log.ts'
import { BounceReport, interpretReport, interpretSes, type Feedback } from './feedback.ts'
import { applyFeedback, claimReport, findStoredReport, releaseReport, type Applied } from './queries.ts'
import { CertificateCache, confirmSubscription, FetchFailed } from './sns-fetch.ts'
import { checkFetchUrl, isSnsMessage, signatureHash, verifySnsSignature, type SnsMessage } from './sns-signature.ts'

// SNS allows 256 KiB of message, which grows when escaped into the JSON envelope.
const SNS_MAX_BODY_BYTES = 768 * 1024
const REPORT_MAX_BODY_BYTES = 64 * 1024

export interface ProviderRoutesDeps {
  db: Db
  webhookSecrets: EventRoutesDeps['webhookSecrets']
  /** SNS_TOPIC_ARNS: the only topics whose messages are accepted. */
  snsTopicArns: readonly string[]
  /** SNS_CERT_HOSTS; null: AWS's own SNS host for the topic's region. */
  snsCertHosts: readonly string[] | null
  /**
   * RETENTION_DAYS: how long a processed MessageId is remembered. A message
   * signed longer ago than that is refused, so a captured genuine bounce
   * cannot be replayed once its record is gone.
   */
  retentionDays: number
  log: Logger
  /** Where certificates and SubscribeURLs are fetched from; the global fetch by default. */
  fetch?: typeof fetch
  now?: () => Date
}

class LostRace extends Error {}

/**
 * Applies `feedback` and then stores the report under `webhookId`, in one
 * transaction: when another delivery of the same report committed first,
 * the insert finds its row and everything here is rolled back.
 */
async function applyOnce(
  db: Db,
  event: { webhookId: string; type: string; bodySha256: string; occurredAt: Date | null },
  work: (tx: Executor) => Promise<Record<string, unknown>>,
): Promise<Record<string, unknown> | undefined> {
  try {
    return await db.transaction(async (tx) => {
      const data = await work(tx)
      if (!(await claimReport(tx, { ...event, data }))) throw new LostRace()
      return data
    })
  } catch (error) {
    if (error instanceof LostRace) return undefined
    throw error
  }
}

function forbidden(reason: string): never {
  throw new AppError('forbidden', reason)
}

export function providerRoutes(deps: ProviderRoutesDeps) {
  const certificates = new CertificateCache(deps.fetch)
  const reportCheck = TypeCompiler.Compile(BounceReport)
  const now = () => deps.now?.() ?? new Date()

  async function authenticateSns(message: SnsMessage): Promise<void> {
    if (deps.snsTopicArns.length === 0) forbidden('SNS_TOPIC_ARNS is not configured, so no SNS topic is accepted')
    if (!deps.snsTopicArns.includes(message.TopicArn)) forbidden(`TopicArn ${message.TopicArn} is not in SNS_TOPIC_ARNS`)
    if (!message.Signature || !message.SigningCertURL) forbidden('the message is not signed: Signature and SigningCertURL are required')
    // Refused before the certificate is fetched: nothing it says could make such a message valid.
    if (!signatureHash(message.SignatureVersion)) forbidden(`SignatureVersion ${message.SignatureVersion ?? '(missing)'} is not supported (1 or 2)`)
    const certUrl = checkFetchUrl(message.SigningCertURL, message.TopicArn, deps.snsCertHosts)
    if (!certUrl.ok) forbidden(`SigningCertURL ${certUrl.reason}`)
    let certificate
    try {
      certificate = await certificates.get(certUrl.url)
    } catch (error) {
      if (!(error instanceof FetchFailed)) throw error
      // SNS retries on a 5xx, and the certificate host may well answer next time.
      throw new AppError('bad_gateway', `the signing certificate could not be fetched: ${error.message}`)
    }
    const verdict = verifySnsSignature(message, certificate, now())
    if (!verdict.ok) forbidden(verdict.reason)
    const sentAt = Date.parse(message.Timestamp)
    if (!Number.isFinite(sentAt) || now().getTime() - sentAt > deps.retentionDays * 86_400_000) {
      forbidden(`the message was signed at ${message.Timestamp}, longer ago than RETENTION_DAYS (${deps.retentionDays}): a replay`)
    }
  }

  async function snsNotification(message: SnsMessage, webhookId: string, sha: string) {
    const sentAt = new Date(message.Timestamp)
    const interpretation = interpretSes(message.Message, Number.isNaN(sentAt.getTime()) ? now() : sentAt)
    const stored = await applyOnce(
      deps.db,
      {
        webhookId,
        type: interpretation.ok ? `ses.${interpretation.feedback.kind}` : 'sns.notification',
        bodySha256: sha,
        occurredAt: interpretation.ok ? interpretation.feedback.occurredAt : null,
      },
      async (tx) => {
        // Addresses are kept out of the stored event: the suppression list holds them, and erasure does not reach here.
        const base = { topic_arn: message.TopicArn, sns_message_id: message.MessageId }
        if (!interpretation.ok) return { ...base, ignored: interpretation.reason }
        const applied = await applyFeedback(tx, interpretation.feedback, 'ses')
        return { ...base, ses_message_id: interpretation.feedback.providerMessageId, ...resultData(interpretation.feedback, applied) }
      },
    )
    if (!stored) return { status: 'duplicate' }
    if (!interpretation.ok) {
      deps.log.info('sns notification ignored', { topicArn: message.TopicArn, reason: interpretation.reason })
      return { status: 'ignored', reason: interpretation.reason }
    }
    deps.log.info('provider feedback', { source: 'ses', kind: interpretation.feedback.kind, suppressed: stored.suppressed, recorded: stored.recorded })
    return { status: 'processed', suppressed: stored.suppressed, recorded: stored.recorded }
  }

  async function snsSubscription(message: SnsMessage & { SubscribeURL: string }, webhookId: string, sha: string) {
    const event = { webhookId, type: `sns.${message.Type}`, bodySha256: sha, occurredAt: null, data: { topic_arn: message.TopicArn } }
    if (message.Type === 'UnsubscribeConfirmation') {
      // Following its SubscribeURL would subscribe us again; someone unsubscribed on purpose.
      if (!(await claimReport(deps.db, event))) return { status: 'duplicate' }
      deps.log.warn('sns topic unsubscribed', { topicArn: message.TopicArn })
      return { status: 'recorded' }
    }
    const subscribeUrl = checkFetchUrl(message.SubscribeURL, message.TopicArn, deps.snsCertHosts)
    if (!subscribeUrl.ok) forbidden(`SubscribeURL ${subscribeUrl.reason}`)
    // Claimed before the request so two deliveries at once confirm once; given back when it fails, so SNS's retry can.
    if (!(await claimReport(deps.db, event))) return { status: 'duplicate' }
    try {
      await confirmSubscription(subscribeUrl.url, deps.fetch)
    } catch (error) {
      await releaseReport(deps.db, webhookId)
      if (!(error instanceof FetchFailed)) throw error
      throw new AppError('bad_gateway', `the subscription could not be confirmed: ${error.message}`)
    }
    deps.log.info('sns subscription confirmed', { topicArn: message.TopicArn })
    return { status: 'confirmed' }
  }

  return new Elysia({ name: 'providers' })
    .post(
      '/v1/providers/ses/sns',
      async ({ request }) => {
        const raw = await readBody(request, SNS_MAX_BODY_BYTES)
        const message = parseJson(raw)
        if (!isSnsMessage(message)) {
          throw new AppError(
            'bad_request',
            'the body is not an SNS message (Type, MessageId, TopicArn, Message, Timestamp, SignatureVersion, Signature, SigningCertURL)',
          )
        }
        await authenticateSns(message)
        const webhookId = `sns:${message.MessageId}`
        const sha = bodyHash(raw)
        // SNS delivers a message again when our answer is slow; a repeat is acknowledged, never processed.
        if (await findStoredReport(deps.db, webhookId)) return { status: 'duplicate' }
        return message.Type === 'Notification' ? snsNotification(message, webhookId, sha) : snsSubscription(message, webhookId, sha)
      },
      { parse: 'none' },
    )
    .post(
      '/v1/providers/bounces',
      async ({ request, set }) => {
        const raw = await readBody(request, REPORT_MAX_BODY_BYTES)
        const id = verifySignature(
          await deps.webhookSecrets(),
          {
            id: request.headers.get('webhook-id'),
            timestamp: request.headers.get('webhook-timestamp'),
            signature: request.headers.get('webhook-signature'),
          },
          raw,
        )
        const webhookId = `bounces:${id}`
        const sha = bodyHash(raw)
        const replay = async () => {
          const stored = await findStoredReport(deps.db, webhookId)
          if (!stored) return undefined
          if (stored.bodySha256 !== sha) throw new AppError('conflict', 'this webhook-id was already used for a different body')
          const data = stored.data as { suppressed?: boolean; recorded?: boolean }
          set.status = 200
          return { suppressed: data.suppressed === true, recorded: data.recorded === true }
        }
        const earlier = await replay()
        if (earlier) return earlier

        const body = parseJson(raw)
        if (!reportCheck.Check(body)) {
          throw new AppError('invalid_event', 'the body is not a bounce report', describe(reportCheck as unknown as TypeCheck<TSchema>, body, ''))
        }
        if (body.type === 'bounce' && body.bounce_type === undefined) {
          throw new AppError('invalid_event', 'a bounce needs its bounce_type', [
            { path: '/bounce_type', message: "required when type is bounce: 'permanent' or 'transient'" },
          ])
        }
        const feedback = interpretReport(body, now())
        const stored = await applyOnce(
          deps.db,
          { webhookId, type: `provider.${feedback.kind}`, bodySha256: sha, occurredAt: body.occurred_at ? feedback.occurredAt : null },
          async (tx) => ({
            bounce_type: body.bounce_type ?? null,
            message_ref: body.message_id ?? null,
            ...resultData(feedback, await applyFeedback(tx, feedback, 'webhook')),
          }),
        )
        if (!stored) return (await replay()) ?? { suppressed: false, recorded: false }
        deps.log.info('provider feedback', { source: 'webhook', kind: feedback.kind, suppressed: stored.suppressed, recorded: stored.recorded })
        set.status = 202
        return { suppressed: stored.suppressed === true, recorded: stored.recorded === true }
      },
      { parse: 'none' },
    )
}

function resultData(feedback: Feedback, applied: Applied) {
  return { kind: feedback.kind, message_id: applied.messageId, suppressed: applied.suppressed, recorded: applied.recorded }
}
