// Keeps a process's TemplateStore on the newest stored template versions.
//
// How other processes learn of an edit — two paths, on purpose:
//   1. LISTEN belfry_templates: a save NOTIFYs on commit, so every process
//      (this one too) refreshes within milliseconds.
//   2. A poll of the table's stamp (row count + newest created_at) every
//      POLL_MS, because a notification sent while a listening connection is
//      being re-established is lost for good, and a template that stays stale
//      until the next restart would be worse than five seconds of lag.
// A refresh reads only the newest version per (notification, locale) and
// compiles only versions this process has not compiled yet (TemplateStore
// keeps the compiled ones by version id), so it costs one small query when
// nothing changed and one MJML compile per new version otherwise.

import type { Database } from '../db/client.ts'
import type { Logger } from '../log.ts'
import { insertVersion, latestVersions, TEMPLATES_CHANNEL, versionStamp, type NewVersion } from './queries.ts'
import type { CompiledTemplate } from './render.ts'
import type { StoredVersion, TemplateStore } from './templates.ts'

export const POLL_MS = 5_000

export class TemplateVersionSync {
  private stamp: string | null = null
  private running: Promise<void> | null = null
  private again = false
  private timer: ReturnType<typeof setInterval> | null = null
  private unlisten: (() => Promise<void>) | null = null

  constructor(
    private readonly database: Database,
    private readonly store: TemplateStore,
    private readonly log: Logger,
    private readonly pollMs = POLL_MS,
  ) {}

  /** Loads the stored versions (before the worker renders anything), then listens and polls. */
  async start(): Promise<void> {
    await this.refresh(true)
    this.unlisten = await this.database.listen(TEMPLATES_CHANNEL, () => void this.refresh(true))
    this.timer = setInterval(() => void this.refresh(false), this.pollMs)
    this.timer.unref?.()
  }

  /**
   * Re-reads the newest versions when the stamp moved (or always, when
   * `force`). Refreshes never overlap: one asked for while another runs
   * makes that one run once more at its end.
   */
  refresh(force: boolean): Promise<void> {
    if (this.running) {
      if (force) this.again = true
      return this.running
    }
    this.running = (async () => {
      try {
        do {
          const wasForced = force || this.again
          this.again = false
          const stamp = await versionStamp(this.database.db)
          if (!wasForced && stamp === this.stamp) break
          this.stamp = stamp
          await this.store.applyVersions(await latestVersions(this.database.db), (version, error) =>
            this.log.error('stored template version does not compile; its file is used', {
              notification: version.notification,
              locale: version.locale,
              version: version.version,
              error: error.message,
            }),
          )
        } while (this.again)
      } catch (error) {
        this.log.error('template versions refresh failed', { error })
      } finally {
        this.running = null
      }
    })()
    return this.running
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    await this.running
    await this.unlisten?.().catch(() => {})
    this.unlisten = null
  }
}

/**
 * Stores a version and puts it in use in this process at once (other
 * processes follow through TemplateVersionSync). `compiled` is what the
 * caller already compiled to validate it; null for a revert to the file.
 */
export async function saveVersion(
  database: Database,
  store: TemplateStore,
  version: NewVersion,
  compiled: CompiledTemplate | null,
): Promise<StoredVersion> {
  const stored = await insertVersion(database.db, version)
  store.useVersion(stored, compiled)
  return stored
}
