// Picks the transport MAIL_TRANSPORT names. The rest of the service sees
// only the Transport interface from types.ts.

import { ConfigError, type TransportName, type WeightedTransport } from '../config.ts'
import { createFileTransport, mailDirectory } from './file.ts'
import { createNullTransport } from './null.ts'
import { createSesTransport } from './ses.ts'
import { createSmtpTransport } from './smtp.ts'
import type { SendRateLimiter } from './rate-limit.ts'
import { TransportRouter } from './router.ts'
import type { Transport, TransportError } from './types.ts'

export { mailDirectory } from './file.ts'
export { SendRateLimiter } from './rate-limit.ts'
export { TransportRouter } from './router.ts'
export { TransportError, type Mailbox, type OutgoingMail, type SendResult, type Transport } from './types.ts'

export interface CreateTransportOptions {
  name: TransportName
  /** DATA_DIR; the file transport writes to DATA_DIR/mail/. */
  dataDir: string
  /** SMTP_URL; required for `smtp`. */
  smtpUrl?: string
  /** WORKER_CONCURRENCY: sizes the SMTP connection pool. */
  concurrency: number
  /** SMTP_REQUIRE_TLS. */
  smtpRequireTLS?: boolean
  /** SES_REGION (or AWS_REGION); required for `ses`. */
  sesRegion?: string
  /** SES_ENDPOINT, e.g. an emulator. */
  sesEndpoint?: string
  /** SES_CONFIGURATION_SET. */
  sesConfigurationSet?: string
  /** Upper bound for one send; must stay under LEASE_MS so a slow send ends before its lease does. */
  sendTimeoutMs?: number
}

export function createTransport(options: CreateTransportOptions): Transport {
  switch (options.name) {
    case 'file':
      return createFileTransport({ dir: mailDirectory(options.dataDir) })
    case 'null':
      return createNullTransport()
    case 'smtp':
      if (!options.smtpUrl) throw new ConfigError('SMTP_URL', 'is required when smtp is one of the transports')
      return createSmtpTransport({
        url: options.smtpUrl,
        concurrency: options.concurrency,
        ...(options.sendTimeoutMs !== undefined ? { sendTimeoutMs: options.sendTimeoutMs } : {}),
        ...(options.smtpRequireTLS !== undefined ? { requireTLS: options.smtpRequireTLS } : {}),
      })
    case 'ses':
      if (!options.sesRegion) throw new ConfigError('SES_REGION', 'is required when ses is one of the transports (or set AWS_REGION)')
      return createSesTransport({
        region: options.sesRegion,
        ...(options.sesEndpoint ? { endpoint: options.sesEndpoint } : {}),
        ...(options.sesConfigurationSet ? { configurationSet: options.sesConfigurationSet } : {}),
        ...(options.sendTimeoutMs !== undefined ? { sendTimeoutMs: options.sendTimeoutMs } : {}),
      })
  }
}

export interface CreateRouterOptions extends Omit<CreateTransportOptions, 'name'> {
  split: readonly WeightedTransport[]
  fallback?: TransportName | undefined
  breaker: { failures: number; coolDownMs: number }
  pauseMs: number
  limiter?: SendRateLimiter
  onPause?(transport: string, error: TransportError): void
}

/** Every transport the split and the fallback name, each built once, behind one router. */
export function createRouter(options: CreateRouterOptions): TransportRouter {
  const { split, fallback, breaker, pauseMs, limiter, onPause, ...shared } = options
  const names = new Set<TransportName>([...split.map((s) => s.name), ...(fallback ? [fallback] : [])])
  const transports = new Map([...names].map((name) => [name, createTransport({ ...shared, name })] as const))
  return new TransportRouter({
    transports,
    split,
    fallback,
    breaker,
    pauseMs,
    ...(limiter ? { limiter } : {}),
    ...(onPause ? { onPause } : {}),
  })
}
