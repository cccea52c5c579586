// Belfry: one process that takes LMS webhooks, keeps an outbox in Postgres
// and delivers it. Reads as a list: config → log → service → graceful stop.

import { ConfigError, loadConfig } from './config.ts'
import { createLogger } from './log.ts'
import { startService } from './service.ts'

let config
try {
  config = loadConfig()
} catch (error) {
  if (!(error instanceof ConfigError)) throw error
  // One line naming the variable, and no stack: the operator's fix is in the message.
  process.stderr.write(`belfry: bad configuration: ${error.message}\n`)
  process.exit(78) // EX_CONFIG
}

const log = createLogger(config.logLevel, { service: 'belfry', role: config.role })
const service = await startService(config, log).catch((error: unknown) => {
  if (error instanceof ConfigError) {
    process.stderr.write(`belfry: bad configuration: ${error.message}\n`)
    process.exit(78)
  }
  log.error('start failed', { error })
  process.exit(1)
})

let stopping = false
async function shutdown(signal: string) {
  if (stopping) return
  stopping = true
  log.info('stopping', { signal })
  await service.stop()
  process.exit(0)
}
process.on('SIGTERM', () => void shutdown('SIGTERM'))
process.on('SIGINT', () => void shutdown('SIGINT'))
