// Child processes for the benchmark: spawn, read their JSON lines, wait for
// readiness, sample /proc, and kill every one of them whatever happens.
// Each child is a real OS process so that Belfry, the sink, the load
// generator and the baselines compete for the two cores the way separate
// services would, instead of sharing one event loop.

import type { Subprocess } from 'bun'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:net'

export interface Child {
  readonly name: string
  readonly pid: number
  readonly proc: Subprocess<'pipe', 'pipe', 'pipe'>
  /** Resolves with the exit code (or signal number + 128). */
  readonly exited: Promise<number>
  /** Resolves with the first stdout line that parses as JSON and satisfies `match`. */
  waitForJson<T = Record<string, unknown>>(match: (msg: Record<string, unknown>) => boolean, timeoutMs: number): Promise<T>
  /** The last lines the child wrote to stderr and stdout, for a failure report. */
  tail(): string
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>
}

const live = new Set<Child>()
const TAIL_LINES = 40

/** Our own clock as the other processes read it: epoch milliseconds with sub-millisecond resolution. */
export const now = () => performance.timeOrigin + performance.now()

export function spawnChild(name: string, cmd: string[], env: Record<string, string | undefined> = {}): Child {
  const proc = Bun.spawn({
    cmd,
    env: { ...process.env, ...env } as Record<string, string>,
    // Our own children exit when their stdin closes, so even a runner that dies
    // without cleaning up (SIGKILL) leaves none of them behind.
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
  })
  const recent: string[] = []
  const remember = (line: string) => {
    recent.push(line)
    if (recent.length > TAIL_LINES) recent.shift()
  }
  type Listener = { match: (msg: Record<string, unknown>) => boolean; resolve: (msg: never) => void }
  const listeners = new Set<Listener>()
  const seen: Record<string, unknown>[] = []

  const pump = async (stream: ReadableStream<Uint8Array>, onLine: (line: string) => void) => {
    const decoder = new TextDecoder()
    let buffered = ''
    const reader = stream.getReader()
    for (;;) {
      const { value, done } = await reader.read()
      if (done) break
      buffered += decoder.decode(value, { stream: true })
      let nl: number
      while ((nl = buffered.indexOf('\n')) >= 0) {
        onLine(buffered.slice(0, nl))
        buffered = buffered.slice(nl + 1)
      }
    }
    if (buffered) onLine(buffered)
  }
  const stdoutDone = pump(proc.stdout, (line) => {
    remember(line)
    if (!line.startsWith('{')) return
    let msg: Record<string, unknown>
    try {
      msg = JSON.parse(line)
    } catch {
      return
    }
    seen.push(msg)
    if (seen.length > 100) seen.shift()
    for (const listener of listeners) {
      if (listener.match(msg)) {
        listeners.delete(listener)
        listener.resolve(msg as never)
      }
    }
  }).catch(() => {})
  const stderrDone = pump(proc.stderr, (line) => remember(`[stderr] ${line}`)).catch(() => {})

  // Exited only once its output has been read, so a last line printed just before exit is never lost.
  const exited = Promise.all([proc.exited, stdoutDone, stderrDone]).then(([code]) => {
    live.delete(child)
    return code
  })

  const child: Child = {
    name,
    pid: proc.pid,
    proc,
    exited,
    tail: () => recent.join('\n'),
    waitForJson<T>(match: (msg: Record<string, unknown>) => boolean, timeoutMs: number) {
      const already = seen.find(match)
      if (already) return Promise.resolve(already as T)
      return new Promise<T>((resolve, reject) => {
        const listener: Listener = { match, resolve: resolve as (msg: never) => void }
        listeners.add(listener)
        const timer = setTimeout(() => {
          listeners.delete(listener)
          reject(new Error(`${name}: no expected output within ${timeoutMs} ms\n${child.tail()}`))
        }, timeoutMs)
        void exited.then((code) => {
          if (!listeners.has(listener)) return
          listeners.delete(listener)
          clearTimeout(timer)
          reject(new Error(`${name} exited (${code}) before answering\n${child.tail()}`))
        })
        const resolveOnce = listener.resolve
        listener.resolve = ((msg: never) => {
          clearTimeout(timer)
          resolveOnce(msg)
        }) as (msg: never) => void
      })
    },
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return
      try {
        proc.stdin.end()
      } catch {}
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
    },
  }
  live.add(child)
  return child
}

/** Stops every child still running but those in `keep`; used after each phase, at the end and on any failure. */
export async function stopAll(graceMs = 5000, keep: ReadonlySet<Child> = new Set()): Promise<void> {
  await Promise.all([...live].filter((child) => !keep.has(child)).map((child) => child.stop(graceMs).catch(() => {})))
}

/** Fails with the child's own output when it exits early, instead of a bare timeout. */
export async function untilExitOr<T>(child: Child, work: Promise<T>): Promise<T> {
  const died = child.exited.then((code) => {
    throw new Error(`${child.name} exited (${code}) during the phase\n${child.tail()}`)
  })
  return Promise.race([work, died])
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address ? address.port : 0
      server.close(() => resolve(port))
    })
  })
}

/** Polls `url` until it answers 200; fails early when the child exits. */
export async function waitForHttp(child: Child, url: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited: number | null = null
  void child.exited.then((code) => (exited = code))
  let last = ''
  while (Date.now() < deadline) {
    if (exited !== null) throw new Error(`${child.name} exited (${exited}) before it was ready\n${child.tail()}`)
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      if (res.status === 200) return
      last = `${res.status} ${await res.text()}`
    } catch (error) {
      last = (error as Error).message
    }
    await Bun.sleep(100)
  }
  throw new Error(`${child.name}: ${url} not ready within ${timeoutMs} ms (${last})\n${child.tail()}`)
}

export interface ProcStats {
  /** Resident set now, and its high-water mark, in bytes. */
  rssBytes: number
  peakRssBytes: number
  /** utime + stime of every thread, in seconds. */
  cpuSeconds: number
}

// Linux reports CPU times in clock ticks; USER_HZ is 100 on every mainstream kernel.
const CLOCK_TICKS = 100

export function procStats(pid: number): ProcStats | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? 0) * 1024
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    // The command name (field 2) may contain spaces and parentheses; fields after the last ')' are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    const utime = Number(fields[11])
    const stime = Number(fields[12])
    return { rssBytes: kb('VmRSS'), peakRssBytes: kb('VmHWM'), cpuSeconds: (utime + stime) / CLOCK_TICKS }
  } catch {
    return null
  }
}

/** Samples a process's resident set every `everyMs` until stopped. */
export function sampleRss(pid: number, everyMs = 200) {
  const samples: { t: number; rss: number }[] = []
  const timer = setInterval(() => {
    const stats = procStats(pid)
    if (stats) samples.push({ t: now(), rss: stats.rssBytes })
  }, everyMs)
  return {
    samples,
    stop: () => clearInterval(timer),
  }
}

/** Exit our own helper processes when the runner goes away (stdin closes). */
export function exitWithParent(): void {
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('close', () => process.exit(0))
  process.stdin.resume()
}
