// The HTTP surface: each module's Elysia instance, composed, with one error
// renderer. Handlers throw AppError; this turns it into a JSON answer.

import { Elysia } from 'elysia'
import { apiDocsRoutes } from './api/docs.tsx'
import { apiRoutes, type ApiRoutesDeps } from './api/routes.ts'
import { addressLimit } from './limits/address.ts'
import type { Rate } from './limits/token-bucket.ts'
import { adapterAdminRoutes } from './admin/adapters.tsx'
import { adminRoutes, type AdminDeps } from './admin/index.ts'
import type { AdapterPipeline } from './adapters/pipeline.ts'
import { adapterRoutes } from './adapters/routes.ts'
import { assetRoutes, loadAssets } from './assets/routes.ts'
import { isDatabaseUnavailable, type Database } from './db/client.ts'
import { AppError } from './errors.ts'
import { eventRoutes, type EventRoutesDeps } from './events/routes.ts'
import { healthRoutes } from './health/routes.ts'
import type { Logger } from './log.ts'
import { metricsRoutes, type MetricsRoutesDeps } from './metrics/routes.ts'
import { preferenceRoutes, type PreferenceRoutesDeps } from './preferences/routes.ts'
import { providerRoutes, type ProviderRoutesDeps } from './providers/routes.ts'
import { trackingRoutes, type TrackingRoutesDeps } from './tracking/routes.ts'

export interface AppDeps {
  database: Database
  events: EventRoutesDeps
  /** Bounces and complaints from SES (over SNS) and other providers. */
  providers: ProviderRoutesDeps
  /** The learner pages; their CSS and htmx URLs come from the assets loaded here. */
  preferences: Omit<PreferenceRoutesDeps, 'assets'>
  admin: Omit<AdminDeps, 'assets'>
  metrics: MetricsRoutesDeps
  /** The open pixel and tracked links in emails. */
  tracking: TrackingRoutesDeps
  /** Native LMS events in (POST /v1/adapters/…), and their admin page. */
  adapters: AdapterPipeline
  /** The management API (API keys), its OpenAPI document, and the per-address limit on /v1. */
  api: ApiRoutesDeps & { publicUrl: string; perAddress: Rate | null }
  log: Logger
}

/** One JSON answer for every error, whichever app raised it. */
function errors(log: Logger) {
  return new Elysia().onError({ as: 'global' }, ({ error, code, set, request }) => {
    if (error instanceof AppError) {
      set.status = error.status
      return error.toJSON()
    }
    if (code === 'NOT_FOUND') {
      set.status = 404
      return new AppError('not_found', 'no such route').toJSON()
    }
    if (code === 'VALIDATION' || code === 'PARSE') {
      set.status = 400
      return new AppError('bad_request', 'the request could not be read').toJSON()
    }
    if (isDatabaseUnavailable(error)) {
      // Nothing was stored; an LMS retries a 503, and Retry-After says when.
      log.warn('database unavailable', { method: request.method, path: new URL(request.url).pathname, error })
      set.status = 503
      set.headers['retry-after'] = '5'
      return new AppError('not_ready', 'the database is unavailable right now; nothing was stored, try again shortly').toJSON()
    }
    log.error('request failed', { method: request.method, path: new URL(request.url).pathname, error })
    set.status = 500
    return new AppError('internal', 'something went wrong on our side; the request was not stored').toJSON()
  })
}

/**
 * What a ROLE=worker process serves on PORT: liveness, readiness and its own
 * metrics (send latency, transport errors), for an orchestrator and
 * Prometheus. No webhooks and no pages: those are the API processes' job.
 */
export function createOpsApp(deps: Pick<AppDeps, 'database' | 'metrics' | 'log'>) {
  return new Elysia().use(errors(deps.log)).use(healthRoutes(deps.database)).use(metricsRoutes(deps.metrics))
}

export function createApp(deps: AppDeps) {
  const assets = loadAssets()
  return new Elysia()
    .use(errors(deps.log))
    .get('/robots.txt', () => new Response(Bun.file(new URL('../public/robots.txt', import.meta.url)), {
      headers: { 'content-type': 'text/plain; charset=utf-8' },
    }))
    .use(addressLimit(deps.api.perAddress))
    .use(healthRoutes(deps.database))
    .use(metricsRoutes(deps.metrics))
    .use(eventRoutes(deps.events))
    .use(apiRoutes(deps.api))
    .use(apiDocsRoutes(deps.api.publicUrl))
    .use(adapterRoutes(deps.adapters))
    .use(providerRoutes(deps.providers))
    .use(assetRoutes(assets))
    .use(trackingRoutes(deps.tracking))
    .use(preferenceRoutes({ ...deps.preferences, assets: { css: assets.css.url, htmx: assets.htmx.url } }))
    .use(adminRoutes({ ...deps.admin, assets: { css: assets.css.url, htmx: assets.htmx.url, adminCss: assets.adminCss.url } }))
    .use(adapterAdminRoutes({ ...deps.admin, assets: { css: assets.css.url, htmx: assets.htmx.url, adminCss: assets.adminCss.url } }, deps.adapters))
}

export type App = ReturnType<typeof createApp>
