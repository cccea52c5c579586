// A stand-in for Amazon SNS in tests: a fresh RSA key and a self-signed
// X.509 certificate (openssl, made at test time), a local HTTP server that
// serves the certificate and plays the SubscribeURL while counting every
// request, and a signer that builds SNS's string-to-sign on its own (not
// with src/providers), so the verifier is checked against a second reading
// of the spec.
//
// SNS_CERT_HOSTS must name `sns.host` for the service to accept the
// certificate over plain http; see README "Bounces and complaints".

import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:belfry-feedback'

export interface SnsStandIn {
  /** `127.0.0.1:<port>`: what SNS_CERT_HOSTS lists. */
  host: string
  certUrl: string
  subscribeUrl(token: string): string
  /** Requests received, by path. */
  hits: Map<string, number>
  hitsOn(path: string): number
  privateKey: KeyObject
  close(): void
}

function makeCertificate(dir: string, privateKey: KeyObject): string {
  const keyFile = join(dir, 'key.pem')
  const certFile = join(dir, 'cert.pem')
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }))
  const result = Bun.spawnSync([
    'openssl', 'req', '-x509', '-new', '-key', keyFile, '-out', certFile,
    '-days', '2', '-subj', '/CN=sns.belfry.test', '-sha256',
  ])
  if (result.exitCode !== 0) throw new Error(`openssl failed: ${result.stderr.toString()}`)
  return readFileSync(certFile, 'utf8')
}

export function startSnsStandIn(): SnsStandIn {
  const dir = mkdtempSync(join(tmpdir(), 'belfry-sns-'))
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const pem = makeCertificate(dir, privateKey)
  rmSync(dir, { recursive: true, force: true })
  const hits = new Map<string, number>()
  const server = Bun.serve({
    hostname: '127.0.0.1',
    port: 0,
    fetch(request) {
      const path = new URL(request.url).pathname
      hits.set(path, (hits.get(path) ?? 0) + 1)
      if (path === '/SimpleNotificationService-test.pem') return new Response(pem)
      if (path === '/confirm') return new Response('<ConfirmSubscriptionResponse/>', { headers: { 'content-type': 'text/xml' } })
      return new Response('not found', { status: 404 })
    },
  })
  const host = `127.0.0.1:${server.port}`
  return {
    host,
    certUrl: `http://${host}/SimpleNotificationService-test.pem`,
    subscribeUrl: (token) => `http://${host}/confirm?Action=ConfirmSubscription&TopicArn=${encodeURIComponent(TOPIC_ARN)}&Token=${token}`,
    hits,
    hitsOn: (path) => hits.get(path) ?? 0,
    privateKey,
    close: () => void server.stop(true),
  }
}

type Fields = Record<string, string>

/** SNS signs `key\nvalue\n` for these keys, alphabetically, skipping ones the message does not have. */
const SIGNED_KEYS: Record<string, string[]> = {
  Notification: ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type'],
  SubscriptionConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
  UnsubscribeConfirmation: ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'],
}

export function signSns(fields: Fields, privateKey: KeyObject, version: '1' | '2' = '1'): string {
  let text = ''
  for (const key of SIGNED_KEYS[fields.Type!]!) if (key in fields) text += `${key}\n${fields[key]}\n`
  return sign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256', Buffer.from(text), privateKey).toString('base64')
}

export interface SnsOptions {
  messageId?: string
  topicArn?: string
  certUrl?: string
  subject?: string
  version?: '1' | '2'
  /** Sign with this key instead of the stand-in's. */
  key?: KeyObject
  /** Change the body after signing. */
  tamper?: (fields: Fields) => void
  /** When SNS signed it; now by default. */
  timestamp?: string
}

/** An SNS HTTP POST as SNS sends it: text/plain JSON and its message-type header. */
export function snsRequest(sns: SnsStandIn, fields: Fields, options: SnsOptions = {}): Request {
  const full: Fields = {
    MessageId: options.messageId ?? randomUUID(),
    TopicArn: options.topicArn ?? TOPIC_ARN,
    Timestamp: options.timestamp ?? new Date().toISOString(),
    SignatureVersion: options.version ?? '1',
    SigningCertURL: options.certUrl ?? sns.certUrl,
    ...(options.subject ? { Subject: options.subject } : {}),
    ...fields,
  }
  // Real deliveries carry fields the signature does not cover; they must not get in the way.
  if (full.Type === 'Notification') full.UnsubscribeURL = `${sns.certUrl.replace(/\/[^/]*$/, '')}/unsubscribe?SubscriptionArn=${TOPIC_ARN}:1`
  full.Signature = signSns(full, options.key ?? sns.privateKey, options.version ?? '1')
  options.tamper?.(full)
  return new Request('http://belfry.test/v1/providers/ses/sns', {
    method: 'POST',
    headers: { 'content-type': 'text/plain; charset=UTF-8', 'x-amz-sns-message-type': full.Type!, 'x-amz-sns-message-id': full.MessageId! },
    body: JSON.stringify(full),
  })
}

export function notification(sns: SnsStandIn, ses: unknown, options: SnsOptions = {}): Request {
  return snsRequest(sns, { Type: 'Notification', Message: JSON.stringify(ses) }, options)
}

export function subscriptionConfirmation(sns: SnsStandIn, options: SnsOptions & { subscribeUrl?: string } = {}): Request {
  const token = randomUUID().replaceAll('-', '')
  return snsRequest(
    sns,
    {
      Type: 'SubscriptionConfirmation',
      Token: token,
      Message: `You have chosen to subscribe to the topic ${TOPIC_ARN}.`,
      SubscribeURL: options.subscribeUrl ?? sns.subscribeUrl(token),
    },
    options,
  )
}

/** An SES bounce in the classic notification form. */
export function sesBounce(
  email: string,
  options: { bounceType?: string; subType?: string; sesMessageId?: string; belfryMessageId?: string; diagnostic?: string } = {},
) {
  return {
    notificationType: 'Bounce',
    bounce: {
      bounceType: options.bounceType ?? 'Permanent',
      bounceSubType: options.subType ?? 'General',
      bouncedRecipients: [
        { emailAddress: email, action: 'failed', status: '5.1.1', diagnosticCode: options.diagnostic ?? 'smtp; 550 5.1.1 user unknown' },
      ],
      timestamp: '2026-12-04T10:00:01.000Z',
      feedbackId: '0100018c-feedback',
      reportingMTA: 'dsn; a8-70.smtp-out.amazonses.com',
      remoteMtaIp: '203.0.113.9',
    },
    mail: {
      timestamp: '2026-12-04T10:00:00.000Z',
      source: 'notify@belfry.test',
      messageId: options.sesMessageId ?? `0100018c-${randomUUID()}-000000`,
      destination: [email],
      headersTruncated: false,
      headers: options.belfryMessageId ? [{ name: 'X-Belfry-Message', value: options.belfryMessageId }] : [],
    },
  }
}

/** An SES complaint in event publishing's form. */
export function sesComplaint(email: string, sesMessageId = `0100018c-${randomUUID()}-000000`) {
  return {
    eventType: 'Complaint',
    complaint: {
      complainedRecipients: [{ emailAddress: email }],
      timestamp: '2026-12-04T11:00:00.000Z',
      feedbackId: '0100018c-complaint',
      userAgent: 'Yahoo!-Mail-Feedback/2.0',
      complaintFeedbackType: 'abuse',
      arrivalDate: '2026-12-04T10:59:00.000Z',
    },
    mail: { timestamp: '2026-12-04T10:00:00.000Z', messageId: sesMessageId, destination: [email] },
  }
}
