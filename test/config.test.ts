// Protects: a bad environment stops the start with a message naming the
// variable; defaults match DESIGN.md.

import { describe, expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../src/config.ts'

function failure(env: Record<string, string>): string {
  try {
    loadConfig(env)
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return (error as Error).message
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig', () => {
  test('defaults match the design', () => {
    const config = loadConfig({})
    expect(config.port).toBe(3000)
    expect(config.publicUrl).toBe('http://localhost:3000')
    expect(config.mailTransport).toBe('file')
    expect(config.mailFrom).toBe('Belfry <no-reply@localhost>')
    expect(config.workerConcurrency).toBe(16)
    expect([config.maxAttempts, config.retryBaseMs, config.retryMaxMs, config.leaseMs]).toEqual([8, 30000, 3600000, 60000])
    expect(config.reminderOffsets).toEqual([48 * 3_600_000, 2 * 3_600_000])
    expect(config.sessionReminderOffsets).toEqual([24 * 3_600_000, 15 * 60_000])
    expect(config.quietHours).toEqual({ start: 21 * 60, end: 8 * 60 })
    expect(loadConfig({ QUIET_HOURS: 'off' }).quietHours).toBeNull()
    expect(Object.isFrozen(config)).toBe(true)
  })

  test('each bad value names its variable', () => {
    expect(failure({ PORT: 'eighty' })).toStartWith('PORT:')
    expect(failure({ MAIL_TRANSPORT: 'carrier-pigeon' })).toStartWith('MAIL_TRANSPORT:')
    expect(failure({ MAIL_TRANSPORT: 'smtp' })).toStartWith('SMTP_URL:')
    expect(failure({ SMTP_URL: 'http://mail' })).toStartWith('SMTP_URL:')
    expect(failure({ DATABASE_URL: 'mysql://x' })).toStartWith('DATABASE_URL:')
    expect(failure({ WEBHOOK_SECRET: 'short' })).toStartWith('WEBHOOK_SECRET:')
    expect(failure({ ADMIN_EMAIL: 'not-an-address' })).toStartWith('ADMIN_EMAIL:')
    expect(failure({ WORKER_CONCURRENCY: '0' })).toStartWith('WORKER_CONCURRENCY:')
    expect(failure({ RETRY_BASE_MS: '5000', RETRY_MAX_MS: '1000' })).toStartWith('RETRY_MAX_MS:')
    expect(failure({ REMINDER_OFFSETS: '2 days' })).toStartWith('REMINDER_OFFSETS:')
    expect(failure({ ROLE: 'boss' })).toStartWith('ROLE:')
    expect(failure({ SMTP_REQUIRE_TLS: 'yes' })).toStartWith('SMTP_REQUIRE_TLS:')
    expect(failure({ QUIET_HOURS: '9pm-8am' })).toStartWith('QUIET_HOURS:')
    expect(failure({ QUIET_HOURS: '08:00-08:00' })).toStartWith('QUIET_HOURS:')
    expect(failure({ MAIL_TRANSPORT: 'ses' })).toBe('SES_REGION: is required when ses is one of the transports (or set AWS_REGION)')
    expect(failure({ MAIL_TRANSPORTS: 'ses:3,smtp:1', SES_REGION: 'eu-west-1' })).toStartWith('SMTP_URL:')
    expect(failure({ MAIL_FALLBACK: 'ses' })).toStartWith('SES_REGION:')
    expect(failure({ MAIL_TRANSPORTS: 'ses:3,postfix:1' })).toStartWith('MAIL_TRANSPORTS:')
    expect(failure({ MAIL_TRANSPORTS: 'file:0' })).toStartWith('MAIL_TRANSPORTS:')
    expect(failure({ MAIL_TRANSPORTS: 'file,file' })).toStartWith('MAIL_TRANSPORTS:')
    expect(failure({ MAIL_FALLBACK: 'pigeon' })).toStartWith('MAIL_FALLBACK:')
    expect(failure({ SMTP_MAX_PER_SECOND: '0' })).toStartWith('SMTP_MAX_PER_SECOND:')
    expect(failure({ SES_MAX_PER_SECOND: 'fast' })).toStartWith('SES_MAX_PER_SECOND:')
    expect(failure({ MAIL_TRANSPORT: 'ses', SES_REGION: 'EU West 1' })).toStartWith('SES_REGION:')
    expect(failure({ MAIL_TRANSPORT: 'ses', AWS_REGION: 'eu_west_1' })).toStartWith('AWS_REGION:')
    expect(failure({ SES_ENDPOINT: 'localhost:8005' })).toStartWith('SES_ENDPOINT:')
  })

  test('a weighted split, a fallback and per-transport rates; without them, MAIL_TRANSPORT alone and no limit', () => {
    const plain = loadConfig({ MAIL_TRANSPORT: 'smtp', SMTP_URL: 'smtp://mail:25' })
    expect([plain.mailTransports, plain.mailFallback, plain.maxPerSecond]).toEqual([[{ name: 'smtp', weight: 1 }], undefined, {}])
    const split = loadConfig({
      MAIL_TRANSPORTS: 'ses:3, smtp:1',
      MAIL_FALLBACK: 'file',
      SMTP_URL: 'smtp://mail:25',
      SES_REGION: 'eu-west-1',
      SES_MAX_PER_SECOND: '14',
      SMTP_MAX_PER_SECOND: '2.5',
    })
    expect(split.mailTransports).toEqual([
      { name: 'ses', weight: 3 },
      { name: 'smtp', weight: 1 },
    ])
    expect([split.mailFallback, split.maxPerSecond]).toEqual(['file', { ses: 14, smtp: 2.5 }])
  })

  test('ses takes its region from SES_REGION, else AWS_REGION', () => {
    const ses = loadConfig({
      MAIL_TRANSPORT: 'ses',
      SES_REGION: 'eu-west-1',
      AWS_REGION: 'us-east-1',
      SES_ENDPOINT: 'http://127.0.0.1:8005',
      SES_CONFIGURATION_SET: 'belfry-events',
    })
    expect(ses.mailTransport).toBe('ses')
    expect([ses.sesRegion, ses.sesEndpoint, ses.sesConfigurationSet]).toEqual(['eu-west-1', 'http://127.0.0.1:8005', 'belfry-events'])
    expect(loadConfig({ MAIL_TRANSPORT: 'ses', AWS_REGION: 'us-east-1' }).sesRegion).toBe('us-east-1')
    // Another tool's AWS_REGION is none of Belfry's business unless it sends through SES.
    expect(loadConfig({ AWS_REGION: 'whatever it is' }).sesRegion).toBeUndefined()
  })

  test('PUBLIC_URL loses its trailing slash so links join cleanly', () => {
    expect(loadConfig({ PUBLIC_URL: 'https://mail.school.test/' }).publicUrl).toBe('https://mail.school.test')
  })
})
