// The OpenAPI 3.1 document for every /v1 route. Schemas are the `t`
// schemas the routes validate with (TypeBox schemas are JSON Schema), so
// the document cannot drift from what is checked; only the route list and
// its prose are written here.

import type { TSchema } from '@sinclair/typebox'
import { t } from 'elysia'
import { eventSchemas, eventTypes } from '../events/model.ts'
import { MAX_BODY_BYTES } from '../events/routes.ts'
import { BounceReport } from '../providers/feedback.ts'
import { SnsMessage } from '../providers/sns-signature.ts'
import { ErasureBody, ErrorBody, ExportBody, MessageBody, PreferencesUpdate, RecipientBody } from './model.ts'
import { MAX_API_BODY_BYTES } from './routes.ts'

/** A schema as plain JSON: TypeBox's symbol keys dropped, our `$id`s turned into component names. */
function plain(schema: TSchema): Record<string, unknown> {
  const { $id: _id, ...rest } = JSON.parse(JSON.stringify(schema)) as Record<string, unknown>
  return rest
}

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })
const json = (schema: unknown, description: string) => ({ description, content: { 'application/json': { schema } } })
const error = (description: string) => json(ref('Error'), description)

const recipientParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'the LMS user id (the `user.id` of webhook events), as text',
  schema: { type: 'string', maxLength: 255 },
}

const managed = {
  '401': error('no Authorization: Bearer <key>, or the key is unknown or revoked'),
  '429': { ...error('too many requests for this key or from this address'), headers: { 'Retry-After': { schema: { type: 'integer' }, description: 'seconds' } } },
}

export interface RouteDoc {
  method: string
  path: string
  summary: string
  /** A component name of the request body, when there is one. */
  body?: string
  auth: 'webhook' | 'bearer' | 'none'
}

export function openApiDocument(serverUrl: string) {
  const envelope = (type: string) =>
    t.Object({ type: t.Literal(type), data: eventSchemas[type as keyof typeof eventSchemas], occurred_at: t.Optional(t.String({ format: 'date-time' })) })
  const eventComponents = Object.fromEntries(eventTypes.map((type) => [`Event.${type}`, plain(envelope(type))]))

  return {
    openapi: '3.1.0',
    info: {
      title: 'Belfry',
      version: '1',
      description:
        'Signed LMS webhooks in (Standard Webhooks: webhook-id, webhook-timestamp, webhook-signature), and a management API behind API keys made in the admin settings.',
    },
    servers: [{ url: serverUrl }],
    components: {
      securitySchemes: {
        apiKey: { type: 'http', scheme: 'bearer', description: 'a key from Admin → Settings → API keys (bfk_…)' },
        webhookSignature: {
          type: 'apiKey',
          in: 'header',
          name: 'webhook-signature',
          description: 'v1,base64(HMAC-SHA256(secret, "{webhook-id}.{webhook-timestamp}.{raw body}")); with webhook-id and webhook-timestamp headers',
        },
      },
      schemas: {
        Error: plain(ErrorBody),
        Message: plain(MessageBody),
        Recipient: plain(RecipientBody),
        PreferencesUpdate: plain(PreferencesUpdate),
        Export: plain(ExportBody),
        Erasure: plain(ErasureBody),
        BounceReport: plain(BounceReport),
        SnsMessage: plain(SnsMessage),
        Event: { oneOf: eventTypes.map((type) => ref(`Event.${type}`)), discriminator: { propertyName: 'type' } },
        ...eventComponents,
      },
    },
    paths: {
      '/v1/events': {
        post: {
          summary: 'Receive a signed LMS event',
          security: [{ webhookSignature: [] }],
          parameters: ['webhook-id', 'webhook-timestamp'].map((name) => ({ name, in: 'header', required: true, schema: { type: 'string' } })),
          requestBody: { required: true, content: { 'application/json': { schema: ref('Event') } } },
          responses: {
            '202': json({ type: 'object', properties: { event_id: { type: 'string' }, messages: { type: 'integer' } } }, 'stored with its outbox rows'),
            '200': json({ type: 'object', properties: { event_id: { type: 'string' }, messages: { type: 'integer' } } }, 'the same webhook-id and body again: the first answer'),
            '400': error('not UTF-8 JSON'),
            '401': error('signature missing or wrong, or timestamp over 5 minutes off'),
            '409': error('the webhook-id was used for another body'),
            '413': error(`body over ${MAX_BODY_BYTES / 1024} KiB`),
            '422': error('unknown type, or data not matching its schema (details name each path)'),
            '429': managed['429'],
          },
        },
      },
      '/v1/messages/{id}': {
        get: {
          summary: 'A message: state, reason and every delivery attempt',
          security: [{ apiKey: [] }],
          parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }],
          responses: { '200': json(ref('Message'), 'the message'), '404': error('no such message'), ...managed },
        },
      },
      '/v1/recipients/{id}': {
        get: {
          summary: 'A recipient with their preferences, muted courses and suppression',
          security: [{ apiKey: [] }],
          parameters: [recipientParam],
          responses: { '200': json(ref('Recipient'), 'the recipient'), '404': error('no such recipient'), ...managed },
        },
        delete: {
          summary: 'Erase a person (GDPR Art. 17)',
          description:
            'Cancels every message to or about them that has not gone out, blanks addresses, names, template data and provider responses, removes them from stored events and deletes the recipient. When the address was suppressed or had unsubscribed from everything, an HMAC of it (keyed with APP_SECRET) stays on the suppression list so the opt-out survives. Idempotent.',
          security: [{ apiKey: [] }],
          parameters: [recipientParam],
          responses: { '200': json(ref('Erasure'), 'erased'), ...managed },
        },
      },
      '/v1/recipients/{id}/preferences': {
        put: {
          summary: "Change a recipient's preferences, as their own preference page would",
          security: [{ apiKey: [] }],
          parameters: [recipientParam],
          requestBody: { required: true, content: { 'application/json': { schema: ref('PreferencesUpdate') } } },
          responses: {
            '200': json(ref('Recipient'), 'the recipient after the change'),
            '400': error('not JSON, or not a PreferencesUpdate'),
            '404': error('no such recipient'),
            '413': error(`body over ${MAX_API_BODY_BYTES / 1024} KiB`),
            ...managed,
          },
        },
      },
      '/v1/recipients/{id}/export': {
        get: {
          summary: 'Everything held about a person, as JSON (GDPR Art. 15 and 20)',
          security: [{ apiKey: [] }],
          parameters: [recipientParam],
          responses: { '200': json(ref('Export'), 'the export (also offered as a download)'), '404': error('nothing is held about this person'), ...managed },
        },
      },
      '/v1/providers/ses/sns': {
        post: {
          summary: 'SES bounces, complaints and deliveries over SNS (signed by SNS; see README)',
          requestBody: { required: true, content: { 'application/json': { schema: ref('SnsMessage') } } },
          responses: { '200': { description: 'taken' }, '400': error('not an SNS message'), '403': error('topic not allowed or signature invalid'), '429': managed['429'] },
        },
      },
      '/v1/providers/bounces': {
        post: {
          summary: 'Bounces and complaints from other providers, signed like webhooks (see README)',
          security: [{ webhookSignature: [] }],
          requestBody: { required: true, content: { 'application/json': { schema: ref('BounceReport') } } },
          responses: {
            '202': { description: 'taken' },
            '200': { description: 'the same webhook-id and body again' },
            '401': error('signature missing or wrong'),
            '409': error('the webhook-id was used for another body'),
            '422': error('not a bounce report (details name each path)'),
            '429': managed['429'],
          },
        },
      },
      '/v1/openapi.json': { get: { summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1' } } } },
    },
  }
}

export type OpenApiDocument = ReturnType<typeof openApiDocument>
