// The management API, behind `Authorization: Bearer <key>` (keys are made
// in admin settings). `:id` of a recipient is the LMS user id, the id an
// integrator knows; DESIGN.md keys learners by it too.
//
//   GET    /v1/messages/:id                 state, reason and every attempt
//   GET    /v1/recipients/:id               profile, preferences, mutes, suppression
//   PUT    /v1/recipients/:id/preferences   change them (as the learner's own page would)
//   GET    /v1/recipients/:id/export        GDPR Art. 15/20: everything held about the person
//   DELETE /v1/recipients/:id               GDPR Art. 17: erase them; an opt-out survives as an HMAC

import { TypeCompiler } from '@sinclair/typebox/compiler'
import { Elysia } from 'elysia'
import type { Db } from '../db/client.ts'
import type { Frequency } from '../db/schema/index.ts'
import { AppError } from '../errors.ts'
import { describe, unstorable } from '../events/model.ts'
import { parseJson, readBody } from '../events/routes.ts'
import { TokenBuckets, tooManyRequests, type Rate } from '../limits/token-bucket.ts'
import type { Logger } from '../log.ts'
import { LEARNER_CATEGORIES } from '../preferences/categories.ts'
import { setCourseMuted, setFrequency, setUnsubscribedAll } from '../preferences/queries.ts'
import { eraseRecipient } from '../recipients/erase.ts'
import { findRecipient } from '../recipients/queries.ts'
import { bearerKey, hashKey } from './keys.ts'
import { PreferencesUpdate } from './model.ts'
import { exportPerson, findMessage, recipientChoices, useApiKey } from './queries.ts'

export interface ApiRoutesDeps {
  db: Db
  /** APP_SECRET: keys the HMAC an erased address is kept as. */
  addressSecret: string
  /** Requests per API key; null: no limit. */
  perKey: Rate | null
  log: Logger
}

/** A management request body is a handful of choices; anything bigger is a mistake or an attack. */
export const MAX_API_BODY_BYTES = 64 * 1024

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const updateCheck = TypeCompiler.Compile(PreferencesUpdate)

const unauthorized = () =>
  new Response(JSON.stringify({ error: 'unauthorized', message: 'send Authorization: Bearer <API key>; keys are made in the admin settings' }), {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer' },
  })

function recipientId(params: { id: string }): string {
  // Elysia hands over null for a path segment that is not valid percent-encoded UTF-8.
  const id: unknown = params.id
  if (typeof id !== 'string') throw new AppError('not_found', 'no such recipient')
  // Postgres refuses NUL and lone surrogates in text: no LMS id holds them, so no recipient has one.
  if (id.length === 0 || id.length > 255 || unstorable(id)) throw new AppError('not_found', 'no such recipient')
  return id
}

export function apiRoutes(deps: ApiRoutesDeps) {
  const { db } = deps
  const perKey = deps.perKey ? new TokenBuckets(deps.perKey) : null

  async function recipientView(lmsUserId: string) {
    const recipient = await findRecipient(db, lmsUserId)
    if (!recipient) throw new AppError('not_found', 'no such recipient')
    const choices = await recipientChoices(db, recipient.id, recipient.email)
    return {
      id: recipient.lmsUserId,
      email: recipient.email,
      name: recipient.name,
      locale: recipient.locale,
      timezone: recipient.timezone,
      unsubscribed_at: recipient.unsubscribedAt,
      suppressed: choices.suppressions.length > 0,
      preferences: Object.fromEntries(
        LEARNER_CATEGORIES.map((c) => [c, choices.chosen.find((p) => p.category === c)?.frequency ?? 'immediately']),
      ),
      muted_courses: choices.muted.map((m) => m.courseId),
      created_at: recipient.createdAt,
      updated_at: recipient.updatedAt,
    }
  }

  return new Elysia({ name: 'management-api', prefix: '/v1' })
    .resolve(async ({ request }) => {
      const key = bearerKey(request.headers.get('authorization'))
      return { apiKey: key ? await useApiKey(db, hashKey(key)) : null }
    })
    .onBeforeHandle(({ apiKey }) => {
      if (!apiKey) return unauthorized()
      const taken = perKey?.take(apiKey.id)
      if (taken && !taken.ok) return tooManyRequests(taken.retryAfterSeconds, 'for this API key')
    })
    .get('/messages/:id', async ({ params }) => {
      if (!UUID.test(params.id)) throw new AppError('not_found', 'no such message')
      const found = await findMessage(db, params.id)
      if (!found) throw new AppError('not_found', 'no such message')
      const { message: m, attempts } = found
      return {
        id: m.id,
        event_id: m.eventId,
        notification: m.notification,
        category: m.category,
        state: m.state,
        reason: m.reason,
        to: m.toAddress,
        message_id: m.messageIdHeader,
        run_at: m.runAt,
        sent_at: m.sentAt,
        created_at: m.createdAt,
        last_error: m.lastError,
        attempts: attempts.map((a) => ({
          attempt: a.attempt,
          transport: a.transport,
          outcome: a.outcome,
          code: a.code,
          response: a.response,
          started_at: a.startedAt,
          finished_at: a.finishedAt,
        })),
      }
    })
    .get('/recipients/:id', ({ params }) => recipientView(recipientId(params)))
    .put(
      '/recipients/:id/preferences',
      async ({ params, request }) => {
        const lmsUserId = recipientId(params)
        const body = parseJson(await readBody(request, MAX_API_BODY_BYTES))
        const unsafe = unstorable(body)
        if (unsafe) throw new AppError('bad_request', 'the body cannot be stored as sent', [unsafe])
        if (!updateCheck.Check(body)) {
          throw new AppError('bad_request', 'the body does not match PreferencesUpdate', describe(updateCheck, body, ''))
        }
        const recipient = await findRecipient(db, lmsUserId)
        if (!recipient) throw new AppError('not_found', 'no such recipient')
        await db.transaction(async (tx) => {
          for (const [category, frequency] of Object.entries(body.preferences ?? {})) {
            if (frequency) await setFrequency(tx, recipient.id, category, frequency as Frequency)
          }
          if (body.muted_courses) {
            const wanted = new Set(body.muted_courses)
            const { muted } = await recipientChoices(tx, recipient.id, recipient.email)
            for (const { courseId } of muted) if (!wanted.has(courseId)) await setCourseMuted(tx, recipient.id, courseId, false)
            for (const courseId of wanted) await setCourseMuted(tx, recipient.id, courseId, true)
          }
          if (body.unsubscribed !== undefined) await setUnsubscribedAll(tx, recipient.id, body.unsubscribed)
        })
        return recipientView(lmsUserId)
      },
      { parse: 'none' },
    )
    .get('/recipients/:id/export', async ({ params, set }) => {
      const lmsUserId = recipientId(params)
      const recipient = await findRecipient(db, lmsUserId)
      const held = await exportPerson(db, recipient?.id ?? null, lmsUserId, recipient?.email ?? null)
      const choices = recipient ? await recipientChoices(db, recipient.id, recipient.email) : null
      if (!recipient && held.messages.length === 0 && held.events.length === 0) throw new AppError('not_found', 'nothing is held about this person')
      set.headers['content-disposition'] = `attachment; filename="belfry-export-${encodeURIComponent(lmsUserId)}.json"`
      set.headers['cache-control'] = 'no-store'
      return {
        exported_at: new Date(),
        lms_user_id: lmsUserId,
        recipient,
        preferences: choices?.chosen ?? [],
        muted_courses: choices?.muted ?? [],
        suppressions: held.suppressions,
        messages: held.messages,
        attempts: held.attempts,
        tracking_and_provider_events: held.reports,
        events: held.events,
      }
    })
    .delete('/recipients/:id', async ({ params, apiKey }) => {
      const lmsUserId = recipientId(params)
      const erasure = await db.transaction((tx) => eraseRecipient(tx, lmsUserId, deps.addressSecret))
      const answer = {
        erased: true as const,
        recipient_found: erasure.recipientFound,
        cancelled_messages: erasure.cancelled,
        opt_out_kept: erasure.optOutKept,
      }
      deps.log.info('recipient erased through the API', { key: apiKey?.name, found: answer.recipient_found, cancelled: answer.cancelled_messages })
      return answer
    })
}
