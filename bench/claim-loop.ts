// A ceiling for the outbox: the bare FOR UPDATE SKIP LOCKED claim-and-ack
// loop, batches of 100, on the same database as Belfry — what any Postgres
// job queue does at its core, with no rendering, sending or bookkeeping.
// Its own scratch table, made and dropped here.

import { sql } from 'drizzle-orm'
import type { Db } from '../src/db/client.ts'

export async function bareClaimLoop(db: Db, rows: number, batch = 100): Promise<{ rows: number; ms: number }> {
  await db.execute(sql`drop table if exists bench_claim`)
  await db.execute(sql`create table bench_claim (id bigserial primary key, state text not null default 'queued', done_at timestamptz)`)
  await db.execute(sql`create index on bench_claim (id) where state = 'queued'`)
  await db.execute(sql`insert into bench_claim (state) select 'queued' from generate_series(1, ${rows})`)
  const started = performance.now()
  let claimed = 0
  for (;;) {
    const done = (await db.execute(sql`
      update bench_claim set state = 'done', done_at = now()
      where id in (select id from bench_claim where state = 'queued' order by id limit ${batch} for update skip locked)
      returning id`)) as unknown as { length?: number; rows?: unknown[] }
    const n = done.rows?.length ?? done.length ?? 0
    if (n === 0) break
    claimed += n
  }
  const ms = performance.now() - started
  await db.execute(sql`drop table bench_claim`)
  return { rows: claimed, ms }
}
