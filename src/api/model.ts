// The management API's request and response shapes as `t` schemas: the
// routes validate with them and the OpenAPI document is made of them, so a
// shape is written once.

import { t } from 'elysia'
import { frequencies, messageStates } from '../db/schema/index.ts'
import { LEARNER_CATEGORIES } from '../preferences/categories.ts'

const Time = t.String({ format: 'date-time' })
const NullableTime = t.Union([Time, t.Null()])
const literals = <T extends string>(values: readonly T[]) => t.Union(values.map((v) => t.Literal(v)))

export const ErrorBody = t.Object(
  {
    error: t.String({ description: 'a code from a closed set: bad_request, invalid_json, unauthorized, invalid_signature, not_found, conflict, payload_too_large, invalid_event, rate_limited, internal, …' }),
    message: t.String(),
    details: t.Optional(t.Array(t.Object({ path: t.String(), message: t.String() }))),
  },
  { $id: 'Error' },
)

export const Attempt = t.Object({
  attempt: t.Integer(),
  transport: t.String(),
  outcome: t.String({ description: 'sent, transient, permanent or interrupted' }),
  code: t.Union([t.String(), t.Null()]),
  response: t.Union([t.String(), t.Null()]),
  started_at: Time,
  finished_at: Time,
})

export const MessageBody = t.Object(
  {
    id: t.String({ format: 'uuid' }),
    event_id: t.Union([t.String({ format: 'uuid' }), t.Null()]),
    notification: t.String(),
    category: t.String(),
    state: literals(messageStates),
    reason: t.Union([t.String(), t.Null()], { description: 'why it was skipped, cancelled, digested or is dead' }),
    to: t.String({ description: 'the address; "erased" once the person was erased' }),
    message_id: t.String({ description: 'the Message-ID header, the same on every attempt' }),
    run_at: Time,
    sent_at: NullableTime,
    created_at: Time,
    last_error: t.Union([t.String(), t.Null()]),
    attempts: t.Array(Attempt),
  },
  { $id: 'Message' },
)

export const Frequencies = t.Object(
  Object.fromEntries(LEARNER_CATEGORIES.map((c) => [c, literals(frequencies)])) as Record<string, ReturnType<typeof literals>>,
)

export const RecipientBody = t.Object(
  {
    id: t.String({ description: 'the LMS user id' }),
    email: t.String(),
    name: t.Union([t.String(), t.Null()]),
    locale: t.Union([t.String(), t.Null()]),
    timezone: t.Union([t.String(), t.Null()]),
    unsubscribed_at: NullableTime,
    suppressed: t.Boolean({ description: 'the address is on the suppression list: nothing at all is sent to it' }),
    preferences: Frequencies,
    muted_courses: t.Array(t.String()),
    created_at: Time,
    updated_at: Time,
  },
  { $id: 'Recipient' },
)

export const PreferencesUpdate = t.Object(
  {
    preferences: t.Optional(
      t.Partial(t.Object(Object.fromEntries(LEARNER_CATEGORIES.map((c) => [c, literals(frequencies)])), { additionalProperties: false }), {
        description: 'per category: immediately, daily, weekly or off; categories left out keep their choice',
      }),
    ),
    muted_courses: t.Optional(t.Array(t.String({ minLength: 1, maxLength: 255 }), { maxItems: 1000, description: 'the full list: courses not named are unmuted' })),
    unsubscribed: t.Optional(t.Boolean({ description: 'true: nothing non-essential is sent; false: as the preferences say' })),
  },
  { additionalProperties: false, $id: 'PreferencesUpdate' },
)

export const ErasureBody = t.Object(
  {
    erased: t.Literal(true),
    recipient_found: t.Boolean(),
    cancelled_messages: t.Integer(),
    opt_out_kept: t.Boolean({ description: 'an HMAC of the address stays on the suppression list (the person was suppressed or unsubscribed)' }),
  },
  { $id: 'Erasure' },
)

export const ExportBody = t.Object(
  {
    exported_at: Time,
    lms_user_id: t.String(),
    recipient: t.Union([t.Object({}, { additionalProperties: true }), t.Null()]),
    preferences: t.Array(t.Object({}, { additionalProperties: true })),
    muted_courses: t.Array(t.Object({}, { additionalProperties: true })),
    suppressions: t.Array(t.Object({}, { additionalProperties: true })),
    messages: t.Array(t.Object({}, { additionalProperties: true })),
    attempts: t.Array(t.Object({}, { additionalProperties: true })),
    tracking_and_provider_events: t.Array(t.Object({}, { additionalProperties: true })),
    events: t.Array(t.Object({}, { additionalProperties: true }), { description: 'stored webhook events that name the person' }),
  },
  { $id: 'Export' },
)
