// Protects which URLs Belfry will fetch for SNS (the allow-list is the only
// thing between a forged message and a request to any host) and the exact
// string SNS signs.

import { describe, expect, test } from 'bun:test'
import { checkFetchUrl, stringToSign, topicRegion, type SnsMessage } from '../../src/providers/sns-signature.ts'

const topic = 'arn:aws:sns:eu-west-1:123456789012:belfry'
const ok = (url: string, hosts: string[] | null = null) => checkFetchUrl(url, topic, hosts).ok

describe('checkFetchUrl without SNS_CERT_HOSTS', () => {
  test("accepts only AWS's SNS host for the topic's region, over https", () => {
    expect(ok('https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem')).toBe(true)
    expect(ok('https://SNS.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem')).toBe(true)
    expect(ok('https://sns.eu-west-1.amazonaws.com.cn/cert.pem')).toBe(true)
    expect(ok('http://sns.eu-west-1.amazonaws.com/cert.pem')).toBe(false)
    expect(ok('https://sns.us-east-1.amazonaws.com/cert.pem')).toBe(false)
    expect(ok('https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem')).toBe(false)
    expect(ok('https://evil.example/sns.eu-west-1.amazonaws.com/cert.pem')).toBe(false)
    expect(ok('https://sns.eu-west-1.amazonaws.com:8443/cert.pem')).toBe(false)
    expect(ok('https://user:pw@sns.eu-west-1.amazonaws.com/cert.pem')).toBe(false)
    expect(ok('file:///etc/passwd')).toBe(false)
    expect(ok('not a url')).toBe(false)
  })

  test('a TopicArn without a region allows nothing', () => {
    expect(checkFetchUrl('https://sns.eu-west-1.amazonaws.com/c.pem', 'belfry', null).ok).toBe(false)
    expect(topicRegion('arn:aws-cn:sns:cn-north-1:123456789012:t')).toBe('cn-north-1')
  })
})

describe('checkFetchUrl with SNS_CERT_HOSTS', () => {
  test('only listed hosts, port included; http only because the host is listed', () => {
    const hosts = ['127.0.0.1:8080', 'sns.internal.example']
    expect(ok('http://127.0.0.1:8080/c.pem', hosts)).toBe(true)
    expect(ok('https://sns.internal.example/c.pem', hosts)).toBe(true)
    expect(ok('http://127.0.0.1:8081/c.pem', hosts)).toBe(false)
    expect(ok('http://localhost:8080/c.pem', hosts)).toBe(false)
    expect(ok('https://sns.eu-west-1.amazonaws.com/c.pem', hosts)).toBe(false)
    expect(ok('ftp://127.0.0.1:8080/c.pem', hosts)).toBe(false)
  })
})

describe('stringToSign', () => {
  const common = { MessageId: 'm', TopicArn: topic, Message: 'hi', Timestamp: 't', SignatureVersion: '1', Signature: 's', SigningCertURL: 'u' }

  test('a notification covers Subject only when present', () => {
    const plain = { ...common, Type: 'Notification' } as SnsMessage
    expect(stringToSign(plain)).toBe(`Message\nhi\nMessageId\nm\nTimestamp\nt\nTopicArn\n${topic}\nType\nNotification\n`)
    expect(stringToSign({ ...plain, Subject: 'S' } as SnsMessage)).toContain('MessageId\nm\nSubject\nS\nTimestamp')
  })

  test('a subscription message covers SubscribeURL and Token', () => {
    const message = { ...common, Type: 'SubscriptionConfirmation', Token: 'k', SubscribeURL: 'https://x' } as SnsMessage
    expect(stringToSign(message)).toBe(
      `Message\nhi\nMessageId\nm\nSubscribeURL\nhttps://x\nTimestamp\nt\nToken\nk\nTopicArn\n${topic}\nType\nSubscriptionConfirmation\n`,
    )
  })
})
