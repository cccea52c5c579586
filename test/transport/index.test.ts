// Protects: MAIL_TRANSPORT picks the transport; the default writes under
// DATA_DIR/mail/, and a missing SMTP_URL or SES region stops the start with
// a line naming the variable.

import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigError } from '../../src/config.ts'
import { createTransport } from '../../src/transport/index.ts'
import { startSmtpSink, type SmtpSink } from '../support/smtp-sink.ts'
import { sampleMail } from './sample-mail.ts'

let dataDir: string
let sink: SmtpSink

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'belfry-transport-'))
  sink = await startSmtpSink()
})

afterAll(async () => {
  await sink.close()
  await rm(dataDir, { recursive: true, force: true })
})

function startError(run: () => unknown): ConfigError {
  try {
    run()
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError)
    return error as ConfigError
  }
  throw new Error('expected a ConfigError')
}

describe('createTransport', () => {
  test('file writes .eml files under DATA_DIR/mail', async () => {
    const transport = createTransport({ name: 'file', dataDir, concurrency: 4 })
    expect(transport.name).toBe('file')

    const result = await transport.send(sampleMail())

    expect(result.response).toStartWith(join(dataDir, 'mail') + '/')
    expect(await readdir(join(dataDir, 'mail'))).toHaveLength(1)
    await transport.close()
  })

  test('smtp sends to SMTP_URL', async () => {
    const transport = createTransport({ name: 'smtp', dataDir, smtpUrl: sink.url, concurrency: 4 })
    expect(transport.name).toBe('smtp')

    await transport.send(sampleMail())

    expect(sink.messages).toHaveLength(1)
    await transport.close()
  })

  test('smtp without SMTP_URL names the variable', () => {
    const error = startError(() => createTransport({ name: 'smtp', dataDir, concurrency: 4 }))
    expect(error.variable).toBe('SMTP_URL')
  })

  test('ses without a region names the variable', () => {
    const error = startError(() => createTransport({ name: 'ses', dataDir, concurrency: 4 }))
    expect(error.variable).toBe('SES_REGION')
  })

  test('ses builds an SES transport for the region', async () => {
    const transport = createTransport({ name: 'ses', dataDir, concurrency: 4, sesRegion: 'eu-west-1' })
    expect(transport.name).toBe('ses')
    await transport.close()
  })
})
