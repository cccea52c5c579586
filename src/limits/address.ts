// The per-address limit on /v1: runs before routing, so a flood is turned
// away before a body is read, a signature checked or a key looked up.

import { Elysia } from 'elysia'
import { clientAddress } from '../admin/http.ts'
import { TokenBuckets, tooManyRequests, type Rate } from './token-bucket.ts'

/** Per client address, on every /v1 route (webhooks, providers and the management API), before anything else runs. */
export function addressLimit(rate: Rate | null) {
  const buckets = rate ? new TokenBuckets(rate) : null
  return new Elysia({ name: 'v1-address-limit' }).onRequest(({ request, server }) => {
    if (!buckets) return
    const path = new URL(request.url).pathname
    if (!path.startsWith('/v1/')) return
    const taken = buckets.take(clientAddress(server, request))
    if (!taken.ok) return tooManyRequests(taken.retryAfterSeconds, 'from this address')
  })
}
