// Belfry's wiring, top to bottom: database → migrations → settings →
// templates → transport → worker → HTTP (last, so /readyz means all of it).
// main.ts runs it for real; the end-to-end tests run the very same thing
// against their own database and SMTP server.

import { fileURLToPath } from 'node:url'
import { AdminAuth, ensureFirstAdmin } from './admin/auth.ts'
import { AdapterPipeline } from './adapters/pipeline.ts'
import { ADAPTERS_JOB_LOCK } from './adapters/queries.ts'
import { createApp, createOpsApp, type App } from './app.ts'
import { mailFromDomain, type Config } from './config.ts'
import { openDatabase, type Database } from './db/client.ts'
import { applyMigrations } from './db/migrate.ts'
import { DEFAULT_HEALTH_THRESHOLDS, type HealthAlert } from './jobs/health.ts'
import { startJobs, type Jobs } from './jobs/index.ts'
import { ingestEvent, type IngestDeps } from './events/ingest.ts'
import type { Logger } from './log.ts'
import { Metrics } from './metrics/registry.ts'
import { chainGates, type Renderer } from './outbox/deliver.ts'
import type { ClaimedMessage } from './outbox/queries.ts'
import { OutboxWorker } from './outbox/worker.ts'
import { preferenceGate } from './preferences/gate.ts'
import { reminderGate } from './reminders/gate.ts'
import { learnerLinks, unsubscribeHeaders } from './preferences/links.ts'
import { TokenSigner } from './preferences/tokens.ts'
import type { Brand } from './render/brand.ts'
import { contextFromConfig } from './render/render.ts'
import { TemplateStore } from './render/templates.ts'
import { TemplateVersionSync } from './render/versions.ts'
import { runAnnouncements } from './announcements/expand.ts'
import { announcementGate } from './announcements/gate.ts'
import { ANNOUNCEMENTS_JOB_LOCK } from './announcements/queries.ts'
import { AnnouncementTemplates } from './announcements/templates.ts'
import { trackingFor } from './tracking/apply.ts'
import { TrackingPolicy } from './tracking/policy.ts'
import { loadBrand, loadMailRouting, loadSecrets, seedAdminAlerts, type Secrets } from './settings/runtime.ts'
import { createRouter, SendRateLimiter } from './transport/index.ts'
import { ExperimentDecisions } from './experiments/decisions.ts'
import type { TransportRouter } from './transport/router.ts'

export const templatesDir = fileURLToPath(new URL('../templates', import.meta.url))

export interface Service {
  config: Readonly<Config>
  database: Database
  secrets: Secrets
  /** Signs and checks the tokens in learner links. */
  signer: TokenSigner
  templates: TemplateStore
  /** Which experiments were stopped or promoted, as this process knows it. */
  experiments: ExperimentDecisions
  transport: TransportRouter
  app: App
  /** Native LMS events (Canvas, Moodle, Open edX): stored, enriched, mapped. */
  adapters: AdapterPipeline
  /** What GET /metrics shows; the outbox and the events route feed it. */
  metrics: Metrics
  /** Present unless ROLE=api. */
  worker: OutboxWorker | null
  /** The scheduled jobs (digests); present unless ROLE=api. */
  jobs: Jobs | null
  /** The port actually listened on (PORT=0 picks a free one). */
  port: number | null
  stop(): Promise<void>
}

export interface StartOptions {
  /** Use this database instead of opening one from the config (tests). */
  database?: Database
  /** Serve HTTP; false for tests that call app.handle() directly. */
  listen?: boolean
  /** Worker poll interval; tests shorten it. */
  pollMs?: number
  /** How often template versions are polled for (besides LISTEN); tests shorten it. */
  templatePollMs?: number
  /** Where the notification templates are; the shipped ones by default (tests use copies with experiments). */
  templatesDir?: string
  /**
   * Run the jobs on their schedules (the default). Tests turn this off and
   * trigger jobs with a clock of their own, so that a minute tick cannot add
   * an alert in the middle of a test that counts emails.
   */
  schedule?: boolean
}

/** Transient failures in a row that take a transport out of the rotation, when there is another way out. */
const CIRCUIT_FAILURES = 5

/** How long a provider that paused our sending (SES SendingPaused) is left alone. */
const PROVIDER_PAUSE_MS = 5 * 60_000

export async function startService(config: Readonly<Config>, log: Logger, options: StartOptions = {}): Promise<Service> {
  const database = options.database ?? (await openDatabase({ ...config, poolSize: config.databasePool }))
  log.info('database open', { driver: database.driver })

  await applyMigrations(database)
  log.info('migrations applied')

  const secrets = await loadSecrets(database.db, config)
  await seedAdminAlerts(database.db, config.adminEmail)
  await ensureFirstAdmin(database.db, config, log)
  if (!config.webhookSecret) log.info('WEBHOOK_SECRET not set: using the secret stored in settings')

  const templates = await TemplateStore.load(options.templatesDir ?? templatesDir, { brand: await loadBrand(database.db) })
  log.info('templates compiled', { notifications: templates.notifications().length })
  // Admin edits stored over the files, kept current while the process runs.
  const templateSync = new TemplateVersionSync(database, templates, log.child({ component: 'templates' }), options.templatePollMs)
  await templateSync.start()

  const transport = createRouter({
    split: config.mailTransports,
    fallback: config.mailFallback,
    breaker: { failures: CIRCUIT_FAILURES, coolDownMs: config.circuitCoolDownMs },
    pauseMs: PROVIDER_PAUSE_MS,
    ...(Object.keys(config.maxPerSecond).length > 0 ? { limiter: new SendRateLimiter(database.db, config.maxPerSecond) } : {}),
    onPause: (name, error) => {
      log.error('provider paused sending', { transport: name, code: error.code, error: error.message })
      const alert: HealthAlert = {
        fingerprint: `belfry:transport-paused:${name}`,
        severity: 'critical',
        message: `The ${name} transport stopped taking mail (${error.code}): ${error.message}. Its messages wait or go through the fallback; Belfry tries it again in ${PROVIDER_PAUSE_MS / 60_000} minutes.`,
      }
      raiseOwnAlert(ingest, alert, `belfry-pause:${name}:${new Date().toISOString().slice(0, 16)}`).catch((failure) =>
        log.error('could not raise the pause alert', { error: failure }),
      )
    },
    dataDir: config.dataDir,
    smtpUrl: config.smtpUrl,
    concurrency: config.workerConcurrency,
    smtpRequireTLS: config.smtpRequireTls,
    sesRegion: config.sesRegion,
    sesEndpoint: config.sesEndpoint,
    sesConfigurationSet: config.sesConfigurationSet,
    // A send still running when its lease ends could be sent twice; keep a margin for recording the attempt.
    sendTimeoutMs: Math.min(40_000, Math.floor(config.leaseMs * 0.66)),
  })
  // An admin may have changed the split at runtime (settings); every process picks it up within seconds.
  const applyRouting = async () => {
    const stored = await loadMailRouting(database.db)
    const refused = transport.reroute(stored ? { split: stored.split, fallback: stored.fallback ?? undefined } : null)
    if (refused) log.warn('stored transport routing not applied', { reason: refused })
  }
  await applyRouting()
  const routingRefresh = setInterval(() => applyRouting().catch((error) => log.error('reading the transport routing failed', { error })), 10_000)
  log.info('transport ready', { transport: transport.name, routing: transport.routing })

  // One object shared by the renderer and the digest job: a new brand's name and address are assigned into it.
  const context = contextFromConfig(config)
  const baseContext = { siteName: context.siteName, postalAddress: context.postalAddress }
  const brandContext = (brand: Brand) => ({
    siteName: brand.name ?? baseContext.siteName,
    postalAddress: brand.postalAddress ?? baseContext.postalAddress,
  })
  Object.assign(context, brandContext(templates.brand))
  /** Puts a brand in use in this process: templates compiled again, the name and address for the next render. */
  const applyBrand = async (brand: Brand) => {
    if (JSON.stringify(brand) === JSON.stringify(templates.brand)) return
    await templates.rebrand(brand)
    Object.assign(context, brandContext(brand))
    log.info('brand applied', { primary: brand.primary, logo: brand.logoUrl !== null })
  }
  // An admin's change in another process arrives within seconds, like the transport routing.
  const brandRefresh = setInterval(
    () => void loadBrand(database.db).then(applyBrand).catch((error) => log.error('applying the brand failed', { error })),
    10_000,
  )
  const signer = new TokenSigner([secrets.appSecret])
  // The render and the headers of one delivery both ask, with the same
  // message: signed once (two HMACs, ~3.5 µs of a message's ~140 µs of
  // JavaScript in a profiled null-transport run: BENCH_CPU_PROF, bench/belfry.ts).
  const linksOf = new WeakMap<ClaimedMessage, ReturnType<typeof learnerLinks>>()
  const linksFor = (message: ClaimedMessage) => {
    let links = linksOf.get(message)
    if (!links) linksOf.set(message, (links = learnerLinks(signer, config.publicUrl, message)))
    return links
  }
  const tracking = new TrackingPolicy(database.db, config.tracking, log.child({ component: 'tracking' }))
  await tracking.refresh()
  const experiments = new ExperimentDecisions(database.db, log)
  await experiments.start()
  // Renders announcements (bodies stored in the database) as well as the template files.
  const announcementTemplates = new AnnouncementTemplates(database.db, templates)
  const renderer: Renderer = {
    render: (message: ClaimedMessage) => {
      const links = linksFor(message)
      return announcementTemplates.render(message.notification, {
        locale: message.locale,
        // The learner's own zone for their mail; admins (no recipient row) read UTC.
        timeZone: message.recipientId
          ? ((message.variables.user as { timezone?: string } | undefined)?.timezone ?? null)
          : null,
        variables: message.variables,
        context: { ...context, links },
        // The same learner gets the same variant every time; an address stands in for admins.
        variantFor: (experiment) => experiments.variantFor(experiment, message.recipientId ?? message.toAddress),
        // Links and pixel tracked as the HTML is written: the same bytes as
        // rewriting it afterwards (trackEmail), render and tracking together
        // in ~0.5× the CPU (`bun bench/ab.ts`; src/render/render.ts).
        tracking: trackingFor({ signer, publicUrl: config.publicUrl, policy: tracking }, message, links),
      })
    },
  }

  const ingest: IngestDeps = {
    db: database.db,
    categoryOf: (notification) => templates.category(notification),
    messageIdDomain: mailFromDomain(config.mailFrom),
    addressSecret: secrets.appSecret,
    fanout: {
      defaultLocale: config.defaultLocale,
      reminderOffsets: config.reminderOffsets,
      sessionReminderOffsets: config.sessionReminderOffsets,
      quietHours: config.quietHours,
    },
  }

  const adapters = new AdapterPipeline({ db: database.db, ingest, log, retry: config, retentionDays: config.retentionDays, canvasJwksUrl: config.canvasJwksUrl })

  const metrics = new Metrics(database.db, log.child({ component: 'metrics' }))
  const app = createApp({
    adapters,
    database,
    log,
    metrics: { metrics, token: config.metricsToken },
    events: {
      ...ingest,
      webhookSecrets: () => secrets.webhook.accepted(),
      onReceived: metrics.eventReceived,
    },
    providers: {
      db: database.db,
      webhookSecrets: () => secrets.webhook.accepted(),
      snsTopicArns: config.snsTopicArns,
      snsCertHosts: config.snsCertHosts,
      retentionDays: config.retentionDays,
      log: log.child({ component: 'providers' }),
    },
    preferences: { db: database.db, signer, siteName: context.siteName, defaultLocale: config.defaultLocale },
    tracking: { db: database.db, signer, policy: tracking, perAddress: config.trackingPerAddress, log: log.child({ component: 'tracking' }) },
    api: {
      db: database.db,
      addressSecret: secrets.appSecret,
      perKey: config.rateLimitPerKey,
      perAddress: config.rateLimitPerAddress,
      publicUrl: config.publicUrl,
      log: log.child({ component: 'api' }),
    },
    admin: {
      auth: new AdminAuth(database.db, config.publicUrl),
      siteName: context.siteName,
      config,
      database,
      db: database.db,
      templates,
      renderer: announcementTemplates,
      transport,
      secrets,
      signer,
      applyBrand,
      log: log.child({ component: 'admin' }),
    },
  })

  let worker: OutboxWorker | null = null
  if (config.role !== 'api') {
    const announcementsGate = announcementGate(database.db, announcementTemplates, config.quietHours)
    worker = new OutboxWorker({
      database,
      transport,
      renderer,
      gate: chainGates(
        reminderGate(database.db),
        preferenceGate(database.db, { budgetPerDay: config.budgetPerDay, quietHours: config.quietHours, addressSecret: secrets.appSecret }),
        announcementsGate,
      ),
      recheck: (message) => announcementsGate.recheck(message),
      headersFor: (message) => unsubscribeHeaders(linksFor(message)),
      secretsOf: (notification) => templates.secrets(notification),
      onAttempt: metrics.attempt,
      log: log.child({ component: 'worker' }),
      mailFrom: config.mailFrom,
      maxAttempts: config.maxAttempts,
      retry: config,
      concurrency: config.workerConcurrency,
      leaseMs: config.leaseMs,
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
    })
    await worker.start()
    log.info('worker started', { owner: worker.owner, concurrency: config.workerConcurrency })
  }

  let jobs: Jobs | null = null
  if (config.role !== 'api') {
    jobs = startJobs({
      database,
      log,
      templates: announcementTemplates,
      context,
      messageIdDomain: ingest.messageIdDomain,
      retentionDays: config.retentionDays,
      experiments: () => templates.experiments(),
      schedule: options.schedule ?? true,
      adapters: { retryDue: async (now) => ({ ...(await adapters.retryDue(now)) }), lockKey: ADAPTERS_JOB_LOCK },
      announcements: {
        lockKey: ANNOUNCEMENTS_JOB_LOCK,
        run: (now) =>
          runAnnouncements(
            { db: database.db, log, batchSize: config.announceBatch, defaultLocale: config.defaultLocale, messageIdDomain: ingest.messageIdDomain },
            now,
          ),
      },
      health: {
        thresholds: { ...DEFAULT_HEALTH_THRESHOLDS, deadLetters: config.deadLetterAlert },
        raise: (alert, webhookId) => raiseOwnAlert(ingest, alert, webhookId),
      },
    })
    log.info('scheduler started', { next: jobs.nextRuns() })
  }

  let port: number | null = null
  // A worker serves only its health and metrics; the others, everything.
  const served = config.role === 'worker' ? createOpsApp({ database, metrics: { metrics, token: config.metricsToken }, log }) : app
  if (options.listen !== false) {
    served.listen({ port: config.port, hostname: '0.0.0.0', maxRequestBodySize: config.maxRequestBytes })
    port = served.server?.port ?? null
    log.info('listening', { port, publicUrl: config.publicUrl, ...(config.role === 'worker' ? { serves: '/healthz, /readyz, /metrics' } : {}) })
    if (!config.metricsToken) log.warn('METRICS_TOKEN not set: GET /metrics is open to anyone who can reach this port')
  }

  return {
    config,
    database,
    secrets,
    signer,
    templates,
    experiments,
    transport,
    app,
    adapters,
    metrics,
    worker,
    jobs,
    port,
    async stop() {
      clearInterval(routingRefresh)
      clearInterval(brandRefresh)
      experiments.stop()
      // New requests first, then the worker finishes what it holds, then the connections go.
      if (served.server) await served.stop()
      // A digest job running now queues its rows before the worker stops claiming.
      await jobs?.stop()
      await worker?.stop()
      await templateSync.stop()
      await transport.close()
      if (!options.database) await database.close()
      log.info('stopped')
    },
  }
}

/** Belfry's own alert, ingested as a `system.error` from source "Belfry" (see jobs/health.ts). */
async function raiseOwnAlert(ingest: IngestDeps, alert: HealthAlert, webhookId: string): Promise<void> {
  const event = {
    type: 'system.error',
    data: { error: { source: 'Belfry', severity: alert.severity, message: alert.message, fingerprint: alert.fingerprint } },
  }
  const raw = new TextEncoder().encode(JSON.stringify(event))
  await ingestEvent(ingest, webhookId, raw, event)
}
