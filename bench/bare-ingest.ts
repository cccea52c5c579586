// The ingest ceiling, a process of its own (`bun bench/bare-ingest.ts <url> <port>`):
// Elysia with the same `postgres` driver as Belfry, inserting each request's
// JSON body as one jsonb row and answering 202 after the insert commits.
// No signature check, no validation, no fan-out: what any endpoint that
// stores a webhook before answering costs on this machine and this database.

import { Elysia } from 'elysia'
import postgres from 'postgres'
import { exitWithParent } from './processes.ts'

const [url, port] = process.argv.slice(2)
if (!url || !port) throw new Error('usage: bun bench/bare-ingest.ts <database url> <port>')

// The same pool size Belfry opens by default (DATABASE_POOL, 10), so neither
// side wins on connection count alone.
const sql = postgres(url, { max: 10, onnotice: () => {} })
await sql`create table if not exists bench_bare_ingest (id bigserial primary key, body jsonb not null, received_at timestamptz not null default now())`

const app = new Elysia()
  .get('/readyz', () => ({ status: 'ready' }))
  .post('/v1/events', async ({ body, set }) => {
    await sql`insert into bench_bare_ingest (body) values (${JSON.stringify(body)}::jsonb)`
    set.status = 202
    return { ok: true }
  })
  .listen({ port: Number(port), hostname: '127.0.0.1' })

exitWithParent()
process.on('SIGTERM', async () => {
  await app.stop()
  await sql.end({ timeout: 2 })
  process.exit(0)
})
