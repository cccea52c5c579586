// The one small interface every mail transport implements. The outbox
// worker knows only this; `file`, `smtp` and `ses` live behind it.

export interface Mailbox {
  address: string
  name?: string | null
}

export interface OutgoingMail {
  /** RFC 5322 Message-ID including the angle brackets; the same on every retry of one outbox row. */
  messageId: string
  /** `Name <address>` or a bare address (MAIL_FROM). */
  from: string
  to: Mailbox
  subject: string
  html: string
  text: string
  /** Extra headers, e.g. List-Unsubscribe. */
  headers?: Record<string, string>
}

export interface SendResult {
  /** Provider's status code, e.g. "250" for SMTP. */
  code: string
  /** Provider's response text, kept on the delivery attempt. */
  response: string
  /** The provider's id for the message (SES MessageId), which its later bounce and delivery reports name. */
  providerMessageId?: string
  /** Which transport took it, when a router chose among several. */
  transport?: string
}

/**
 * A failed send. `transient` failures (network, SMTP 4xx, throttling) are
 * retried with backoff; `permanent` ones (SMTP 5xx, a rejected address) go
 * to the dead-letter state at once. `paused`: no transport would take mail
 * at all (the provider paused our account, every circuit is open), so the
 * message waits without using up one of its attempts.
 */
export class TransportError extends Error {
  /** Which transport failed, when a router chose among several. */
  transport?: string
  /** For `paused`: when a transport may take mail again. */
  retryAt?: Date

  constructor(
    readonly kind: 'transient' | 'permanent' | 'paused',
    message: string,
    readonly code?: string,
  ) {
    super(message)
    this.name = 'TransportError'
  }
}

export interface Transport {
  readonly name: string
  send(mail: OutgoingMail): Promise<SendResult>
  close(): Promise<void>
}
