// Boots the whole service as main.ts does — real database, real templates,
// real transport — with test-friendly timings, and gives tests a signed
// client for POST /v1/events.

import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { sql } from 'drizzle-orm'
import { loadConfig } from '../../src/config.ts'
import { rows } from '../../src/db/client.ts'
import { silentLogger, type Logger } from '../../src/log.ts'
import { startService, type Service } from '../../src/service.ts'
import { createTestDatabase, type TestDatabase } from './db.ts'
import { eventRequest, TEST_SECRET, type SignedRequestOptions } from './webhooks.ts'

export const ADMIN = 'ops@school.test'

export interface TestService {
  service: Service
  testDb: TestDatabase
  dataDir: string
  post(type: string, data: unknown, options?: SignedRequestOptions): Promise<Response>
  send(request: Request): Promise<Response>
  /** Row counts of the tables an ingest writes to. */
  counts(): Promise<{ events: number; messages: number; recipients: number }>
  stop(): Promise<void>
}

export async function startTestService(
  env: Record<string, string> = {},
  options: {
    testDb?: TestDatabase
    pollMs?: number
    /** Serve HTTP on a free port (browser tests); `service.port` says which. */
    listen?: boolean
    /** Logs go nowhere unless a test wants to read them. */
    log?: Logger
    /** Let jobs run on their schedules; off by default, tests trigger them with their own clock. */
    schedule?: boolean
    /** Templates from here instead of the shipped ones. */
    templatesDir?: string
  } = {},
): Promise<TestService> {
  const testDb = options.testDb ?? (await createTestDatabase())
  const dataDir = mkdtempSync(join(tmpdir(), 'belfry-test-'))
  const config = loadConfig({
    WEBHOOK_SECRET: TEST_SECRET,
    DATA_DIR: dataDir,
    ADMIN_EMAIL: ADMIN,
    MAIL_FROM: 'Belfry Academy <notify@belfry.test>',
    PUBLIC_URL: 'http://belfry.test',
    RETRY_BASE_MS: '20',
    RETRY_MAX_MS: '100',
    // Quiet hours depend on the wall clock; tests that are about them turn them on with a driven clock.
    QUIET_HOURS: 'off',
    ...(options.listen ? { PORT: '0' } : {}),
    ...env,
  })
  const service = await startService(config, options.log ?? silentLogger, {
    database: testDb.database,
    listen: options.listen ?? false,
    pollMs: options.pollMs ?? 50,
    schedule: options.schedule ?? false,
    ...(options.templatesDir ? { templatesDir: options.templatesDir } : {}),
  })
  const send = (request: Request) => service.app.handle(request)
  return {
    service,
    testDb,
    dataDir,
    send,
    post: (type, data, signing) => send(eventRequest(type, data, signing)),
    async counts() {
      const [row] = await rows<{ events: number; messages: number; recipients: number }>(
        testDb.database.db,
        sql`select (select count(*)::int from events) as events, (select count(*)::int from messages) as messages,
                   (select count(*)::int from recipients) as recipients`,
      )
      return row!
    },
    async stop() {
      await service.stop()
      if (!options.testDb) await testDb.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
