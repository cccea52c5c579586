// GET /metrics for Prometheus. With METRICS_TOKEN set a scraper must send
// it as a bearer token; without, the endpoint is open (service.ts says so
// in the log at start), for deployments that keep the port private.

import { createHash, timingSafeEqual } from 'node:crypto'
import { Elysia } from 'elysia'
import { AppError } from '../errors.ts'
import type { Metrics } from './registry.ts'

export interface MetricsRoutesDeps {
  metrics: Metrics
  token: string | undefined
}

/** Digests first, so the comparison takes the same time whatever the lengths. */
function sameSecret(given: string, expected: string): boolean {
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(given), digest(expected))
}

export function bearerToken(header: string | null): string | null {
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header ?? '')
  return match?.[1] ?? null
}

function unauthorized(): Response {
  return new Response(JSON.stringify(new AppError('unauthorized', 'a valid bearer token is required').toJSON()), {
    status: 401,
    headers: { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="metrics"' },
  })
}

export function metricsRoutes(deps: MetricsRoutesDeps) {
  return new Elysia({ name: 'metrics' }).get('/metrics', async ({ request }) => {
    if (deps.token !== undefined) {
      const given = bearerToken(request.headers.get('authorization'))
      if (given === null || !sameSecret(given, deps.token)) return unauthorized()
    }
    return new Response(await deps.metrics.render(), {
      headers: { 'content-type': deps.metrics.contentType, 'cache-control': 'no-store' },
    })
  })
}
