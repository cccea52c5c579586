// POST /v1/adapters/{canvas,moodle,openedx}: an LMS's native events, as it
// sends them. Order as for /v1/events: size limit, authentication, parsing;
// a request refused at any of these stores nothing. Once stored, the answer
// is 202 (200 for a re-delivery) whatever the mapping made of it: the LMS
// has done its part, and the admin page says what became of the event.

import { Elysia } from 'elysia'
import { AppError } from '../errors.ts'
import { MAX_BODY_BYTES, parseJson, readBody } from '../events/routes.ts'
import { describeCanvas, readCanvasEvent } from './canvas.ts'
import { JwtError, looksLikeJwt, verifyJwt } from './jwt.ts'
import { NotNativeEvent, type AdapterName } from './model.ts'
import { describeMoodle, readMoodleEvent } from './moodle.ts'
import { describeOpenEdx, readOpenEdxEvent } from './openedx.ts'
import { tokenMatches, type AdapterPipeline, type AdapterSettings } from './pipeline.ts'

/** The token an LMS presents: `Authorization: Bearer`, `X-Belfry-Token`, or (Canvas's subscription takes only a URL) `?token=`. */
function presentedToken(request: Request): string | null {
  const bearer = /^Bearer\s+(.+)$/i.exec(request.headers.get('authorization') ?? '')?.[1]
  return bearer ?? request.headers.get('x-belfry-token') ?? new URL(request.url).searchParams.get('token')
}

function unauthorized(why: string): AppError {
  return new AppError('unauthorized', why)
}

function readable<T>(read: () => T): T {
  try {
    return read()
  } catch (error) {
    if (error instanceof NotNativeEvent) throw new AppError('invalid_event', error.message)
    throw error
  }
}

export function adapterRoutes(pipeline: AdapterPipeline) {
  const enabled = async (adapter: AdapterName): Promise<AdapterSettings> => {
    const settings = await pipeline.settings(adapter)
    if (!settings.enabled) throw new AppError('forbidden', `the ${adapter} adapter is turned off (admin → Adapters)`)
    return settings
  }

  return new Elysia({ name: 'adapters' })
    .post(
      '/v1/adapters/canvas',
      async ({ request, set }) => {
        const settings = await enabled('canvas')
        const raw = await readBody(request, MAX_BODY_BYTES)
        const text = new TextDecoder().decode(raw)
        let payload: unknown
        if (looksLikeJwt(text)) {
          if (!settings.jwksUrl) throw unauthorized('signed Canvas events need a JWKS URL in the adapter settings (or CANVAS_JWKS_URL)')
          try {
            payload = await verifyJwt(text, settings.jwksUrl, pipeline.jwks)
          } catch (error) {
            if (error instanceof JwtError) throw unauthorized(error.message)
            throw error
          }
        } else {
          // With a JWKS configured, only signed events count: an unsigned body could come from anyone.
          if (settings.jwksUrl) throw unauthorized('this Belfry takes signed Canvas events only (a JWKS URL is configured)')
          if (!tokenMatches(presentedToken(request), settings.inboundToken)) throw unauthorized('missing or wrong token')
          payload = parseJson(raw)
        }
        const event = readable(() => readCanvasEvent(payload))
        const answer = await pipeline.receive('canvas', describeCanvas(event), { metadata: event.metadata, body: event.body }, settings)
        set.status = answer.status
        return answer.body
      },
      { parse: 'none' },
    )
    .post(
      '/v1/adapters/moodle',
      async ({ request, set }) => {
        const settings = await enabled('moodle')
        const raw = await readBody(request, MAX_BODY_BYTES)
        const parsed = parseJson(raw)
        const body = (parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? parsed : {}) as Record<string, unknown>
        const inBody = typeof body.token === 'string' ? body.token : null
        if (!tokenMatches(presentedToken(request) ?? inBody, settings.inboundToken)) throw unauthorized('missing or wrong token')
        // The token is a secret: it is not stored with the event.
        const { token: _token, ...payload } = body
        const event = readable(() => readMoodleEvent(parsed === body ? payload : parsed))
        const answer = await pipeline.receive('moodle', describeMoodle(event), payload, settings)
        set.status = answer.status
        return answer.body
      },
      { parse: 'none' },
    )
    .post(
      '/v1/adapters/openedx',
      async ({ request, set }) => {
        const settings = await enabled('openedx')
        const raw = await readBody(request, MAX_BODY_BYTES)
        if (!tokenMatches(presentedToken(request), settings.inboundToken)) throw unauthorized('missing or wrong token')
        const payload = parseJson(raw)
        const event = readable(() => readOpenEdxEvent(payload, request.headers))
        const answer = await pipeline.receive('openedx', describeOpenEdx(event), payload, settings)
        set.status = answer.status
        return answer.body
      },
      { parse: 'none' },
    )
}
