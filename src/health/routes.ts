// Liveness and readiness for load balancers and orchestrators.

import { sql } from 'drizzle-orm'
import { Elysia } from 'elysia'
import type { Database } from '../db/client.ts'
import { migrationsApplied } from '../db/migrate.ts'

export function healthRoutes(database: Database) {
  return new Elysia({ name: 'health' })
    .get('/healthz', () => ({ status: 'ok' }))
    .get('/readyz', async ({ set }) => {
      let database_ = 'ok'
      try {
        await database.db.execute(sql`select 1`)
      } catch {
        database_ = 'unreachable'
      }
      const migrations = database_ === 'ok' && (await migrationsApplied(database)) ? 'applied' : 'pending'
      const ready = database_ === 'ok' && migrations === 'applied'
      set.status = ready ? 200 : 503
      return { status: ready ? 'ready' : 'not ready', database: database_, migrations }
    })
}
