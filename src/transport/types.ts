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
}

/**
 * A failed send. `transient` failures (network, SMTP 4xx, throttling) are
 * retried with backoff; `permanent` ones (SMTP 5xx, a rejected address) go
 * to the dead-letter state at once.
 */
export class TransportError extends Error {
  constructor(
    readonly kind: 'transient' | 'permanent',
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
