// The runner's handles on its helper processes: the SMTP sink (started once,
// queried over its control port) and the load generator (one process per
// phase, its per-event results read back from a file).

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { LoadgenConfig, LoadgenResult } from './loadgen.ts'
import { spawnChild, untilExitOr, type Child } from './processes.ts'

export interface SinkStats {
  count: number
  duplicates: number
  /** Acceptance times of the first and the last message, epoch ms. */
  first: number
  last: number
}

export interface Sink {
  child: Child
  smtpUrl: string
  stats(domain?: string, withDuplicates?: boolean): Promise<SinkStats>
  /** [rcpt, acceptedAt, messageId] for every message to …@domain. */
  records(domain: string): Promise<[string, number, string][]>
  /** Resolves with the stats once `count` messages to …@domain arrived, or with what arrived by the deadline. */
  waitFor(domain: string, count: number, timeoutMs: number, watch?: Child[]): Promise<SinkStats & { complete: boolean }>
}

export async function startSink(): Promise<Sink> {
  const child = spawnChild('smtp sink', ['bun', 'bench/sink.ts'])
  const ready = await child.waitForJson<{ smtpPort: number; controlPort: number }>((m) => m.ready === true, 20_000)
  const control = `http://127.0.0.1:${ready.controlPort}`
  const get = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${control}${path}`)
    if (!res.ok) throw new Error(`sink ${path}: ${res.status}`)
    return (await res.json()) as T
  }
  const stats = (domain?: string, withDuplicates = false) =>
    get<SinkStats>(`/stats?${domain ? `domain=${encodeURIComponent(domain)}` : ''}${withDuplicates ? '&duplicates=1' : ''}`)
  return {
    child,
    smtpUrl: `smtp://127.0.0.1:${ready.smtpPort}`,
    stats,
    records: (domain) => get(`/records?domain=${encodeURIComponent(domain)}`),
    async waitFor(domain, count, timeoutMs, watch = []) {
      const deadline = Date.now() + timeoutMs
      const dead = [child, ...watch].map((c) => c.exited.then((code) => `${c.name} exited (${code})\n${c.tail()}`))
      let exited: string | null = null
      void Promise.race(dead).then((why) => (exited = why))
      for (;;) {
        const current = await stats(domain)
        if (current.count >= count) return { ...current, complete: true }
        if (exited) throw new Error(exited)
        if (Date.now() > deadline) return { ...current, complete: false }
        await Bun.sleep(50)
      }
    },
  }
}

/** Runs one load generator process to completion. */
export async function runLoadgen(config: Omit<LoadgenConfig, 'out'>, tmpDir: string, timeoutMs = 300_000): Promise<LoadgenResult> {
  const out = join(tmpDir, `loadgen-${config.domain}-${config.seqStart}.json`)
  const child = spawnChild(`loadgen ${config.domain}`, ['bun', 'bench/loadgen.ts', JSON.stringify({ ...config, out })])
  try {
    await untilExitOr(child, child.waitForJson((m) => m.done === true, timeoutMs))
    return JSON.parse(readFileSync(out, 'utf8')) as LoadgenResult
  } finally {
    await child.stop()
  }
}
