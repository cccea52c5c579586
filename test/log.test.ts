// Protects: logs are one JSON object a line, and no secret reaches them,
// whatever a call site passes.

import { expect, test } from 'bun:test'
import { createLogger, redactUrl } from '../src/log.ts'

test('each entry is one JSON line; secret-looking fields are masked, also in children', () => {
  const lines: string[] = []
  const log = createLogger('info', { service: 'belfry' }, (line) => lines.push(line)).child({ apiToken: 'abc' })
  log.debug('hidden below the level')
  log.info('sent', { messageId: 'm1', password: 'hunter2', webhookSecret: 'whsec_x', authorization: 'Bearer y' })
  expect(lines).toHaveLength(1)
  expect(lines[0]).not.toContain('\n')
  const entry = JSON.parse(lines[0]!)
  expect(entry).toMatchObject({ level: 'info', msg: 'sent', service: 'belfry', messageId: 'm1' })
  for (const key of ['password', 'webhookSecret', 'authorization', 'apiToken']) expect(entry[key]).toBe('***')
  expect(lines[0]).not.toContain('hunter2')
})

test('errors are logged by name and message', () => {
  const lines: string[] = []
  createLogger('info', {}, (line) => lines.push(line)).error('failed', { error: new TypeError('boom') })
  expect(JSON.parse(lines[0]!).error).toEqual({ name: 'TypeError', message: 'boom' })
})

test('a URL loses its password before it is logged', () => {
  expect(redactUrl('smtp://mailer:s3cret@smtp.test:587')).toBe('smtp://mailer:***@smtp.test:587')
  expect(redactUrl('not a url')).toBe('***')
})

test('a failed query is logged by its database cause, never with its bound values', () => {
  const lines: string[] = []
  const cause = Object.assign(new Error('deadlock detected'), { code: '40P01' })
  const failed = new Error('Failed query: insert into messages values ($1)\nparams: https://lms.test/reset?token=abc,ada@x.test', {
    cause,
  })
  createLogger('info', {}, (line) => lines.push(line)).error('request failed', { error: failed })
  expect(JSON.parse(lines[0]!).error).toEqual({ name: 'Error', message: 'deadlock detected', code: '40P01' })
  expect(lines[0]).not.toContain('token=abc')
  expect(lines[0]).not.toContain('ada@x.test')
})
