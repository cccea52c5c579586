// What a provider's report means for Belfry, with no I/O: an SES
// notification (the classic `notificationType` form or event publishing's
// `eventType` form) or a generic bounce report in, the actions out —
// addresses to suppress, addresses to opt out, and one message event.
// Details keep the provider's words but not addresses or IP addresses: a
// message_events row outlives a learner's erasure of their address.

import type { Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { t } from 'elysia'
import type { SuppressionReason } from '../db/schema/index.ts'
// Registers the belfry-* string formats used below.
import '../events/model.ts'

export const feedbackKinds = ['bounce', 'complaint', 'delivery', 'reject', 'delivery_delay', 'open', 'click'] as const
export type FeedbackKind = (typeof feedbackKinds)[number]

export interface Feedback {
  kind: FeedbackKind
  suppress: { email: string; reason: SuppressionReason; detail: string | null }[]
  /** Recipients with these addresses are opted out of every non-essential category. */
  optOut: string[]
  /** Which message it is about: the provider's id for it, and/or our own id or Message-ID. */
  providerMessageId: string | null
  belfryMessageRef: string | null
  detail: Record<string, unknown>
  occurredAt: Date
}

export type Interpretation = { ok: true; feedback: Feedback } | { ok: false; reason: string }

/** SES subtypes that mean the address will never accept mail (SES's own suppression list included). */
const HARD_BOUNCE_SUBTYPES = new Set(['General', 'NoEmail', 'Suppressed', 'OnAccountSuppressionList'])

const SES_KINDS: Record<string, { kind: FeedbackKind; key: string }> = {
  Bounce: { kind: 'bounce', key: 'bounce' },
  Complaint: { kind: 'complaint', key: 'complaint' },
  Delivery: { kind: 'delivery', key: 'delivery' },
  Reject: { kind: 'reject', key: 'reject' },
  DeliveryDelay: { kind: 'delivery_delay', key: 'deliveryDelay' },
  Open: { kind: 'open', key: 'open' },
  Click: { kind: 'click', key: 'click' },
}

const Header = t.Object({ name: t.String(), value: t.String() })
const SesNotification = t.Object({
  notificationType: t.Optional(t.String()),
  eventType: t.Optional(t.String()),
  mail: t.Object({
    messageId: t.Optional(t.String()),
    timestamp: t.Optional(t.String()),
    headers: t.Optional(t.Array(Header)),
  }),
})
type SesNotification = Static<typeof SesNotification> & Record<string, unknown>
const sesCheck = TypeCompiler.Compile(SesNotification)

const MAX_TEXT = 1000
const MAX_LIST = 20

function text(value: unknown, max = MAX_TEXT): string | undefined {
  if (typeof value === 'string') return value.length > max ? `${value.slice(0, max)}…` : value
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return undefined
}

/** The named fields of `source` that are plain values, shortened; nothing else. */
function pick(source: unknown, keys: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {}
  if (typeof source !== 'object' || source === null) return out
  for (const key of keys) {
    const value = text((source as Record<string, unknown>)[key])
    if (value !== undefined) out[key] = value
  }
  return out
}

function list(value: unknown): Record<string, unknown>[] {
  return Array.isArray(value) ? value.filter((item): item is Record<string, unknown> => typeof item === 'object' && item !== null) : []
}

const looksLikeAddress = (value: unknown): value is string =>
  typeof value === 'string' && value.length <= 320 && /^[^\s@<>",;]+@[^\s@<>",;]+$/.test(value)

function when(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined
  const date = new Date(value)
  return Number.isNaN(date.getTime()) ? undefined : date
}

/** Interprets an SNS notification's Message; `sentAt` (the SNS Timestamp) stands in when SES gives no time. */
export function interpretSes(message: string, sentAt: Date): Interpretation {
  let parsed: unknown
  try {
    parsed = JSON.parse(message)
  } catch {
    return { ok: false, reason: 'the message is not JSON' }
  }
  if (!sesCheck.Check(parsed)) return { ok: false, reason: 'the message is not an SES notification' }
  const notification = parsed as SesNotification
  const type = notification.eventType ?? notification.notificationType ?? ''
  const known = Object.hasOwn(SES_KINDS, type) ? SES_KINDS[type] : undefined
  if (!known) return { ok: false, reason: `SES notification type "${type}" is not one Belfry records` }
  const sub = notification[known.key] as Record<string, unknown> | undefined
  if (typeof sub !== 'object' || sub === null) return { ok: false, reason: `the ${type} notification has no ${known.key} object` }

  const belfryHeader = notification.mail.headers?.find((h) => h.name.toLowerCase() === 'x-belfry-message')?.value.trim()
  const base = {
    kind: known.kind,
    providerMessageId: notification.mail.messageId ?? null,
    belfryMessageRef: belfryHeader || null,
    occurredAt: when(sub.timestamp) ?? when(notification.mail.timestamp) ?? sentAt,
    suppress: [] as Feedback['suppress'],
    optOut: [] as string[],
  }

  switch (known.kind) {
    case 'bounce': {
      const bounceType = text(sub.bounceType, 50) ?? 'Undetermined'
      const subType = text(sub.bounceSubType, 50) ?? ''
      const recipients = list(sub.bouncedRecipients)
      const hard = bounceType === 'Permanent' && HARD_BOUNCE_SUBTYPES.has(subType)
      return {
        ok: true,
        feedback: {
          ...base,
          suppress: hard
            ? recipients
                .filter((r) => looksLikeAddress(r.emailAddress))
                .map((r) => ({
                  email: r.emailAddress as string,
                  reason: 'hard_bounce' as const,
                  detail: text(r.diagnosticCode, 500) ?? `${bounceType}/${subType}`,
                }))
            : [],
          detail: {
            ...pick(sub, ['bounceType', 'bounceSubType', 'feedbackId', 'reportingMTA']),
            recipients: recipients.slice(0, MAX_LIST).map((r) => pick(r, ['action', 'status', 'diagnosticCode'])),
          },
        },
      }
    }
    case 'complaint': {
      const addresses = list(sub.complainedRecipients)
        .map((r) => r.emailAddress)
        .filter(looksLikeAddress)
      const feedbackType = text(sub.complaintFeedbackType, 50)
      return {
        ok: true,
        feedback: {
          ...base,
          suppress: addresses.map((email) => ({ email, reason: 'complaint' as const, detail: feedbackType ?? null })),
          optOut: addresses,
          detail: pick(sub, ['complaintFeedbackType', 'complaintSubType', 'feedbackId', 'userAgent', 'arrivalDate']),
        },
      }
    }
    case 'delivery':
      return { ok: true, feedback: { ...base, detail: pick(sub, ['processingTimeMillis', 'smtpResponse', 'reportingMTA']) } }
    case 'reject':
      return { ok: true, feedback: { ...base, detail: pick(sub, ['reason']) } }
    case 'delivery_delay':
      return {
        ok: true,
        feedback: {
          ...base,
          detail: {
            ...pick(sub, ['delayType', 'expirationTime', 'reportingMTA']),
            recipients: list(sub.delayedRecipients)
              .slice(0, MAX_LIST)
              .map((r) => pick(r, ['status', 'diagnosticCode'])),
          },
        },
      }
    case 'open':
      return { ok: true, feedback: { ...base, detail: pick(sub, ['userAgent']) } }
    case 'click':
      return { ok: true, feedback: { ...base, detail: pick(sub, ['link', 'userAgent']) } }
  }
}

/** The body of POST /v1/providers/bounces. */
export const BounceReport = t.Object({
  type: t.Union([t.Literal('bounce'), t.Literal('complaint')]),
  email: t.String({ format: 'belfry-email', maxLength: 320 }),
  bounce_type: t.Optional(t.Union([t.Literal('permanent'), t.Literal('transient')])),
  message_id: t.Optional(t.String({ minLength: 1, maxLength: 998, description: 'our Message-ID header or message id' })),
  detail: t.Optional(t.String({ maxLength: 4000 })),
  occurred_at: t.Optional(t.String({ format: 'belfry-date-time', description: 'ISO-8601 with a time zone offset' })),
})
export type BounceReport = Static<typeof BounceReport>

export function interpretReport(report: BounceReport, receivedAt: Date): Feedback {
  const detail = report.detail === undefined ? undefined : text(report.detail, 500)
  const common = {
    providerMessageId: null,
    belfryMessageRef: report.message_id ?? null,
    occurredAt: report.occurred_at ? new Date(report.occurred_at) : receivedAt,
  }
  if (report.type === 'complaint') {
    return {
      ...common,
      kind: 'complaint',
      suppress: [{ email: report.email, reason: 'complaint', detail: detail ?? null }],
      optOut: [report.email],
      detail: detail === undefined ? {} : { diagnostic: detail },
    }
  }
  const permanent = report.bounce_type === 'permanent'
  return {
    ...common,
    kind: 'bounce',
    suppress: permanent ? [{ email: report.email, reason: 'hard_bounce', detail: detail ?? 'permanent bounce' }] : [],
    optOut: [],
    detail: { bounceType: report.bounce_type ?? 'unknown', ...(detail === undefined ? {} : { diagnostic: detail }) },
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * Our message id from what a report calls the message: the id itself, or
 * the Message-ID we minted (`<id@domain>`, brackets optional). The full
 * header is returned too, to be compared with the stored one.
 */
export function messageRef(ref: string): { id: string; header: string | null } | undefined {
  const trimmed = ref.trim()
  if (UUID.test(trimmed)) return { id: trimmed.toLowerCase(), header: null }
  const match = /^<?([^<>@\s]+)@([^<>@\s]+)>?$/.exec(trimmed)
  if (!match || !UUID.test(match[1]!)) return undefined
  return { id: match[1]!.toLowerCase(), header: `<${match[1]}@${match[2]}>` }
}
