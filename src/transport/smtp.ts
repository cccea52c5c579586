// SMTP through a nodemailer connection pool, configured from SMTP_URL
// (`smtp://user:pass@host:port`, STARTTLS when offered; `smtps://` for
// implicit TLS). Every failure leaves as a TransportError the outbox can act
// on: transient ones are retried with backoff, permanent ones dead-lettered.
//
// The password in the URL never leaves this module: it is scrubbed from every
// error message, and nodemailer's own logger stays off.

import nodemailer, { type NodemailerError, type SMTPPoolOptions } from 'nodemailer'
import { buildMessage } from './mime.ts'
import { TransportError, type OutgoingMail, type SendResult, type Transport } from './types.ts'

export interface SmtpTransportOptions {
  /** `smtp://user:pass@host:port` or `smtps://…`; nodemailer's query options (`?tls.rejectUnauthorized=false`) pass through. */
  url: string
  /** Messages the worker has in flight at once; the pool opens as many connections unless `maxConnections` says otherwise. */
  concurrency: number
  maxConnections?: number
  /** Refuse to send unless the server upgrades the connection with STARTTLS (SMTP_REQUIRE_TLS). */
  requireTLS?: boolean
  /** Never try STARTTLS, even when offered. */
  ignoreTLS?: boolean
  /** TCP connect plus the server's greeting. */
  connectionTimeoutMs?: number
  /** Silence on an open connection before it is given up. */
  socketTimeoutMs?: number
  /** The whole send, including a wait for a free pooled connection. */
  sendTimeoutMs?: number
}

// Every bound sits well under the default 60 s lease (LEASE_MS): a send must
// fail and be recorded by the process that holds the message before another
// process may take the message over and send it a second time.
const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000
const DEFAULT_SOCKET_TIMEOUT_MS = 20_000
const DEFAULT_SEND_TIMEOUT_MS = 40_000

// Network-level failures: the message was fine, the path to the server was not.
const NETWORK_CODES = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROTOCOL',
  'EPROXY',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])

export function createSmtpTransport(options: SmtpTransportOptions): Transport {
  const secrets = urlSecrets(options.url)
  if (options.requireTLS && options.ignoreTLS) {
    throw new Error('SMTP transport: requireTLS and ignoreTLS contradict each other')
  }
  const context: SmtpErrorContext = {
    secrets,
    connectionTimeoutMs: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
    socketTimeoutMs: options.socketTimeoutMs ?? DEFAULT_SOCKET_TIMEOUT_MS,
    sendTimeoutMs: options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
  }

  const poolOptions: SMTPPoolOptions & { pool: true } = {
    url: options.url,
    pool: true,
    // The worker never has more than `concurrency` sends in flight: more
    // connections would sit idle, fewer would queue sends inside nodemailer
    // while their lease runs.
    maxConnections: options.maxConnections ?? options.concurrency,
    // nodemailer's default, 100 messages, then a new connection: against a
    // local server that is a fresh TCP + EHLO every 100 sends per connection.
    // Servers that want fewer per connection close it, and the pool reconnects.
    maxMessages: 1000,
    // nodemailer silently resends a message whose connection dropped; the
    // outbox retries on its own and records each attempt, so allow one quiet
    // retry only, for a pooled connection the server closed while idle.
    maxRequeues: 1,
    // Since nodemailer 10.1 connectionTimeout covers DNS, TCP and the greeting together.
    connectionTimeout: context.connectionTimeoutMs,
    greetingTimeout: context.connectionTimeoutMs,
    dnsTimeout: context.connectionTimeoutMs,
    socketTimeout: context.socketTimeoutMs,
    logger: false,
    debug: false,
    ...(options.requireTLS !== undefined ? { requireTLS: options.requireTLS } : {}),
    ...(options.ignoreTLS !== undefined ? { ignoreTLS: options.ignoreTLS } : {}),
  }

  const pool = createPool(poolOptions, secrets)

  return {
    name: 'smtp',
    async send(mail: OutgoingMail): Promise<SendResult> {
      try {
        // A server that trickles its replies resets the socket timeout on
        // every byte; this deadline bounds the send as a whole.
        // Built here, sent as is: nodemailer only carries the bytes (see mime.ts for why).
        const message = buildMessage(mail)
        const info = await pool.sendMail({
          envelope: { from: message.from, to: [message.to] },
          raw: message.raw,
          signal: AbortSignal.timeout(context.sendTimeoutMs),
        })
        return { code: /^\d{3}/.exec(info.response)?.[0] ?? '250', response: info.response }
      } catch (error) {
        throw classifySmtpError(error, context)
      }
    },
    async close() {
      pool.close()
    },
  }
}

/** What classifySmtpError needs to explain a failure without the password. */
export interface SmtpErrorContext {
  secrets: readonly string[]
  connectionTimeoutMs: number
  socketTimeoutMs: number
  sendTimeoutMs: number
}

/**
 * Maps a nodemailer failure to what the outbox does next. The SMTP reply code
 * decides when there is one: 4xx transient, 5xx permanent. The exceptions are
 * replies about the session rather than the message — 503 (bad sequence of
 * commands) and any failure to log in — which say nothing about whether this
 * message can be delivered, and as permanent would dead-letter the whole
 * queue over a configuration problem. Without a reply, network failures and
 * anything unknown are transient; only a message nodemailer cannot address
 * at all is permanent.
 */
export function classifySmtpError(error: unknown, context: SmtpErrorContext): TransportError {
  const err = (error ?? {}) as NodemailerError
  const text = (message: string) => scrub(message, context.secrets)

  if (err.code === 'EABORT') {
    return new TransportError('transient', `SMTP send did not finish within ${context.sendTimeoutMs} ms`, 'ETIMEDOUT')
  }
  if (err.code === 'ETLS') {
    // The server refused or failed STARTTLS. With SMTP_REQUIRE_TLS that is a
    // setup problem on one side, not this message's: transient, so the queue
    // waits (and the health job alerts) rather than dead-lettering everything.
    const reply = err.response ? `: the server answered "${text(err.response)}"` : ''
    return new TransportError('transient', `the connection could not be upgraded to TLS (STARTTLS)${reply}; nothing was sent`, 'ETLS')
  }
  if (typeof err.responseCode === 'number') {
    const code = String(err.responseCode)
    // The server's reply as it sent it ("451 4.3.0 try later"): what the attempt log shows.
    const response = text(err.response ?? err.message ?? code)
    const sessionProblem = err.code === 'EAUTH' || err.responseCode === 503
    const permanent = err.responseCode >= 500 && err.responseCode < 600 && !sessionProblem
    return new TransportError(permanent ? 'permanent' : 'transient', response, code)
  }
  if (err.code === 'ETIMEDOUT') {
    return new TransportError('transient', timeoutMessage(err.timeoutType, context), 'ETIMEDOUT')
  }
  const code = err.originalCode ?? err.code
  const message = text(err.message || String(error))
  if (code === 'EENVELOPE') return new TransportError('permanent', message, code)
  if (code && NETWORK_CODES.has(code)) return new TransportError('transient', message, code)
  return new TransportError('transient', message, code ?? 'EUNKNOWN')
}

function timeoutMessage(type: NodemailerError['timeoutType'], context: SmtpErrorContext): string {
  switch (type) {
    case 'CONNECT_TIMEOUT':
      return `could not connect to the SMTP server within ${context.connectionTimeoutMs} ms`
    case 'GREETING_TIMEOUT':
      return `the SMTP server sent no greeting within ${context.connectionTimeoutMs} ms`
    case 'UPGRADE_TIMEOUT':
      return `STARTTLS with the SMTP server did not complete within ${context.connectionTimeoutMs} ms`
    default:
      return `the SMTP server did not answer within ${context.socketTimeoutMs} ms`
  }
}

function createPool(options: SMTPPoolOptions & { pool: true }, secrets: readonly string[]) {
  try {
    return nodemailer.createTransport(options)
  } catch (error) {
    throw new Error(`SMTP transport: ${scrub((error as Error).message, secrets)}`)
  }
}

/** The password as written in the URL and as decoded: either form could surface in a message. */
function urlSecrets(url: string): string[] {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    // Never echo the URL itself: it may hold the password.
    throw new Error('SMTP transport: SMTP_URL is not a valid URL')
  }
  if (parsed.protocol !== 'smtp:' && parsed.protocol !== 'smtps:') {
    throw new Error(`SMTP transport: expected an smtp:// or smtps:// URL, got "${parsed.protocol}"`)
  }
  const raw = parsed.password
  if (!raw) return []
  let decoded = raw
  try {
    decoded = decodeURIComponent(raw)
  } catch {}
  return [...new Set([raw, decoded])].sort((a, b) => b.length - a.length)
}

function scrub(message: string, secrets: readonly string[]): string {
  let out = message
  for (const secret of secrets) out = out.split(secret).join('***')
  return out
}
