// Amazon SNS message authentication, with no I/O: which URLs we may fetch,
// the string SNS signs, and checking a signature against a certificate.
// SNS signs a newline-joined list of selected fields (the set differs for
// notifications and for subscription messages) with the private key of the
// certificate its SigningCertURL points at. Anyone can post a message naming
// any URL, so the URL's host decides whether we fetch it at all.

import { verify, X509Certificate } from 'node:crypto'
import type { Static } from '@sinclair/typebox'
import { TypeCompiler } from '@sinclair/typebox/compiler'
import { t } from 'elysia'

const Field = (maxLength: number) => t.String({ minLength: 1, maxLength })

const Common = {
  MessageId: Field(200),
  TopicArn: Field(300),
  Message: t.String({ maxLength: 512 * 1024 }),
  Timestamp: Field(64),
  // Optional here so that a message without them is refused as unsigned (403), not as malformed (400).
  SignatureVersion: t.Optional(t.String({ maxLength: 8 })),
  Signature: t.Optional(t.String({ maxLength: 4096 })),
  SigningCertURL: t.Optional(t.String({ maxLength: 2048 })),
}

export const SnsMessage = t.Union([
  t.Object({ ...Common, Type: t.Literal('Notification'), Subject: t.Optional(t.String({ maxLength: 1000 })) }),
  t.Object({
    ...Common,
    Type: t.Union([t.Literal('SubscriptionConfirmation'), t.Literal('UnsubscribeConfirmation')]),
    Token: Field(2048),
    SubscribeURL: Field(2048),
  }),
])
export type SnsMessage = Static<typeof SnsMessage>

const snsCheck = TypeCompiler.Compile(SnsMessage)

export function isSnsMessage(value: unknown): value is SnsMessage {
  return snsCheck.Check(value)
}

/** The exact bytes SNS signed: `name\nvalue\n` for each field it covers, in this order. */
export function stringToSign(message: SnsMessage): string {
  const fields: [string, string | undefined][] =
    message.Type === 'Notification'
      ? [
          ['Message', message.Message],
          ['MessageId', message.MessageId],
          // Subject is covered only when the publisher set one.
          ['Subject', message.Subject],
          ['Timestamp', message.Timestamp],
          ['TopicArn', message.TopicArn],
          ['Type', message.Type],
        ]
      : [
          ['Message', message.Message],
          ['MessageId', message.MessageId],
          ['SubscribeURL', message.SubscribeURL],
          ['Timestamp', message.Timestamp],
          ['Token', message.Token],
          ['TopicArn', message.TopicArn],
          ['Type', message.Type],
        ]
  return fields
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => `${name}\n${value}\n`)
    .join('')
}

/** `arn:aws:sns:eu-west-1:123456789012:belfry` → `eu-west-1`. */
export function topicRegion(topicArn: string): string | undefined {
  return /^arn:aws[a-z-]*:sns:([a-z0-9-]+):\d+:[\w-]+(\.fifo)?$/.exec(topicArn)?.[1]
}

export type UrlVerdict = { ok: true; url: URL } | { ok: false; reason: string }

/**
 * May we fetch `raw` (a SigningCertURL or a SubscribeURL) for a message on
 * `topicArn`? With `allowedHosts` null only AWS's own SNS host for the
 * topic's region qualifies, over https. An explicit SNS_CERT_HOSTS list
 * names hosts (with their port when not the scheme's default) and is the
 * only way a plain http URL is accepted: for a local stand-in in tests or
 * behind a proxy that the operator vouches for by naming it.
 */
export function checkFetchUrl(raw: string, topicArn: string, allowedHosts: readonly string[] | null): UrlVerdict {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'is not a URL' }
  }
  if (url.username || url.password) return { ok: false, reason: 'carries credentials' }
  const host = url.host.toLowerCase()
  if (allowedHosts === null) {
    if (url.protocol !== 'https:') return { ok: false, reason: 'is not https' }
    const region = topicRegion(topicArn)
    if (!region) return { ok: false, reason: 'cannot be checked: the TopicArn names no region' }
    if (host !== `sns.${region}.amazonaws.com` && host !== `sns.${region}.amazonaws.com.cn`) {
      return { ok: false, reason: `is on host ${host}, not the topic region's SNS host` }
    }
    return { ok: true, url }
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'is not https' }
  if (!allowedHosts.some((allowed) => allowed.toLowerCase() === host)) {
    return { ok: false, reason: `is on host ${host}, which SNS_CERT_HOSTS does not list` }
  }
  return { ok: true, url }
}

export type SignatureVerdict = { ok: true } | { ok: false; reason: string }

const HASHES: Record<string, string> = { '1': 'sha1', '2': 'sha256' }

/** The digest a SignatureVersion names; undefined for one we do not support. */
export function signatureHash(version: string | undefined): string | undefined {
  return version !== undefined && Object.hasOwn(HASHES, version) ? HASHES[version] : undefined
}

/** Checks `message`'s signature with the certificate's public key; the certificate must be valid now. */
export function verifySnsSignature(message: SnsMessage, certificate: X509Certificate, now = new Date()): SignatureVerdict {
  if (!message.Signature) return { ok: false, reason: 'the message has no Signature' }
  const hash = signatureHash(message.SignatureVersion)
  if (!hash) return { ok: false, reason: `SignatureVersion ${message.SignatureVersion ?? '(missing)'} is not supported (1 or 2)` }
  if (now < new Date(certificate.validFrom) || now > new Date(certificate.validTo)) {
    return { ok: false, reason: 'the signing certificate is not valid at this time' }
  }
  const signature = Buffer.from(message.Signature, 'base64')
  if (signature.length === 0) return { ok: false, reason: 'Signature is not base64' }
  let valid = false
  try {
    valid = verify(hash, Buffer.from(stringToSign(message), 'utf8'), certificate.publicKey, signature)
  } catch {
    valid = false
  }
  return valid ? { ok: true } : { ok: false, reason: 'the signature does not match the message' }
}

/** A PEM certificate as fetched; undefined when it is not one. */
export function parseCertificate(pem: string): X509Certificate | undefined {
  try {
    return new X509Certificate(pem)
  } catch {
    return undefined
  }
}
