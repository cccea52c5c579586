// The two requests Belfry makes to SNS: fetching a signing certificate and
// confirming a subscription. Callers check the URL against the allow-list
// first (sns-signature.ts checkFetchUrl); here redirects are refused, so an
// allowed host cannot bounce us on to one that is not.

import type { X509Certificate } from 'node:crypto'
import { parseCertificate } from './sns-signature.ts'

const TIMEOUT_MS = 5000
const MAX_CERT_BYTES = 64 * 1024

export class FetchFailed extends Error {}

async function get(url: URL, fetcher: typeof fetch): Promise<Response> {
  let response: Response
  try {
    response = await fetcher(url, { redirect: 'manual', signal: AbortSignal.timeout(TIMEOUT_MS) })
  } catch (error) {
    throw new FetchFailed(`GET ${url.host} failed: ${(error as Error).name}`)
  }
  if (response.status !== 200) {
    await response.body?.cancel()
    throw new FetchFailed(`GET ${url.host} answered ${response.status}`)
  }
  return response
}

/**
 * Signing certificates by URL. SNS puts a new certificate at a new URL, so
 * an entry never goes stale; the size bound only keeps a flood of distinct
 * (allowed) URLs from growing memory. A failed fetch is not kept, so the
 * next message tries again.
 */
export class CertificateCache {
  private readonly entries = new Map<string, Promise<X509Certificate>>()

  constructor(
    private readonly fetcher: typeof fetch = fetch,
    private readonly maxEntries = 32,
  ) {}

  get(url: URL): Promise<X509Certificate> {
    const key = url.toString()
    const cached = this.entries.get(key)
    if (cached) return cached
    const loading = this.load(url)
    this.entries.set(key, loading)
    loading.catch(() => this.entries.delete(key))
    if (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value
      if (oldest !== undefined) this.entries.delete(oldest)
    }
    return loading
  }

  private async load(url: URL): Promise<X509Certificate> {
    const response = await get(url, this.fetcher)
    const body = await response.arrayBuffer()
    if (body.byteLength > MAX_CERT_BYTES) throw new FetchFailed(`the certificate at ${url.host} is over ${MAX_CERT_BYTES} bytes`)
    const certificate = parseCertificate(new TextDecoder().decode(body))
    if (!certificate) throw new FetchFailed(`${url.host} did not answer with a PEM certificate`)
    return certificate
  }
}

/** GETs a SubscribeURL; SNS treats the subscription as confirmed once it answers 200. */
export async function confirmSubscription(url: URL, fetcher: typeof fetch = fetch): Promise<void> {
  const response = await get(url, fetcher)
  await response.body?.cancel()
}
