// `bun run db:migrate`: apply pending migrations and exit, without starting the service.

import { loadConfig } from '../config.ts'
import { createLogger } from '../log.ts'
import { openDatabase } from './client.ts'
import { applyMigrations } from './migrate.ts'

const config = loadConfig()
const log = createLogger(config.logLevel)
const database = await openDatabase(config)
try {
  await applyMigrations(database)
  log.info('migrations applied', { driver: database.driver })
} finally {
  await database.close()
}
