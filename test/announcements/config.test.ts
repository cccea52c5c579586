// Protects ANNOUNCE_BATCH: 1,000 by default (DESIGN.md), and a bad value
// stops the start with one line naming the variable.

import { expect, test } from 'bun:test'
import { ConfigError, loadConfig } from '../../src/config.ts'

test('ANNOUNCE_BATCH defaults to 1000 and is read as a whole number', () => {
  expect(loadConfig({}).announceBatch).toBe(1000)
  expect(loadConfig({ ANNOUNCE_BATCH: '250' }).announceBatch).toBe(250)
})

test('a bad ANNOUNCE_BATCH names the variable', () => {
  for (const bad of ['0', 'lots', '1.5', '-3', '100000']) {
    expect(() => loadConfig({ ANNOUNCE_BATCH: bad })).toThrow(ConfigError)
    try {
      loadConfig({ ANNOUNCE_BATCH: bad })
    } catch (error) {
      expect((error as Error).message).toStartWith('ANNOUNCE_BATCH:')
      expect((error as Error).message).not.toContain('\n')
    }
  }
})
