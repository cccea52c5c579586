// Course segments know who is in a course from the events the LMS sent.
// Retention deletes events after RETENTION_DAYS; a learner enrolled long ago
// must still be in the course's segment afterwards.

import { afterAll, beforeAll, expect, test } from 'bun:test'
import { sql } from 'drizzle-orm'
import { rows } from '../../src/db/client.ts'
import { segmentSize } from '../../src/announcements/queries.ts'
import { runHousekeeping } from '../../src/jobs/housekeeping.ts'
import { startTestService, type TestService } from '../support/service.ts'
import { seedEnrollments, seedLearners } from './support.ts'

let t: TestService
beforeAll(async () => {
  t = await startTestService({ RETENTION_DAYS: '30' })
}, 30_000)
afterAll(() => t.stop())

test('an enrollment whose event retention deleted is still in the course segment', async () => {
  const db = t.service.database.db
  await seedLearners(db, 3)
  await seedEnrollments(db, 'algebra', 1, 2)
  // Both enrollment events are older than the retention period, and no segment was ever sized.
  await db.execute(sql`update events set received_at = now() - interval '40 days'`)

  await runHousekeeping({ db, retentionDays: 30 }, new Date())

  const [left] = await rows<{ n: number }>(db, sql`select count(*)::int as n from events`)
  expect(left!.n).toBe(0)
  const size = await segmentSize(db, { kind: 'courses', courseIds: ['algebra'] }, 'en')
  expect(size.members).toBe(2)
})
