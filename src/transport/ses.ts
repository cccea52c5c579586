// Amazon SES through the v2 API. The message goes as raw MIME (Content.Raw),
// built by the same code as the file and SMTP transports (mime.ts), so
// List-Unsubscribe, List-Unsubscribe-Post and our X- headers reach SES
// byte for byte. The Simple form would have SES compose the message and
// accept only the headers it allows there.
//
// SES itself replaces Message-ID and Date with its own (AWS documents this
// for every send): recipients see SES's Message-ID. Ours still goes in, so
// SES can return it in notifications that include the original headers, and
// SES's id is kept on the attempt (`MessageId …`) to match its events.
//
// Credentials come from the SDK's default chain (environment, shared config,
// instance or task role); none are configured here. Every failure leaves as a
// TransportError whose code is the SES error name, so the attempt log shows
// what SES said.

import { SESv2Client, SendEmailCommand, type SendEmailCommandInput } from '@aws-sdk/client-sesv2'
import { buildMessage } from './mime.ts'
import { TransportError, type OutgoingMail, type SendResult, type Transport } from './types.ts'

export interface SesTransportOptions {
  /** SES_REGION (or AWS_REGION). */
  region: string
  /** SES_ENDPOINT: an emulator or a VPC endpoint instead of the region's own. */
  endpoint?: string
  /** SES_CONFIGURATION_SET: where SES publishes delivery, bounce and complaint events. */
  configurationSet?: string
  /** The whole send, signing and the HTTP round trip included. */
  sendTimeoutMs?: number
  /** TCP (and TLS) connect to the endpoint. */
  connectionTimeoutMs?: number
}

// Both under the default 60 s lease (LEASE_MS), for the reason smtp.ts gives.
const DEFAULT_SEND_TIMEOUT_MS = 40_000
const DEFAULT_CONNECTION_TIMEOUT_MS = 10_000

// SendEmail's documented errors that are about this message or this request:
// sending it again unchanged would fail the same way.
const PERMANENT = new Set(['MessageRejected', 'MailFromDomainNotVerifiedException', 'BadRequestException', 'NotFoundException'])

// Errors from below the HTTP layer; the request may never have reached SES.
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'EPROTO',
])

export function createSesTransport(options: SesTransportOptions): Transport {
  const sendTimeoutMs = options.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS
  const client = new SESv2Client({
    region: options.region,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    // The outbox retries with its own backoff and records every attempt; SDK
    // retries inside one attempt would hide throttling from the attempt log
    // and spend the lease.
    maxAttempts: 1,
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? DEFAULT_CONNECTION_TIMEOUT_MS,
      requestTimeout: sendTimeoutMs,
      // Without it the handler only logs a warning when the time is up and keeps waiting.
      throwOnRequestTimeout: true,
    },
  })
  return {
    name: 'ses',
    async send(mail: OutgoingMail): Promise<SendResult> {
      // CRLF line ends, as SES expects of raw MIME; a header with a line break throws a permanent TransportError.
      const { raw } = buildMessage(mail)
      const input: SendEmailCommandInput = {
        // The To header may carry a display name in any script; SES wants the bare address for the envelope.
        Destination: { ToAddresses: [mail.to.address] },
        Content: { Raw: { Data: raw } },
        ...(options.configurationSet ? { ConfigurationSetName: options.configurationSet } : {}),
      }
      try {
        // requestTimeout bounds the HTTP exchange only; this deadline also covers finding credentials and signing.
        const output = await client.send(new SendEmailCommand(input), { abortSignal: AbortSignal.timeout(sendTimeoutMs) })
        return {
          code: String(output.$metadata.httpStatusCode ?? 200),
          response: `MessageId ${output.MessageId ?? ''}`.trim(),
          ...(output.MessageId ? { providerMessageId: output.MessageId } : {}),
        }
      } catch (error) {
        throw classifySesError(error, sendTimeoutMs)
      }
    },
    async close() {
      client.destroy()
    },
  }
}

interface SdkError {
  name?: string
  message?: string
  code?: string
  $metadata?: { httpStatusCode?: number }
  cause?: unknown
}

/**
 * Maps what the SDK throws to what the outbox does next. Named SES errors
 * decide first: a rejected message, an unverified MAIL FROM domain, a bad
 * request or a missing configuration set are dead on arrival; throttling,
 * quota and a paused or suspended account are not about the message and are
 * retried (a later step pauses the transport on the last two, by their
 * code). Without a known name the HTTP status decides: 429 and 5xx retry.
 * Anything else — network failures, timeouts, missing credentials, a 403 for
 * a bad signature — is transient too: a configuration problem must not
 * dead-letter the whole queue.
 */
export function classifySesError(error: unknown, sendTimeoutMs: number): TransportError {
  const err = (error ?? {}) as SdkError
  const name = err.name ?? ''
  const status = err.$metadata?.httpStatusCode
  const detail = err.message || String(error)

  if (name === 'AbortError') {
    return new TransportError('transient', `SES send did not finish within ${sendTimeoutMs} ms`, 'ETIMEDOUT')
  }
  if (typeof status === 'number') {
    // The SDK names an error it has no class for after the service's error type, or "Unknown" without one.
    const code = name && name !== 'Unknown' && name !== 'Error' ? name : String(status)
    const text = `SES answered ${status} ${code}: ${detail}`
    return new TransportError(PERMANENT.has(name) ? 'permanent' : 'transient', text, code)
  }
  // Checked before TimeoutError: the SDK's HTTP handler renames a reset connection to TimeoutError too.
  const network = networkCode(err)
  if (network) return new TransportError('transient', `SES request failed: ${detail}`, network)
  if (name === 'TimeoutError') return new TransportError('transient', `SES did not answer in time: ${detail}`, 'ETIMEDOUT')
  return new TransportError('transient', detail, name && name !== 'Error' ? name : 'EUNKNOWN')
}

/** The errno code, which the SDK's HTTP handler may leave on the error or on its cause. */
function networkCode(err: SdkError): string | undefined {
  for (let current: unknown = err, depth = 0; current && depth < 3; current = (current as SdkError).cause, depth++) {
    const code = (current as SdkError).code
    if (code && NETWORK_CODES.has(code)) return code
  }
  return undefined
}
